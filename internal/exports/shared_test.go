package exports

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
	"github.com/dms-export-link/dms-export-link/internal/state"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

// sharedRedis is one Redis server and a store factory: each call is one
// more FC instance with its own connections.
func sharedRedis(t *testing.T) (*redistest.Server, func() state.Store) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	return srv, func() state.Store {
		r, err := state.NewRedis(state.RedisOptions{URL: srv.URL, Prefix: "t:", Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
}

func testSealer(t *testing.T, ids ...string) *Sealer {
	t.Helper()
	var keys []SealKey
	for _, id := range ids {
		keys = append(keys, SealKey{ID: id, Secret: bytes.Repeat([]byte(id), 32)})
	}
	s, err := NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInstancesShareOneDMSCall runs resolves of one ticket on several
// Services, each with its own Redis connections, as FC instances would: one
// DMS call in all, every resolve the same URL.
func TestInstancesShareOneDMSCall(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	release := make(chan struct{})
	url := v1URL("a", time.Now().Add(time.Hour))
	fc := &fakeClient{script: func(ctx context.Context, _ int, _ dms.Request) (dms.Result, error) {
		select {
		case <-release:
			return ready(url), nil
		case <-ctx.Done():
			return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Err: ctx.Err()}
		}
	}}
	const instances, perInstance = 5, 8
	var wg sync.WaitGroup
	errs := make(chan error, instances*perInstance)
	statuses := make(chan CacheStatus, instances*perInstance)
	for range instances {
		s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1")})
		for range perInstance {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res, err := s.Resolve(ctx, ticket)
				if err == nil && res.Result.URL != url {
					err = errors.New("wrong URL " + res.Result.URL)
				}
				errs <- err
				statuses <- res.Cache
			})
		}
	}
	testwait.For(t, "the DMS call", func() bool { calls, _ := fc.counts(); return calls == 1 })
	close(release)
	wg.Wait()
	close(errs)
	close(statuses)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count := map[CacheStatus]int{}
	for st := range statuses {
		count[st]++
	}
	fc.wantCalls(t, 1)
	if count[CacheMiss] != 1 {
		t.Errorf("statuses %v, want exactly one miss", count)
	}
	// A fresh instance finds the answer without asking.
	s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1")})
	if res, err := s.Resolve(context.Background(), ticket); err != nil || res.Cache != CacheHit || res.Result.URL != url {
		t.Fatalf("fresh instance: %+v, %v; want a hit", res, err)
	}
	fc.wantCalls(t, 1)
}

// TestDeadLeaderLeaseIsTakenOver: an instance that took the lease and died
// never answers; when the lease expires exactly one waiter asks DMS.
func TestDeadLeaderLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	srv, newStore := sharedRedis(t)
	url := v1URL("a", time.Now().Add(time.Hour))
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return ready(url), nil }}
	srv.Do("SET", "t:"+ticketKey(ticket, "lease"), "dead-instance", "PX", "300")
	var wg sync.WaitGroup
	for range 3 {
		s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1")})
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if res, err := s.Resolve(ctx, ticket); err != nil || res.Result.URL != url {
				t.Errorf("Resolve = %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	fc.wantCalls(t, 1)
	if got := srv.Do("EXISTS", "t:"+ticketKey(ticket, "lease")); got != "0" {
		t.Errorf("the lease is still held after the answer (EXISTS = %s)", got)
	}
}

// TestWaiterAnswersBeforeItsDeadline: a waiter whose holder never answers
// gives up at its deadline minus Reserve, not after.
func TestWaiterAnswersBeforeItsDeadline(t *testing.T) {
	t.Parallel()
	srv, newStore := sharedRedis(t)
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return ready("x"), nil }}
	srv.Do("SET", "t:"+ticketKey(ticket, "lease"), "slow-instance", "PX", "600000")
	s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Reserve: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.Resolve(ctx, ticket)
	if kindOf(t, err) != dms.KindTimeout {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Resolve answered after its deadline, not before it by Reserve")
	}
	fc.wantCalls(t, 0)
}

// TestFailedTicketInALoopCostsOneCall: DMS's "export failed" is cached for
// every instance, so clicking the link again and again does not reach DMS.
func TestFailedTicketInALoopCostsOneCall(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) {
		return dms.Result{}, &dms.Error{Kind: dms.KindBusiness, Code: "UnknownError", Message: "export failed"}
	}}
	a := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1")})
	b := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1")})
	for i := range 50 {
		s := a
		if i%2 == 1 {
			s = b
		}
		_, err := s.Resolve(context.Background(), ticket)
		var de *dms.Error
		if !errors.As(err, &de) || de.Message != "export failed" {
			t.Fatalf("click %d: %v, want DMS's business error", i+1, err)
		}
	}
	fc.wantCalls(t, 1)
}

