package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// The README's first command, as a new user follows it: the demo prints links;
// the ready one redirects to the fake OSS, which serves the sample file; the
// tampered one is 403, the expired one 410.
func TestDemoFollowsTheGuide(t *testing.T) {
	out := runDemo(t)
	links := map[string]string{}
	pattern := regexp.MustCompile(`(?m)^\s+(ready|not ready yet|export failed|tampered|expired) \(\d+[^)]*\)\s+(http://\S+)$`)
	deadline := time.Now().Add(20 * time.Second)
	for len(links) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no links in time:\n%s", out.String())
		}
		for _, m := range pattern.FindAllStringSubmatch(out.String(), -1) {
			links[m[1]] = m[2]
		}
		time.Sleep(20 * time.Millisecond)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for name, want := range map[string]int{"ready": 302, "not ready yet": 409, "export failed": 502, "tampered": 403, "expired": 410} {
		res, err := client.Get(links[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s link: status %d, want %d", name, res.StatusCode, want)
		}
	}
	res, err := http.Get(links["ready"]) // follows the redirect to the fake OSS
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !bytes.Equal(body, demoFile) {
		t.Fatalf("download: %d %q, want the sample file", res.StatusCode, body)
	}
	if !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("Content-Disposition = %q", res.Header.Get("Content-Disposition"))
	}
	if !strings.Contains(out.String(), `"msg":"dms call"`) {
		t.Error("the demo does not log DMS calls")
	}
}

// The demo with -redis keeps its state in the server: clicks are logged
// state "redis" and the answer is in Redis under the default prefix.
func TestDemoWithRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	// A timeout that a loaded test machine cannot trip; the 50ms default
	// would send a slow first answer to memory (tested in internal/state).
	out := runDemoEnv(t, func(k string) string {
		if k == "REDIS_TIMEOUT" {
			return "5s"
		}
		return ""
	}, "-redis", srv.URL)
	m := regexp.MustCompile(`(?m)^\s+ready \(\d+[^)]*\)\s+(http://\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ready link in the guide:\n%s", out)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 2 {
		res, err := client.Get(m[1])
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound {
			t.Fatalf("ready link: %d", res.StatusCode)
		}
	}
	if n := strings.Count(out.String(), `"state":"redis"`); n < 3 {
		t.Errorf("%d log lines say state redis, want the start-up line and both clicks:\n%s", n, out)
	}
	if keys := srv.Do("KEYS", "dms-export-link:*"); !strings.Contains(keys, ":answer") {
		t.Errorf("Redis keys %q: no cached answer under the default prefix", keys)
	}
}

func TestMalformedRedisURLStopsStartUp(t *testing.T) {
	const pw = "do-not-print-me-123"
	env := map[string]string{"REDIS_URL": "redis://:" + pw + "@127.0.0.1:6379/db", "LINK_KEYS": "k1:" + strings.Repeat("QUFB", 11)}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), pw) {
		t.Fatalf("run = %v, want an error naming REDIS_URL without the password", err)
	}
}

func TestConfigErrorNamesTheVariable(t *testing.T) {
	env := map[string]string{"LINK_TTL": "forever"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LINK_TTL") {
		t.Fatalf("run = %v, want an error naming LINK_TTL", err)
	}
}
