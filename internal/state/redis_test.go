package state

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// newRedis starts a server and a Redis store on it with prefix.
func newRedis(t *testing.T, prefix string) (*Redis, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{Password: "redis-test-pw"})
	r, err := NewRedis(RedisOptions{URL: srv.URL, Prefix: prefix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, srv
}

func TestRedisValuesExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, srv := newRedis(t, "p:")
	if err := r.Set(ctx, "{t1}:v", []byte("v1"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	got, ok, err := r.Get(ctx, "{t1}:v")
	if err != nil || !ok || string(got) != "v1" {
		t.Fatalf("Get = %q, %v, %v; want v1", got, ok, err)
	}
	ttl, _ := time.ParseDuration(srv.Do("PTTL", "p:{t1}:v") + "ms")
	if ttl <= time.Second || ttl > 2*time.Second {
		t.Fatalf("PTTL = %v, want just under 2s", ttl)
	}
	if err := r.Set(ctx, "short", []byte("x"), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, ok, _ := r.Get(ctx, "short"); return !ok })
	if _, ok, err := r.Get(ctx, "absent"); ok || err != nil {
		t.Fatalf("Get of a missing key = %v, %v", ok, err)
	}
}

func TestRedisSetNXAndDeleteIf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, srv := newRedis(t, "p:")
	if ok, err := r.SetNX(ctx, "lease", []byte("a"), time.Minute); !ok || err != nil {
		t.Fatalf("first SetNX = %v, %v", ok, err)
	}
	if ok, err := r.SetNX(ctx, "lease", []byte("b"), time.Minute); ok || err != nil {
		t.Fatalf("second SetNX = %v, %v; want refused", ok, err)
	}
	if got := srv.Do("PTTL", "p:lease"); got == "-1" {
		t.Fatal("SetNX stored without expiry")
	}
	if err := r.DeleteIf(ctx, "lease", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := r.Get(ctx, "lease"); !ok || string(got) != "a" {
		t.Fatalf("DeleteIf with another owner's value removed the lease: %q, %v", got, ok)
	}
	if err := r.DeleteIf(ctx, "lease", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Get(ctx, "lease"); ok {
		t.Fatal("DeleteIf by the owner left the lease")
	}
	if ok, _ := r.SetNX(ctx, "short", []byte("c"), 20*time.Millisecond); !ok {
		t.Fatal("SetNX refused on a free key")
	}
	waitUntil(t, func() bool { ok, _ := r.SetNX(ctx, "short", []byte("d"), time.Minute); return ok })
}

func TestRedisAppliesPrefixToEveryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, srv := newRedis(t, "dms-export-link:")
	_ = r.Set(ctx, "{o:1}:a", []byte("x"), time.Minute)
	_, _ = r.SetNX(ctx, "{o:1}:b", []byte("x"), time.Minute)
	_, _ = r.Allow(ctx, "budget", Limit{Events: 1, Per: time.Minute, Burst: 1})
	keys := strings.Split(srv.Do("KEYS", "*"), "\n")
	if len(keys) != 3 {
		t.Fatalf("keys = %q, want 3", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "dms-export-link:") {
			t.Errorf("key %q lacks the prefix", k)
		}
	}
}

// TestRedisAllowAgreesWithMemory spends the same budgets in both stores: the
// same events are allowed and refused, and the waits agree within the time
// the Redis calls take.
func TestRedisAllowAgreesWithMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := newRedis(t, "p:")
	m := NewMemory(0, nil)
	for _, l := range []Limit{
		{Events: 10, Per: 10 * time.Second, Burst: 3},
		{Events: 1, Per: time.Minute, Burst: 1},
		{Events: 5, Per: time.Minute, Burst: 0},
	} {
		key := "b" + l.Per.String() + strconv.Itoa(l.Burst)
		for i := range max(l.Burst, 1) + 2 {
			start := time.Now()
			rd, err := r.Allow(ctx, key, l)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			md, _ := m.Allow(ctx, key, l)
			if rd.Allowed != md.Allowed {
				t.Fatalf("%+v event %d: Redis allowed=%v, Memory allowed=%v", l, i+1, rd.Allowed, md.Allowed)
			}
			if diff := (md.RetryAfter - rd.RetryAfter).Abs(); diff > took+50*time.Millisecond {
				t.Fatalf("%+v event %d: Redis retry %v, Memory %v", l, i+1, rd.RetryAfter, md.RetryAfter)
			}
		}
	}
	if d, err := r.Allow(ctx, "free", Limit{}); !d.Allowed || err != nil {
		t.Fatalf("unlimited budget = %+v, %v", d, err)
	}
}

func TestRedisAllowRefillsOnTheServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := newRedis(t, "p:")
	l := Limit{Events: 20, Per: time.Second, Burst: 1} // one per 50ms
	if d, _ := r.Allow(ctx, "b", l); !d.Allowed {
		t.Fatal("first event refused")
	}
	d, _ := r.Allow(ctx, "b", l)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 50*time.Millisecond {
		t.Fatalf("second event at once = %+v; want refused within 50ms", d)
	}
	time.Sleep(d.RetryAfter) // the budget's own refill time, not a guess
	waitUntil(t, func() bool { d, _ := r.Allow(ctx, "b", l); return d.Allowed })
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url     string
		wantErr string
		db      int
		user    string
		tls     bool
	}{
		{url: "redis://127.0.0.1:6379/0"},
		{url: "redis://:s3cret@r-bp1.redis.rds.aliyuncs.com:6379/2", db: 2},
		{url: "rediss://app:s3cret@r-bp1.redis.rds.aliyuncs.com", user: "app", tls: true},
		{url: "http://127.0.0.1:6379", wantErr: "scheme"},
		{url: "redis://:s3cret@/0", wantErr: "no host"},
		{url: "redis://:s3cret@h:99999/0", wantErr: "port"},
		{url: "redis://:s3cret@h:6379/x", wantErr: "database number"},
		{url: "redis://:s3cret@h:6379/1/2", wantErr: "database number"},
		{url: "redis://:s3cret@h:6379/0?dial_timeout=abc", wantErr: "dial_timeout"},
		{url: "redis://:s3cret@h%zz:6379", wantErr: "not a URL"},
	} {
		o, err := ParseRedisURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRedisURL(%q) = %v, want an error about %s", tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseRedisURL(%q) error %q shows the password", tt.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", tt.url, err)
			continue
		}
		if o.DB != tt.db || o.Username != tt.user || (o.TLSConfig != nil) != tt.tls {
			t.Errorf("ParseRedisURL(%q) = db %d user %q tls %v", tt.url, o.DB, o.Username, o.TLSConfig != nil)
		}
	}
}

// waitUntil polls cond with a deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