// TestRedisHoldsNoUsableURL scans every value in Redis after answers were
// cached: neither the URL, its signature, its host nor its path appears.
func TestRedisHoldsNoUsableURL(t *testing.T) {
	t.Parallel()
	srv, newStore := sharedRedis(t)
	raw := v1URL("secret-export-file", time.Now().Add(time.Hour))
	u, _ := url.Parse(raw)
	fc := &fakeClient{script: func(_ context.Context, n int, req dms.Request) (dms.Result, error) {
		if req.OrderID == 2 {
			return dms.Result{TipMessage: "still exporting"}, nil
		}
		return ready(raw), nil
	}}
	s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: testSealer(t, "k1"), RateLimit: 5})
	for _, order := range []int64{1, 2} {
		if _, err := s.Resolve(context.Background(), dms.Request{Tid: 7, OrderID: order, Region: "cn-hangzhou"}); err != nil {
			t.Fatal(err)
		}
	}
	keys := strings.Split(srv.Do("KEYS", "*"), "\n")
	if len(keys) < 3 {
		t.Fatalf("keys %q: want two answers and a budget", keys)
	}
	forbidden := []string{raw, u.RawQuery, u.Query().Get("Signature"), "Signature", u.Host, u.Path,
		"secret-export-file", "still exporting"}
	for _, k := range keys {
		v := srv.Do("GET", k)
		for _, f := range forbidden {
			if f != "" && (strings.Contains(v, f) || strings.Contains(k, f)) {
				t.Errorf("Redis key %q holds %q in the clear", k, f)
			}
		}
	}
}

// TestSealKeyRotation: a key put in front of the ring still opens what the
// old key sealed; once the old key leaves the ring its values are misses.
func TestSealKeyRotation(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	url := v1URL("a", time.Now().Add(time.Hour))
	fc := &fakeClient{script: func(context.Context, int, dms.Request) (dms.Result, error) { return ready(url), nil }}
	resolve := func(seal *Sealer) CacheStatus {
		t.Helper()
		s := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), Sealer: seal})
		res, err := s.Resolve(context.Background(), ticket)
		if err != nil || res.Result.URL != url {
			t.Fatalf("Resolve = %+v, %v", res, err)
		}
		return res.Cache
	}
	if got := resolve(testSealer(t, "old")); got != CacheMiss {
		t.Fatalf("first resolve %q", got)
	}
	if got := resolve(testSealer(t, "new", "old")); got != CacheHit {
		t.Fatalf("with the new key in front: %q, want a hit", got)
	}
	if got := resolve(testSealer(t, "new")); got != CacheMiss {
		t.Fatalf("after the old key left: %q, want a miss", got)
	}
	if got := resolve(nil); got != CacheMiss {
		t.Fatalf("without a sealer a sealed value must not parse: %q", got)
	}
	fc.wantCalls(t, 3)
}

// TestBudgetIsSharedAndSplit: all instances spend one budget, and a class
// that spent its share does not hold back another class.
func TestBudgetIsSharedAndSplit(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	fc := &fakeClient{script: func(_ context.Context, _ int, req dms.Request) (dms.Result, error) {
		return ready(v1URL(flightKey(req), time.Now().Add(time.Hour))), nil
	}}
	// 0.01 calls/s, burst 3: one call per class at once, then nothing for minutes.
	opts := func() Options {
		return Options{AllowedHosts: testAllowed, Store: newStore(), RateLimit: 0.01, RateBurst: 3,
			Shares: map[Class]int{ClassClick: 1, ClassWebhook: 1, ClassCommand: 1}}
	}
	a, b := New(fc, opts()), New(fc, opts())
	ask := func(s *Service, class Class, order int64) error {
		ctx, cancel := context.WithTimeout(WithClass(context.Background(), class), 2*time.Second)
		defer cancel()
		_, err := s.Resolve(ctx, dms.Request{OrderID: order, Region: "cn-hangzhou"})
		return err
	}
	if err := ask(a, ClassWebhook, 1); err != nil {
		t.Fatalf("first webhook: %v", err)
	}
	var de *dms.Error
	if err := ask(b, ClassWebhook, 2); !errors.As(err, &de) || de.Code != "LocalRateLimit" {
		t.Fatalf("second webhook on another instance: %v, want the shared budget spent", err)
	}
	if err := ask(b, ClassClick, 3); err != nil {
		t.Fatalf("a click after the webhooks spent their share: %v", err)
	}
	if err := ask(a, ClassCommand, 4); err != nil {
		t.Fatalf("a command after the webhooks spent their share: %v", err)
	}
	fc.wantCalls(t, 3)
}

func TestSealerRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for _, keys := range [][]SealKey{nil, {{ID: "", Secret: make([]byte, 32)}}, {{ID: "k", Secret: make([]byte, 8)}}} {
		if _, err := NewSealer(keys); err == nil {
			t.Errorf("NewSealer(%v) succeeded", keys)
		}
	}
	s := testSealer(t, "k1")
	blob := s.seal("a", []byte("plain"))
	if _, ok := s.open("b", blob); ok {
		t.Error("a value sealed for key a opened under key b")
	}
	blob[len(blob)-1] ^= 1
	if _, ok := s.open("a", blob); ok {
		t.Error("a tampered value opened")
	}
	for _, junk := range [][]byte{nil, {5}, {2, 'k', '1'}} {
		if _, ok := s.open("a", junk); ok {
			t.Errorf("junk %v opened", junk)
		}
	}
}

// cutOff is a holder's store that reached Redis for the lease, then lost it:
// every later write fails, as when the instance's Redis operations time out.
type cutOff struct{ state.Store }

func (c *cutOff) Set(context.Context, string, []byte, time.Duration) error {
	return errors.New("i/o timeout")
}

func (c *cutOff) DeleteIf(context.Context, string, []byte) error { return errors.New("i/o timeout") }

// TestHolderThatLosesRedisIsTakenOverSoon: a lease holder whose Redis writes
// fail cannot renew its lease nor publish its answer; a waiter on another
// instance takes over within LeaseTTL, well before the holder's own deadline.
func TestHolderThatLosesRedisIsTakenOverSoon(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	url := v1URL("a", time.Now().Add(time.Hour))
	holderAsked, release := make(chan struct{}), make(chan struct{})
	fc := &fakeClient{script: func(ctx context.Context, n int, _ dms.Request) (dms.Result, error) {
		if n == 1 { // the holder's call hangs until the test ends
			close(holderAsked)
			<-release
		}
		return ready(url), nil
	}}
	lease := 300 * time.Millisecond
	holderStore := &cutOff{newStore()}
	holder := New(fc, Options{AllowedHosts: testAllowed, Store: holderStore, LeaseTTL: lease, Sealer: testSealer(t, "k1")})
	waiter := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), LeaseTTL: lease, Sealer: testSealer(t, "k1")})

	holderDone := make(chan struct{})
	go func() {
		defer close(holderDone)
		_, _ = holder.Resolve(context.Background(), ticket)
	}()
	<-holderAsked

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := waiter.Resolve(ctx, ticket)
	if err != nil || res.Result.URL != url {
		t.Fatalf("waiter: %+v, %v; want the URL from its own DMS call after the lease lapsed", res, err)
	}
	close(release)
	<-holderDone
	fc.wantCalls(t, 2)
}

// TestRenewedLeaseOutlivesLeaseTTL: a holder whose DMS call takes several
// LeaseTTLs keeps its lease by renewing it, so waiters still share its call.
func TestRenewedLeaseOutlivesLeaseTTL(t *testing.T) {
	t.Parallel()
	_, newStore := sharedRedis(t)
	url := v1URL("a", time.Now().Add(time.Hour))
	lease := 150 * time.Millisecond
	asked := make(chan struct{})
	fc := &fakeClient{script: func(ctx context.Context, n int, _ dms.Request) (dms.Result, error) {
		close(asked) // a second call panics: the lease was not kept
		if !sleepCtx(ctx, 4*lease) {
			return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Err: ctx.Err()}
		}
		return ready(url), nil
	}}
	holder := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), LeaseTTL: lease, Sealer: testSealer(t, "k1")})
	waiter := New(fc, Options{AllowedHosts: testAllowed, Store: newStore(), LeaseTTL: lease, Sealer: testSealer(t, "k1")})
	var wg sync.WaitGroup
	wg.Go(func() {
		if res, err := holder.Resolve(context.Background(), ticket); err != nil || res.Result.URL != url {
			t.Errorf("holder: %+v, %v", res, err)
		}
	})
	<-asked
	if res, err := waiter.Resolve(context.Background(), ticket); err != nil || res.Result.URL != url {
		t.Errorf("waiter: %+v, %v", res, err)
	}
	wg.Wait()
	fc.wantCalls(t, 1)
}
