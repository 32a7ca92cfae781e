package state

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/redistest"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
)

const testPassword = "fallback-test-pw-0123456789"

// fallbackOn builds a Fallback over a Redis store at url, logging to logs.
func fallbackOn(t *testing.T, url string, logs *secrettest.Buffer) *Fallback {
	t.Helper()
	// Generous for a loaded machine: a frozen server costs one timeout per
	// request, which the request's deadline checks.
	r, err := NewRedis(RedisOptions{URL: url, Prefix: "p:", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return NewFallback(r, NewMemory(0, nil), slog.New(slog.NewJSONHandler(logs, nil)))
}

// exercise runs every Store operation in one request and reports its label.
func exercise(t *testing.T, f *Fallback, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx, u := WithUsage(ctx)
	if err := f.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, ok, err := f.Get(ctx, key); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
	if ok, err := f.SetNX(ctx, key+":lease", []byte("me"), time.Minute); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if err := f.DeleteIf(ctx, key+":lease", []byte("me")); err != nil {
		t.Fatalf("DeleteIf: %v", err)
	}
	if d, err := f.Allow(ctx, key+":budget", Limit{Events: 1, Per: time.Hour, Burst: 1}); err != nil || !d.Allowed {
		t.Fatalf("Allow = %+v, %v", d, err)
	}
	if ctx.Err() != nil {
		t.Fatal("the operations outlived the request's deadline")
	}
	return u.Label(LabelRedis)
}

func TestFallbackUsesRedisWhileItAnswers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{Password: testPassword})
	logs := &secrettest.Buffer{}
	f := fallbackOn(t, srv.URL, logs)
	if got := exercise(t, f, "k"); got != LabelRedis {
		t.Fatalf("label = %q, want redis", got)
	}
	if got := srv.Do("GET", "p:k"); got != "v" {
		t.Fatalf("Redis holds %q under p:k, want the value", got)
	}
	if logs.String() != "" {
		t.Fatalf("warnings while Redis answers: %s", logs)
	}
}

func TestFallbackDegrades(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		break_ func(*redistest.Server) string // breaks the server, returns the URL to use
		reason string
	}{
		{"killed", func(s *redistest.Server) string { s.Kill(); return s.URL }, "connection refused"},
		{"frozen", func(s *redistest.Server) string { s.Stop(); return s.URL }, "REDIS_TIMEOUT"},
		{"wrong password", func(s *redistest.Server) string {
			return strings.Replace(s.URL, testPassword, "not-the-password-987", 1)
		}, "credentials in REDIS_URL"},
		{"full", func(s *redistest.Server) string {
			s.Do("CONFIG", "SET", "maxmemory-policy", "noeviction")
			s.Do("CONFIG", "SET", "maxmemory", "1")
			return s.URL
		}, "out of memory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Password: testPassword})
			url := tt.break_(srv)
			logs := &secrettest.Buffer{}
			f := fallbackOn(t, url, logs)
			if got := exercise(t, f, "k1"); got != LabelDegraded {
				t.Fatalf("label = %q, want degraded", got)
			}
			// A second request is degraded too, and not warned about again.
			if got := exercise(t, f, "k2"); got != LabelDegraded {
				t.Fatalf("second label = %q, want degraded", got)
			}
			out := logs.String()
			if n := strings.Count(out, `"level":"WARN"`); n != 1 {
				t.Fatalf("%d warnings, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, tt.reason) {
				t.Fatalf("warning lacks the reason %q:\n%s", tt.reason, out)
			}
			if leaks := secrettest.Leaks(out, []string{testPassword, "not-the-password-987", url}); leaks != nil {
				t.Fatalf("the warning leaks: %v\n%s", leaks, out)
			}
		})
	}
}

func TestFallbackReturnsToRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	logs := &secrettest.Buffer{}
	f := fallbackOn(t, srv.URL, logs)
	c := &clock{t: time.Now()}
	f.now = c.now
	srv.Kill()
	if got := exercise(t, f, "a"); got != LabelDegraded {
		t.Fatalf("label with Redis down = %q", got)
	}
	srv.Restart()
	if got := exercise(t, f, "b"); got != LabelDegraded {
		t.Fatalf("label right after the failure = %q; want the primary skipped for a while", got)
	}
	c.advance(probeEvery)
	if got := exercise(t, f, "c"); got != LabelRedis {
		t.Fatalf("label after Redis came back = %q, want redis", got)
	}
	if got := srv.Do("GET", "p:c"); got != "v" {
		t.Fatalf("Redis holds %q under p:c", got)
	}
}

func TestReasonNamesTheSetting(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"NOPERM this user has no permissions":                   "ACL",
		"READONLY You can't write against a read only replica.": "read-only",
		"LOADING Redis is loading the dataset in memory":        "not ready",
		"ERR something new":                                     "Redis error: ERR something new",
	} {
		if got := Reason(errString(msg)); !strings.Contains(got, want) {
			t.Errorf("Reason(%q) = %q, want it to mention %q", msg, got, want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestFallbacksOverOnePrimaryShareTheirWarning(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	logs := &secrettest.Buffer{}
	a := fallbackOn(t, srv.URL, logs)
	b := a.WithBackup(NewMemory(10, nil))
	srv.Kill()
	if got := exercise(t, a, "a"); got != LabelDegraded {
		t.Fatalf("a: label %q", got)
	}
	if got := exercise(t, b, "b"); got != LabelDegraded {
		t.Fatalf("b: label %q", got)
	}
	if _, ok, _ := a.Get(context.Background(), "b"); ok {
		t.Fatal("the two Fallbacks share a backup; each must have its own")
	}
	if n := strings.Count(logs.String(), `"level":"WARN"`); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
}

func TestFallbackDoesNotBlameRedisForTheCallersDeadline(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	logs := &secrettest.Buffer{}
	f := fallbackOn(t, srv.URL, logs)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set with a cancelled context: %v", err)
	}
	if got := exercise(t, f, "k2"); got != LabelRedis {
		t.Fatalf("label after a caller's cancellation = %q, want redis", got)
	}
	if logs.String() != "" {
		t.Fatalf("a warning about Redis for the caller's own cancellation:\n%s", logs)
	}
}
