// Package exports resolves a DMS data-export ticket to a download URL. It
// caches answers for as long as the OSS URL stays valid, lets concurrent asks
// for one ticket share one DMS call, retries throttling and transient failures
// with jittered backoff inside the caller's deadline, and refuses URLs whose
// scheme or host fail the allow-list (open-redirect prevention, as the OWASP
// Unvalidated Redirects and Forwards Cheat Sheet advises; CWE-601).
package exports

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/dms-export-link/dms-export-link/internal/dms"
)

// Client asks DMS for a ticket's download URL. Its errors are *dms.Error. It
// must return once ctx is done, or the shared call outlives its deadline.
type Client interface {
	DownloadURL(ctx context.Context, req dms.Request) (dms.Result, error)
}

// Options configure a Service. Zero values take the defaults given per field.
type Options struct {
	AllowedHosts      []string      // exact hosts or "*.suffix" patterns (lower-case); a URL's host must match one
	AllowHTTPLoopback bool          // allow plain http (and any port) only when the host is a loopback IP or "localhost" (demo/tests)
	CacheSize         int           // entries, LRU-evicted; default 10000
	ExpiryMargin      time.Duration // drop a cached URL this long before the OSS URL expires; default 2m
	FallbackTTL       time.Duration // cache life when the URL's expiry cannot be read; default 30s
	NotReadyTTL       time.Duration // how long a "not ready yet" answer is reused; default 5s
	MaxAttempts       int           // DMS tries per resolve; default 4
	RetryBase         time.Duration // first backoff bound of full-jitter exponential backoff; default 100ms
	RetryMax          time.Duration // largest backoff bound; default 2s
	Reserve           time.Duration // time kept back from the caller's deadline to answer; default 150ms
	CallTimeout       time.Duration // bound of one shared DMS call (all its tries); default 10s
	RateLimit         float64       // DMS calls per second per instance; 0 = unlimited
	RateBurst         int           // limiter burst; default 1 when RateLimit is set
	// Now is the clock for cache expiry (compared with the URL's wall-clock
	// expiry); nil = time.Now. Deadlines and backoff sleeps follow the real
	// clock because context deadlines do.
	Now  func() time.Time
	Rand func() float64 // jitter source in [0,1); nil = math/rand/v2
}

// CacheStatus says where a Resolution came from.
type CacheStatus string

// Cache statuses, logged per request.
const (
	CacheHit    CacheStatus = "hit"    // answered from the cache, no DMS call
	CacheMiss   CacheStatus = "miss"   // this resolve led the DMS call
	CacheShared CacheStatus = "shared" // this resolve waited for another one's DMS call
)

// Resolution is the answer to Resolve.
type Resolution struct {
	Result   dms.Result  // DMS's answer; URL is set only when Result.Ready
	Cache    CacheStatus // where it came from
	Attempts int         // DMS calls this resolve made; 0 on hit/shared
}

// Service resolves tickets to URLs. It is safe for concurrent use.
type Service struct {
	client  Client
	opts    Options
	now     func() time.Time
	rand    func() float64
	cache   *lru.Cache[dms.Request, entry]
	group   singleflight.Group
	limiter *rate.Limiter // nil = unlimited
}

// entry is a cached answer and the clock reading at which it goes stale.
type entry struct {
	res   dms.Result
	until time.Time
}

// outcome is what one shared call hands to every waiter.
type outcome struct {
	res       dms.Result
	attempts  int
	fromCache bool // a previous call filled the cache just before this one started
	err       error
}

