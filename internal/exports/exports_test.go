package exports

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

var ticket = dms.Request{Tid: 7, OrderID: 4242, Region: "cn-hangzhou"}

func TestResolveCoalescesConcurrentCalls(t *testing.T) {
	t.Parallel()
	clock := newClock()
	release := make(chan struct{})
	want := v1URL("a", clock.Now().Add(time.Hour))
	fc := &fakeClient{script: func(ctx context.Context, n int, _ dms.Request) (dms.Result, error) {
		select {
		case <-release:
			return ready(want), nil
		case <-ctx.Done():
			return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Err: ctx.Err()}
		}
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now})

	const n = 200
	var wg sync.WaitGroup
	res := make([]Resolution, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { res[i], errs[i] = s.Resolve(context.Background(), ticket) })
	}
	testwait.For(t, "the DMS call", func() bool { calls, _ := fc.counts(); return calls == 1 })
	close(release)
	wg.Wait()

	status := map[CacheStatus]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("resolve %d: %v", i, errs[i])
		}
		if got := res[i].Result.URL; got != want {
			t.Fatalf("resolve %d: URL %q, want %q", i, got, want)
		}
		status[res[i].Cache]++
	}
	fc.wantCalls(t, 1)
	if got, want := status[CacheMiss], 1; got != want {
		t.Errorf("%d resolves led the call, want %d (statuses %v)", got, want, status)
	}
	if got, want := status[CacheShared]+status[CacheHit], n-1; got != want {
		t.Errorf("%d resolves shared or hit, want %d (statuses %v)", got, want, status)
	}
}

func TestResolveCacheLifetime(t *testing.T) {
	t.Parallel()
	const margin, fallback, notReady = 2 * time.Minute, 30 * time.Second, 5 * time.Second
	tests := []struct {
		name   string
		result func(now time.Time) dms.Result
		life   time.Duration // how long after the first resolve the answer is reused; 0 = not cached
	}{
		{"expiry minus margin", func(now time.Time) dms.Result { return ready(v1URL("a", now.Add(time.Hour))) }, time.Hour - margin},
		{"expiry inside margin", func(now time.Time) dms.Result { return ready(v1URL("a", now.Add(margin))) }, 0},
		{"already expired", func(now time.Time) dms.Result { return ready(v1URL("a", now.Add(-time.Hour))) }, 0},
		{"unparseable expiry", func(time.Time) dms.Result { return ready("https://" + testHost + "/a.zip?Expires=soon") }, fallback},
		{"no query", func(time.Time) dms.Result { return ready("https://" + testHost + "/a.zip") }, fallback},
		{"not ready", func(time.Time) dms.Result { return dms.Result{TipMessage: "exporting"} }, notReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			first := tt.result(clock.Now())
			fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return first, nil }}
			s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now,
				ExpiryMargin: margin, FallbackTTL: fallback, NotReadyTTL: notReady})
			resolve := func(wantStatus CacheStatus, wantCalls int) {
				t.Helper()
				got, err := s.Resolve(context.Background(), ticket)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got.Result != first {
					t.Errorf("Result = %+v, want %+v", got.Result, first)
				}
				if got.Cache != wantStatus {
					t.Errorf("Cache = %q, want %q", got.Cache, wantStatus)
				}
				fc.wantCalls(t, wantCalls)
			}
			resolve(CacheMiss, 1)
			if tt.life == 0 {
				if n := s.local.Len(); n != 0 {
					t.Errorf("the cache holds %d answers, want none for an answer already stale", n)
				}
				resolve(CacheMiss, 2)
				return
			}
			clock.Advance(tt.life - time.Nanosecond)
			resolve(CacheHit, 1)
			clock.Advance(time.Nanosecond)
			resolve(CacheMiss, 2)
		})
	}
}

