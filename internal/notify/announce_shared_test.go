package notify

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// instances returns n Announcers, each with its own connections to one
// Redis server, as n FC instances would have.
func instances(t *testing.T, n int, robots func() []Robot) ([]*Announcer, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	var out []*Announcer
	for range n {
		r, err := state.NewRedis(state.RedisOptions{URL: srv.URL, Prefix: "n:", Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		out = append(out, &Announcer{Robots: robots(), MaxAttempts: 1, Window: time.Hour, Store: r})
	}
	return out, srv
}

func TestAnnounceOnceAcrossInstances(t *testing.T) {
	slack, wecom := robotfake.NewSlack(t), robotfake.NewWeCom(t)
	anns, srv := instances(t, 4, func() []Robot {
		return []Robot{NewSlack(slack.URL(), newClient(t)), NewWeCom(wecom.URL(), newClient(t))}
	})
	var wg sync.WaitGroup
	for _, a := range anns {
		for range 3 {
			wg.Go(func() { a.Announce(context.Background(), testMessage()) })
		}
	}
	wg.Wait()
	if got := len(slack.Messages()); got != 1 {
		t.Errorf("slack received %d messages, want 1", got)
	}
	if got := len(wecom.Messages()); got != 1 {
		t.Errorf("wecom received %d messages, want 1", got)
	}
	ttl := srv.Do("PTTL", "n:"+anns[0].robotKey(testMessage().OrderID, 0))
	if d, err := time.ParseDuration(ttl + "ms"); err != nil || d <= 59*time.Minute || d > time.Hour {
		t.Errorf("delivered marker PTTL = %s ms, want the window", ttl)
	}
}

func TestAnnounceRetriesFailedRobotOnAnotherInstance(t *testing.T) {
	good, bad := robotfake.NewSlack(t), robotfake.NewWeCom(t)
	anns, _ := instances(t, 2, func() []Robot {
		return []Robot{NewSlack(good.URL(), newClient(t)), NewWeCom(bad.URL(), newClient(t))}
	})
	bad.FailNext(1, http.StatusInternalServerError)
	first, _ := anns[0].Announce(context.Background(), testMessage())
	if len(first) != 2 || first[0].Err != nil || first[1].Err == nil {
		t.Fatalf("first deliveries = %+v, want slack ok and wecom failed", first)
	}
	second, dup := anns[1].Announce(context.Background(), testMessage())
	if dup || len(second) != 1 || second[0].Robot != "wecom" || second[0].Err != nil {
		t.Fatalf("redelivery to another instance: dup %v deliveries %+v, want only wecom", dup, second)
	}
	if _, dup := anns[0].Announce(context.Background(), testMessage()); !dup {
		t.Error("a third delivery was not a duplicate")
	}
	if len(good.Messages()) != 1 || len(bad.Messages()) != 1 {
		t.Errorf("slack %d, wecom %d messages; want one each", len(good.Messages()), len(bad.Messages()))
	}
}