// New returns a Service asking c, with o's zero fields set to their defaults.
func New(c Client, o Options) *Service {
	setDefault(&o.CacheSize, 10000)
	setDefault(&o.ExpiryMargin, 2*time.Minute)
	setDefault(&o.FallbackTTL, 30*time.Second)
	setDefault(&o.NotReadyTTL, 5*time.Second)
	setDefault(&o.MaxAttempts, 4)
	setDefault(&o.RetryBase, 100*time.Millisecond)
	setDefault(&o.RetryMax, 2*time.Second)
	setDefault(&o.Reserve, 150*time.Millisecond)
	setDefault(&o.CallTimeout, 10*time.Second)
	s := &Service{client: c, opts: o, now: o.Now, rand: o.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	// New fails only for a size <= 0, which setDefault rules out.
	s.cache, _ = lru.New[dms.Request, entry](o.CacheSize)
	if o.RateLimit > 0 {
		setDefault(&o.RateBurst, 1)
		s.limiter = rate.NewLimiter(rate.Limit(o.RateLimit), o.RateBurst)
	}
	return s
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Resolve returns DMS's answer for req, from the cache when it is still
// fresh, else from a DMS call shared with every concurrent resolve of req.
// A ready URL has passed the redirect policy.
//
// Errors: *PolicyError when the URL fails the policy; *dms.Error otherwise.
// Throttled, Unavailable and Timeout kinds mean retries ran out (Code
// "LocalRateLimit" for this instance's own limiter). When ctx ends, or its
// deadline minus Reserve passes, before the answer, Resolve returns a
// KindTimeout error wrapping the context's cause; the shared call goes on for
// the others. The returned Resolution carries Cache and Attempts on errors too.
func (s *Service) Resolve(ctx context.Context, req dms.Request) (Resolution, error) {
	if res, ok := s.cached(req); ok {
		return Resolution{Result: res, Cache: CacheHit}, nil
	}

	if ctx.Err() != nil {
		return Resolution{Cache: CacheMiss}, timeoutError(context.Cause(ctx))
	}
	// The shared call ends when the leader must answer, but never later than
	// CallTimeout, so a caller without deadline cannot pin it forever.
	now := time.Now()
	callEnd := now.Add(s.opts.CallTimeout)
	var giveUp <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		answerBy := dl.Add(-s.opts.Reserve)
		if !answerBy.After(now) {
			return Resolution{Cache: CacheMiss}, timeoutError(context.DeadlineExceeded)
		}
		if answerBy.Before(callEnd) {
			callEnd = answerBy
		}
		t := time.NewTimer(answerBy.Sub(now))
		defer t.Stop()
		giveUp = t.C
	}

	// Only this resolve's closure sets leader; it is read concurrently when
	// the caller gives up, hence atomic.
	var leader atomic.Bool
	ch := s.group.DoChan(flightKey(req), func() (any, error) {
		leader.Store(true)
		return s.flight(ctx, req, callEnd), nil
	})
	select {
	case r := <-ch:
		o, _ := r.Val.(outcome)
		res := Resolution{Result: o.res, Cache: CacheShared}
		if leader.Load() {
			res.Cache, res.Attempts = CacheMiss, o.attempts
			if o.fromCache {
				res.Cache = CacheHit
			}
		}
		return res, o.err
	case <-ctx.Done():
		return Resolution{Cache: gaveUpStatus(&leader)}, timeoutError(context.Cause(ctx))
	case <-giveUp:
		return Resolution{Cache: gaveUpStatus(&leader)}, timeoutError(context.DeadlineExceeded)
	}
}

func gaveUpStatus(leader *atomic.Bool) CacheStatus {
	if leader.Load() {
		return CacheMiss
	}
	return CacheShared
}

func timeoutError(cause error) *dms.Error {
	return &dms.Error{Kind: dms.KindTimeout, Message: "no answer from DMS in time", Err: cause}
}

// flightKey encodes a Request for singleflight; only Region can hold any
// byte, so it goes last.
func flightKey(req dms.Request) string {
	return strconv.FormatInt(req.Tid, 10) + "/" + strconv.FormatInt(req.OrderID, 10) + "/" + req.Region
}

// cached returns a fresh cached answer for req.
func (s *Service) cached(req dms.Request) (dms.Result, bool) {
	e, ok := s.cache.Get(req)
	if !ok || !s.now().Before(e.until) {
		return dms.Result{}, false
	}
	return e.res, true
}

// flight is the shared call for req. It runs on a context detached from the
// leader's cancellation, so the leader going away does not fail the others.
func (s *Service) flight(ctx context.Context, req dms.Request, end time.Time) outcome {
	// A call that finished between the caller's cache check and this flight
	// already has the answer. Inside the flight nothing else writes req's
	// entry, so a stale one can be removed safely.
	if res, ok := s.cached(req); ok {
		return outcome{res: res, fromCache: true}
	}
	s.cache.Remove(req)

	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	defer cancel()
	res, attempts, err := s.call(fctx, req, end)
	if err != nil {
		return outcome{attempts: attempts, err: err}
	}
	if !res.Ready {
		res.URL = "" // never hand out a URL that skipped the policy
	} else if err := checkURL(res.URL, s.opts.AllowedHosts, s.opts.AllowHTTPLoopback); err != nil {
		return outcome{attempts: attempts, err: err}
	}
	s.store(req, res)
	return outcome{res: res, attempts: attempts}
}

// store caches res until the URL's expiry minus the margin, FallbackTTL when
// that is unknown, or NotReadyTTL for "no file yet".
func (s *Service) store(req dms.Request, res dms.Result) {
	now := s.now()
	until := now.Add(s.opts.NotReadyTTL)
	if res.Ready {
		until = now.Add(s.opts.FallbackTTL)
		if exp, ok := ParseExpiry(res.URL); ok {
			until = exp.Add(-s.opts.ExpiryMargin)
		}
	}
	if until.After(now) {
		s.cache.Add(req, entry{res: res, until: until})
	}
}

// call asks DMS up to MaxAttempts times, retrying retryable kinds only, and
// stops early when the next try could not finish by end.
func (s *Service) call(ctx context.Context, req dms.Request, end time.Time) (dms.Result, int, error) {
	var (
		last     *dms.Error
		lastTook time.Duration
		attempts int
	)
	for attempts < s.opts.MaxAttempts {
		if attempts > 0 {
			sleep := s.backoff(attempts-1, last.RetryAfter)
			if time.Now().Add(sleep + lastTook).After(end) {
				break
			}
			if !sleepCtx(ctx, sleep) {
				break
			}
		}
		if s.limiter != nil {
			if err := s.limiter.Wait(ctx); err != nil {
				return dms.Result{}, attempts, &dms.Error{Kind: dms.KindThrottled, Code: "LocalRateLimit",
					Message: "local DMS call rate exceeded", Err: err}
			}
		}
		start := time.Now()
		res, err := s.client.DownloadURL(ctx, req)
		lastTook = time.Since(start)
		attempts++
		if err == nil {
			return res, attempts, nil
		}
		last = asDMSError(err)
		if !last.Kind.Retryable() {
			break
		}
	}
	return dms.Result{}, attempts, last
}

// backoff is full jitter: a uniform draw below min(RetryMax, RetryBase*2^retry),
// raised to DMS's Retry-After hint when that is longer.
func (s *Service) backoff(retry int, retryAfter time.Duration) time.Duration {
	bound := s.opts.RetryBase
	for i := 0; i < retry && bound < s.opts.RetryMax; i++ {
		bound *= 2
	}
	bound = min(bound, s.opts.RetryMax)
	f := min(max(s.rand(), 0), 1)
	return max(time.Duration(f*float64(bound)), retryAfter)
}

// sleepCtx waits d, or reports false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// asDMSError keeps a client's *dms.Error and classifies anything else.
func asDMSError(err error) *dms.Error {
	if e, ok := errors.AsType[*dms.Error](err); ok {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &dms.Error{Kind: dms.KindTimeout, Err: err}
	}
	return &dms.Error{Kind: dms.KindUnknown, Err: err}
}