func TestResolveCachesOnlyLastingErrors(t *testing.T) {
	t.Parallel()
	const errorTTL = 30 * time.Second
	for _, tt := range []struct {
		err    *dms.Error
		cached bool
	}{
		{&dms.Error{Kind: dms.KindBusiness, Code: "UnknownError", Message: "export failed", RequestID: "R1"}, true},
		{&dms.Error{Kind: dms.KindNotFound, Code: "InvalidOrderId"}, true},
		{&dms.Error{Kind: dms.KindForbidden, Code: "Forbidden.RAM", HTTPStatus: 403}, true},
		{&dms.Error{Kind: dms.KindBadRequest, Code: "InvalidParameter"}, false},
		{&dms.Error{Kind: dms.KindAuth, Code: "InvalidAccessKeyId.NotFound"}, false},
		{&dms.Error{Kind: dms.KindMalformed}, false},
	} {
		t.Run(tt.err.Kind.String(), func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			url := v1URL("a", clock.Now().Add(time.Hour))
			fc := &fakeClient{script: func(_ context.Context, n int, _ dms.Request) (dms.Result, error) {
				if n == 1 {
					return dms.Result{}, tt.err
				}
				return ready(url), nil
			}}
			s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now, ErrorTTL: errorTTL, MaxAttempts: 1})
			if _, err := s.Resolve(context.Background(), ticket); err == nil {
				t.Fatal("first Resolve succeeded, want the error")
			}
			got, err := s.Resolve(context.Background(), ticket)
			if !tt.cached {
				if err != nil || got.Result.URL != url || got.Cache != CacheMiss {
					t.Fatalf("second Resolve = %+v, %v; want a fresh miss with the URL", got, err)
				}
				fc.wantCalls(t, 2)
				return
			}
			var de *dms.Error
			if !errors.As(err, &de) || got.Cache != CacheHit {
				t.Fatalf("second Resolve = %+v, %v; want the cached error as a hit", got, err)
			}
			want := *tt.err
			if *de != want {
				t.Errorf("cached error = %+v, want %+v", *de, want)
			}
			fc.wantCalls(t, 1)
			clock.Advance(errorTTL)
			if got, err := s.Resolve(context.Background(), ticket); err != nil || got.Result.URL != url {
				t.Fatalf("after ERROR_CACHE_TTL: %+v, %v; want DMS asked again", got, err)
			}
			fc.wantCalls(t, 2)
		})
	}
}

func TestResolveKeysOnWholeRequest(t *testing.T) {
	t.Parallel()
	clock := newClock()
	fc := &fakeClient{script: func(_ context.Context, _ int, req dms.Request) (dms.Result, error) {
		return ready(v1URL(flightKey(req), clock.Now().Add(time.Hour))), nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now})
	reqs := []dms.Request{ticket, {Tid: 8, OrderID: 4242, Region: "cn-hangzhou"},
		{Tid: 7, OrderID: 4243, Region: "cn-hangzhou"}, {Tid: 7, OrderID: 4242, Region: "cn-shanghai"}}
	for round := range 2 {
		for _, req := range reqs {
			got, err := s.Resolve(context.Background(), req)
			if err != nil {
				t.Fatalf("Resolve(%+v): %v", req, err)
			}
			if want := v1URL(flightKey(req), clock.Now().Add(time.Hour)); got.Result.URL != want {
				t.Errorf("round %d, Resolve(%+v) URL = %q, want %q", round, req, got.Result.URL, want)
			}
		}
	}
	fc.wantCalls(t, len(reqs))
}

