package notify

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
)

// clock is a settable time source for the Announcer's window.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAnnouncer(c *clock, robots ...Robot) *Announcer {
	return &Announcer{Robots: robots, MaxAttempts: 3, RetryBase: time.Millisecond, Window: time.Hour, Now: c.Now}
}

func TestAnnounceRetriesUntilDelivered(t *testing.T) {
	fake := robotfake.NewWeCom(t)
	fake.FailNext(1, http.StatusInternalServerError)
	a := newAnnouncer(newClock(), NewWeCom(fake.URL(), newClient(t)))

	deliveries, dup := a.Announce(context.Background(), testMessage())
	if dup {
		t.Fatal("first announcement reported as duplicate")
	}
	if got, want := len(deliveries), 1; got != want {
		t.Fatalf("%d deliveries, want %d", got, want)
	}
	d := deliveries[0]
	if d.Err != nil || d.Attempts != 2 || d.Robot != "wecom" {
		t.Errorf("delivery = %+v, want wecom delivered on attempt 2", d)
	}
	if got, want := len(fake.Messages()), 1; got != want {
		t.Errorf("fake accepted %d messages, want %d", got, want)
	}
}

func TestAnnounceGivesUpAfterMaxAttempts(t *testing.T) {
	fake := robotfake.NewSlack(t)
	fake.FailNext(10, http.StatusServiceUnavailable)
	a := newAnnouncer(newClock(), NewSlack(fake.URL(), newClient(t)))
	deliveries, _ := a.Announce(context.Background(), testMessage())
	if d := deliveries[0]; d.Err == nil || d.Attempts != 3 {
		t.Errorf("delivery = %+v, want an error after 3 attempts", d)
	}
	if got, want := fake.Requests(), 3; got != want {
		t.Errorf("fake saw %d requests, want %d", got, want)
	}
}

func TestAnnouncePermanentErrorNotRetried(t *testing.T) {
	fake := robotfake.NewDingTalk(t, testSecret)
	a := newAnnouncer(newClock(), NewDingTalk(fake.URL(), "SECwrong", newClient(t), nil))
	deliveries, _ := a.Announce(context.Background(), testMessage())
	if d := deliveries[0]; d.Err == nil || d.Attempts != 1 {
		t.Errorf("delivery = %+v, want one failed attempt", d)
	}
}

func TestAnnounceDoesNotRetryPastDeadline(t *testing.T) {
	fake := robotfake.NewWeCom(t)
	fake.FailNext(10, http.StatusInternalServerError)
	a := newAnnouncer(newClock(), NewWeCom(fake.URL(), newClient(t)))
	a.RetryBase = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deliveries, _ := a.Announce(ctx, testMessage())
	if d := deliveries[0]; d.Err == nil || d.Attempts != 1 {
		t.Errorf("delivery = %+v, want one attempt (the retry would end after the deadline)", d)
	}
}

func TestAnnounceOncePerWindow(t *testing.T) {
	c := newClock()
	fake := robotfake.NewSlack(t)
	a := newAnnouncer(c, NewSlack(fake.URL(), newClient(t)))
	ctx := context.Background()

	steps := []struct {
		name     string
		advance  time.Duration
		orderID  int64
		wantDup  bool
		wantMsgs int
	}{
		{"first", 0, 1, false, 1},
		{"repeat within window", 59 * time.Minute, 1, true, 1},
		{"other ticket", 0, 2, false, 2},
		{"after window", time.Minute, 1, false, 3},
		{"repeat of the new announcement", 30 * time.Minute, 1, true, 3},
	}
	for _, s := range steps {
		c.Add(s.advance)
		m := testMessage()
		m.OrderID = s.orderID
		deliveries, dup := a.Announce(ctx, m)
		if dup != s.wantDup {
			t.Errorf("%s: duplicate = %v, want %v", s.name, dup, s.wantDup)
		}
		if dup && deliveries != nil {
			t.Errorf("%s: duplicate announcement returned deliveries %+v", s.name, deliveries)
		}
		if got := len(fake.Messages()); got != s.wantMsgs {
			t.Errorf("%s: fake holds %d messages, want %d", s.name, got, s.wantMsgs)
		}
	}
}