func TestResolveRetries(t *testing.T) {
	t.Parallel()
	throttled := &dms.Error{Kind: dms.KindThrottled, Code: "Throttling.User"}
	tests := []struct {
		name      string
		fail      []*dms.Error // answers before success; nil entries never occur
		always    *dms.Error   // when set, every call fails with it
		wantCalls int
		wantKind  dms.Kind // checked when an error is expected
	}{
		{name: "throttled twice then ok", fail: []*dms.Error{throttled, throttled}, wantCalls: 3},
		{name: "throttled three times then ok", fail: []*dms.Error{throttled, throttled, throttled}, wantCalls: 4},
		{name: "unavailable then ok", fail: []*dms.Error{{Kind: dms.KindUnavailable, HTTPStatus: 503}}, wantCalls: 2},
		{name: "transport then ok", fail: []*dms.Error{{Kind: dms.KindTransport}}, wantCalls: 2},
		{name: "one try timed out then ok", fail: []*dms.Error{{Kind: dms.KindTimeout}}, wantCalls: 2},
		{name: "always throttled", always: throttled, wantCalls: 4, wantKind: dms.KindThrottled},
		{name: "always unavailable", always: &dms.Error{Kind: dms.KindUnavailable}, wantCalls: 4, wantKind: dms.KindUnavailable},
		{name: "business", always: &dms.Error{Kind: dms.KindBusiness, Code: "UnknownError"}, wantCalls: 1, wantKind: dms.KindBusiness},
		{name: "not found", always: &dms.Error{Kind: dms.KindNotFound}, wantCalls: 1, wantKind: dms.KindNotFound},
		{name: "forbidden", always: &dms.Error{Kind: dms.KindForbidden, Code: "Forbidden.RAM"}, wantCalls: 1, wantKind: dms.KindForbidden},
		{name: "auth", always: &dms.Error{Kind: dms.KindAuth, Code: "InvalidSecurityToken.Expired"}, wantCalls: 1, wantKind: dms.KindAuth},
		{name: "bad request", always: &dms.Error{Kind: dms.KindBadRequest, Code: "InvalidParameter"}, wantCalls: 1, wantKind: dms.KindBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			url := v1URL("a", clock.Now().Add(time.Hour))
			fc := &fakeClient{script: func(_ context.Context, n int, _ dms.Request) (dms.Result, error) {
				if tt.always != nil {
					return dms.Result{}, tt.always
				}
				if n <= len(tt.fail) {
					return dms.Result{}, tt.fail[n-1]
				}
				return ready(url), nil
			}}
			s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now, MaxAttempts: 4,
				RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond})
			got, err := s.Resolve(context.Background(), ticket)
			fc.wantCalls(t, tt.wantCalls)
			if got.Attempts != tt.wantCalls {
				t.Errorf("Attempts = %d, want %d", got.Attempts, tt.wantCalls)
			}
			if tt.always != nil {
				if err == nil {
					t.Fatalf("Resolve succeeded, want %v", tt.wantKind)
				}
				if k := kindOf(t, err); k != tt.wantKind {
					t.Errorf("error kind = %v, want %v", k, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Result.URL != url {
				t.Errorf("URL = %q, want %q", got.Result.URL, url)
			}
		})
	}
}

func TestResolveHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	const hint = 30 * time.Millisecond
	clock := newClock()
	var mu sync.Mutex
	var at []time.Time
	fc := &fakeClient{script: func(_ context.Context, n int, _ dms.Request) (dms.Result, error) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 1 {
			return dms.Result{}, &dms.Error{Kind: dms.KindThrottled, RetryAfter: hint}
		}
		return ready(v1URL("a", clock.Now().Add(time.Hour))), nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now, Rand: func() float64 { return 0 }})
	if _, err := s.Resolve(context.Background(), ticket); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 2 {
		t.Fatalf("DMS calls = %d, want 2", len(at))
	}
	if got := at[1].Sub(at[0]); got < hint {
		t.Errorf("retried after %v, want at least the Retry-After %v", got, hint)
	}
}

func TestResolveStopsWhenRetryCannotFit(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) {
		return dms.Result{}, &dms.Error{Kind: dms.KindThrottled, Code: "Throttling.User", RetryAfter: time.Hour}
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, CallTimeout: 5 * time.Second})
	start := time.Now()
	_, err := s.Resolve(context.Background(), ticket)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Resolve took %v, want an immediate answer", took)
	}
	var e *dms.Error
	if !errors.As(err, &e) || e.Kind != dms.KindThrottled || e.RetryAfter != time.Hour {
		t.Errorf("error = %#v, want the throttling error with its Retry-After", err)
	}
	fc.wantCalls(t, 1)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name       string
		rand       float64
		retry      int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first, full draw", 0.999999, 0, 0, 99999 * time.Microsecond},
		{"doubles", 0.5, 1, 0, 100 * ms},
		{"doubles again", 0.5, 3, 0, 400 * ms},
		{"capped at max", 0.5, 10, 0, 1000 * ms},
		{"huge retry stays capped", 0.5, 1 << 20, 0, 1000 * ms},
		{"zero draw", 0, 3, 0, 0},
		{"retry-after floor", 0, 0, 700 * ms, 700 * ms},
		{"draw above floor", 0.5, 10, 300 * ms, 1000 * ms},
		{"out of range rand clamped", 7, 0, 0, 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(&fakeClient{}, Options{RetryBase: 100 * ms, RetryMax: 2000 * ms, Rand: func() float64 { return tt.rand }})
			got := s.backoff(tt.retry, tt.retryAfter)
			if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("backoff(%d, %v) = %v, want %v", tt.retry, tt.retryAfter, got, tt.want)
			}
		})
	}
}

// blockUntilDone is a DMS that answers only when its context ends.
func blockUntilDone(ctx context.Context, _ int, _ dms.Request) (dms.Result, error) {
	<-ctx.Done()
	return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Err: ctx.Err()}
}

func TestResolveAnswersBeforeDeadline(t *testing.T) {
	t.Parallel()
	const budget, reserve = 400 * time.Millisecond, 150 * time.Millisecond
	fc := &fakeClient{script: blockUntilDone}
	s := New(fc, Options{AllowedHosts: testAllowed, Reserve: reserve})
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	deadline, _ := ctx.Deadline()

	_, err := s.Resolve(ctx, ticket)
	if late := time.Since(deadline); late > 0 {
		t.Errorf("Resolve answered %v after the deadline", late)
	}
	if k := kindOf(t, err); k != dms.KindTimeout {
		t.Errorf("error kind = %v, want timeout", k)
	}
	// The shared call ends with the leader's budget; nothing keeps running.
	testwait.For(t, "the DMS call to end", func() bool { _, n := fc.counts(); return n == 0 })
	fc.wantCalls(t, 1)
}

func TestResolveBoundsCallWithoutDeadline(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{script: blockUntilDone}
	s := New(fc, Options{AllowedHosts: testAllowed, CallTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := s.Resolve(context.Background(), ticket)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Resolve took %v, want about CallTimeout", took)
	}
	if k := kindOf(t, err); k != dms.KindTimeout {
		t.Errorf("error kind = %v, want timeout", k)
	}
}

func TestResolveExpiredDeadlineMakesNoCall(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{script: blockUntilDone}
	s := New(fc, Options{AllowedHosts: testAllowed, Reserve: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := s.Resolve(ctx, ticket)
	if k := kindOf(t, err); k != dms.KindTimeout {
		t.Errorf("error kind = %v, want timeout", k)
	}
	fc.wantCalls(t, 0)
}

func TestResolveCancelledContextMakesNoCall(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{script: blockUntilDone}
	s := New(fc, Options{AllowedHosts: testAllowed})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Resolve(ctx, ticket)
	if k := kindOf(t, err); k != dms.KindTimeout || !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want a timeout wrapping context.Canceled", err)
	}
	fc.wantCalls(t, 0)
}

func TestResolveLeaderCancelDoesNotCancelOthers(t *testing.T) {
	t.Parallel()
	clock := newClock()
	release := make(chan struct{})
	url := v1URL("a", clock.Now().Add(time.Hour))
	fc := &fakeClient{script: func(ctx context.Context, _ int, _ dms.Request) (dms.Result, error) {
		<-release
		if err := ctx.Err(); err != nil {
			return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Err: err}
		}
		return ready(url), nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now})

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	defer cancelLeader()
	type answer struct {
		res Resolution
		err error
	}
	leader := make(chan answer, 1)
	go func() {
		res, err := s.Resolve(leaderCtx, ticket)
		leader <- answer{res, err}
	}()
	testwait.For(t, "the DMS call", func() bool { calls, _ := fc.counts(); return calls == 1 })

	other := make(chan answer, 1)
	go func() {
		res, err := s.Resolve(context.Background(), ticket)
		other <- answer{res, err}
	}()

	cancelLeader()
	lead := <-leader
	if k := kindOf(t, lead.err); k != dms.KindTimeout || !errors.Is(lead.err, context.Canceled) {
		t.Errorf("leader error = %v, want a timeout wrapping context.Canceled", lead.err)
	}
	if lead.res.Cache != CacheMiss {
		t.Errorf("leader Cache = %q, want miss", lead.res.Cache)
	}
	close(release)
	got := <-other
	if got.err != nil {
		t.Fatalf("other resolve: %v", got.err)
	}
	if got.res.Result.URL != url {
		t.Errorf("other resolve URL = %q, want %q", got.res.Result.URL, url)
	}
	fc.wantCalls(t, 1)
}

func TestResolveCacheIsBounded(t *testing.T) {
	t.Parallel()
	const size, keys = 1000, 100_000
	clock := newClock()
	url := v1URL("a", clock.Now().Add(time.Hour))
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return ready(url), nil }}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now, CacheSize: size})
	for i := range keys {
		if _, err := s.Resolve(context.Background(), dms.Request{OrderID: int64(i + 1), Region: "cn-hangzhou"}); err != nil {
			t.Fatalf("Resolve %d: %v", i, err)
		}
		if got := s.local.Len(); got > size {
			t.Fatalf("after %d keys the cache holds %d entries, limit %d", i+1, got, size)
		}
	}
	// The most recent key is still cached, the first one was evicted.
	if got, _ := s.Resolve(context.Background(), dms.Request{OrderID: keys, Region: "cn-hangzhou"}); got.Cache != CacheHit {
		t.Errorf("newest key: Cache = %q, want hit", got.Cache)
	}
	if got, _ := s.Resolve(context.Background(), dms.Request{OrderID: 1, Region: "cn-hangzhou"}); got.Cache != CacheMiss {
		t.Errorf("oldest key: Cache = %q, want miss", got.Cache)
	}
}