func TestAnnounceFailureNotRemembered(t *testing.T) {
	fake := robotfake.NewWeCom(t)
	a := newAnnouncer(newClock(), NewWeCom(fake.URL(), newClient(t)))
	a.MaxAttempts = 1
	fake.FailNext(1, http.StatusBadGateway)

	first, dup := a.Announce(context.Background(), testMessage())
	if dup || first[0].Err == nil {
		t.Fatalf("first announcement: dup %v, deliveries %+v; want a failure", dup, first)
	}
	second, dup := a.Announce(context.Background(), testMessage())
	if dup {
		t.Fatal("redelivery after a failed announcement reported as duplicate")
	}
	if second[0].Err != nil {
		t.Errorf("redelivery failed: %v", second[0].Err)
	}
	if got, want := len(fake.Messages()), 1; got != want {
		t.Errorf("fake accepted %d messages, want %d", got, want)
	}
}

func TestAnnouncePartialFailureRetriesOnlyFailedRobots(t *testing.T) {
	good, bad := robotfake.NewSlack(t), robotfake.NewWeCom(t)
	a := newAnnouncer(newClock(), NewSlack(good.URL(), newClient(t)), NewWeCom(bad.URL(), newClient(t)))
	a.MaxAttempts = 1
	bad.FailNext(1, http.StatusInternalServerError)

	first, _ := a.Announce(context.Background(), testMessage())
	if len(first) != 2 || first[0].Err != nil || first[1].Err == nil {
		t.Fatalf("first deliveries = %+v, want slack ok and wecom failed", first)
	}
	second, dup := a.Announce(context.Background(), testMessage())
	if dup || len(second) != 1 || second[0].Robot != "wecom" || second[0].Err != nil {
		t.Fatalf("second: dup %v deliveries %+v, want only wecom, delivered", dup, second)
	}
	if _, dup := a.Announce(context.Background(), testMessage()); !dup {
		t.Error("third announcement not a duplicate after every robot delivered")
	}
	if got, want := len(good.Messages()), 1; got != want {
		t.Errorf("slack received %d messages, want %d", got, want)
	}
	if got, want := len(bad.Messages()), 1; got != want {
		t.Errorf("wecom received %d messages, want %d", got, want)
	}
}

func TestAnnounceConcurrentCallsSendOnce(t *testing.T) {
	fake := robotfake.NewSlack(t)
	a := newAnnouncer(newClock(), NewSlack(fake.URL(), newClient(t)))
	const callers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for range callers {
		wg.Go(func() {
			if _, dup := a.Announce(context.Background(), testMessage()); !dup {
				mu.Lock()
				sent++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if sent != 1 {
		t.Errorf("%d callers sent, want 1", sent)
	}
	if got, want := len(fake.Messages()), 1; got != want {
		t.Errorf("fake accepted %d messages, want %d", got, want)
	}
}

func TestAnnounceMemoryIsBounded(t *testing.T) {
	fake := robotfake.NewSlack(t)
	a := newAnnouncer(newClock(), NewSlack(fake.URL(), newClient(t)))
	a.Capacity = 2
	for _, id := range []int64{1, 2, 3, 1} {
		m := testMessage()
		m.OrderID = id
		if _, dup := a.Announce(context.Background(), m); dup {
			t.Errorf("order %d: duplicate, want sent (order 1 was evicted by 2 and 3)", id)
		}
	}
}

func TestAnnounceWithoutRobots(t *testing.T) {
	deliveries, dup := (&Announcer{}).Announce(context.Background(), testMessage())
	if deliveries != nil || dup {
		t.Errorf("Announce with no robots = %+v, %v; want nil, false", deliveries, dup)
	}
}

func TestAnnounceLogsNoSecrets(t *testing.T) {
	ding := robotfake.NewDingTalk(t, testSecret)
	slackFake := robotfake.NewSlack(t)
	var buf bytes.Buffer
	a := newAnnouncer(newClock(),
		NewDingTalk(ding.URL(), testSecret, newClient(t), nil),
		NewSlack(slackFake.URL(), newClient(t)))
	a.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	ding.FailNextCode(5, 130101)
	slackFake.FailNext(5, http.StatusInternalServerError)

	deliveries, _ := a.Announce(context.Background(), testMessage())
	for _, d := range deliveries {
		if d.Err == nil {
			t.Fatalf("%s delivered despite injected failures", d.Robot)
		}
		assertNoSecret(t, d.Err.Error(), ding.Token(), slackFake.Token(), testSecret)
	}
	if !bytes.Contains(buf.Bytes(), []byte("announcement failed")) {
		t.Errorf("no failure logged:\n%s", buf.String())
	}
	assertNoSecret(t, buf.String(), ding.Token(), slackFake.Token(), testSecret)
}