func TestResolveRefusesURLsFailingPolicy(t *testing.T) {
	t.Parallel()
	clock := newClock()
	const secret = "Signature=TOPSECRET"
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) {
		return ready("https://aliyuncs.com.evil.example/x.zip?Expires=1999999999&" + secret), nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now})
	for range 2 {
		got, err := s.Resolve(context.Background(), ticket)
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("error = %v, want *PolicyError", err)
		}
		if pe.Host != "aliyuncs.com.evil.example" {
			t.Errorf("PolicyError.Host = %q", pe.Host)
		}
		if strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "x.zip") {
			t.Errorf("error text %q leaks the URL", err)
		}
		if got.Result.URL != "" {
			t.Errorf("Result.URL = %q, want empty with a policy error", got.Result.URL)
		}
	}
	fc.wantCalls(t, 2)
}

func TestResolveNotReadyDropsURL(t *testing.T) {
	t.Parallel()
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) {
		return dms.Result{Ready: false, URL: "https://evil.example/x", TipMessage: "running"}, nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed})
	got, err := s.Resolve(context.Background(), ticket)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got.Result.URL != "" || got.Result.TipMessage != "running" {
		t.Errorf("Result = %+v, want no URL and the tip", got.Result)
	}
}

func TestResolveLocalRateLimit(t *testing.T) {
	t.Parallel()
	clock := newClock()
	fc := &fakeClient{script: func(_ context.Context, _ int, req dms.Request) (dms.Result, error) {
		return ready(v1URL(flightKey(req), clock.Now().Add(time.Hour))), nil
	}}
	// One call per 100 s: the second distinct ticket cannot get a token in time.
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now, RateLimit: 0.01, RateBurst: 1})
	if _, err := s.Resolve(context.Background(), ticket); err != nil {
		t.Fatalf("first Resolve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.Resolve(ctx, dms.Request{OrderID: 1})
	if took := time.Since(start); took > time.Second {
		t.Errorf("Resolve took %v, want an immediate refusal", took)
	}
	var e *dms.Error
	if !errors.As(err, &e) || e.Kind != dms.KindThrottled || e.Code != "LocalRateLimit" {
		t.Errorf("error = %v, want throttled LocalRateLimit", err)
	}
	fc.wantCalls(t, 1)
}

func TestResolveWrapsForeignErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return dms.Result{}, boom }}
	s := New(fc, Options{AllowedHosts: testAllowed})
	_, err := s.Resolve(context.Background(), ticket)
	if k := kindOf(t, err); k != dms.KindUnknown || !errors.Is(err, boom) {
		t.Errorf("error = %v, want an unknown-kind *dms.Error wrapping the cause", err)
	}
	fc.wantCalls(t, 1)
}

// A resolve that missed the cache just before another call filled it must not
// ask DMS again once it leads the next flight.
func TestFlightRechecksCache(t *testing.T) {
	t.Parallel()
	clock := newClock()
	url := v1URL("a", clock.Now().Add(time.Hour))
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return ready(url), nil }}
	s := New(fc, Options{AllowedHosts: testAllowed, Now: clock.Now})
	if _, err := s.Resolve(context.Background(), ticket); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	o := s.flight(context.Background(), ticket, time.Now().Add(time.Second))
	if o.err != nil || !o.fromCache || o.res.URL != url || o.attempts != 0 {
		t.Errorf("flight = %+v, want the cached answer without a call", o)
	}
	fc.wantCalls(t, 1)
}
