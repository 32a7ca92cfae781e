// Package exports resolves a DMS data-export ticket to a download URL. It
// caches answers for as long as the OSS URL stays valid, lets concurrent asks
// for one ticket share one DMS call (within the process, and across instances
// through a lease in the shared state), spends one DMS budget split between
// caller classes, retries throttling and transient failures with jittered
// backoff inside the caller's deadline, and refuses URLs whose scheme or host
// fail the allow-list (open-redirect prevention, as the OWASP Unvalidated
// Redirects and Forwards Cheat Sheet advises; CWE-601).
package exports

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/state"
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
	CacheSize         int           // answers kept in this process, LRU-evicted; default 10000
	ExpiryMargin      time.Duration // drop a cached URL this long before the OSS URL expires; default 2m
	FallbackTTL       time.Duration // cache life when the URL's expiry cannot be read; default 30s
	NotReadyTTL       time.Duration // how long a "not ready yet" answer is reused; default 5s
	ErrorTTL          time.Duration // how long DMS's unknown-ticket, failed-export and forbidden answers are reused; default 30s
	MaxAttempts       int           // DMS tries per resolve; default 4
	RetryBase         time.Duration // first backoff bound of full-jitter exponential backoff; default 100ms
	RetryMax          time.Duration // largest backoff bound; default 2s
	Reserve           time.Duration // time kept back from the caller's deadline to answer; default 150ms
	CallTimeout       time.Duration // bound of one shared DMS call (all its tries); default 10s
	LeaseTTL          time.Duration // a lease's life past its holder's last renewal, so waiters take over soon from a holder that died or lost Redis; default 1s
	RateLimit         float64       // DMS calls per second for all who share Store; 0 = unlimited
	RateBurst         int           // limiter burst; default 1 when RateLimit is set
	// Shares split RateLimit and RateBurst between caller classes, each
	// class spending its own budget so none starves the others; nil =
	// DefaultShares.
	Shares map[Class]int
	// Store is the state the Service shares with other instances: cached
	// answers, leases, DMS budgets. nil = nothing shared: a Memory of
	// CacheSize keys on Now for leases and budgets, answers in this process.
	Store state.Store
	// Sealer, when set, encrypts and authenticates every cached answer
	// before it reaches Store. Set it whenever Store is shared: the OSS URL
	// is a bearer secret.
	Sealer *Sealer
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

// Class is who asks: each class spends its own share of the DMS budget.
type Class string

// The caller classes.
const (
	ClassClick   Class = "click"   // a person clicking a download link
	ClassWebhook Class = "webhook" // a DMS message hook
	ClassCommand Class = "command" // a chat command or the bearer-token API
)

// DefaultShares gives clicks, which people wait for, most of the budget.
var DefaultShares = map[Class]int{ClassClick: 6, ClassWebhook: 2, ClassCommand: 2}

type classKey struct{}

// WithClass returns a context whose resolves spend class's budget; without
// it a resolve counts as a click.
func WithClass(ctx context.Context, class Class) context.Context {
	return context.WithValue(ctx, classKey{}, class)
}

func classOf(ctx context.Context) Class {
	if c, ok := ctx.Value(classKey{}).(Class); ok {
		return c
	}
	return ClassClick
}

// Service resolves tickets to URLs. It is safe for concurrent use.
type Service struct {
	client Client
	opts   Options
	now    func() time.Time
	rand   func() float64
	store  state.Store
	shared bool    // answers go to store too, not only to local
	seal   *Sealer // nil = answers stored as they are
	// local holds decoded answers until they go stale. A stored answer
	// never changes before then (a flight runs only once it is stale), so
	// a warm instance answers without a round trip to the store.
	local  *lru.Cache[dms.Request, localEntry]
	group  singleflight.Group
	limits map[Class]state.Limit // nil = unlimited
}

// entry is a cached answer, as stored: DMS's result or business error, and
// the clock reading (Unix ns) at which it goes stale.
type entry struct {
	Ready     bool        `json:"r,omitempty"`
	URL       string      `json:"u,omitempty"`
	Tip       string      `json:"t,omitempty"`
	RequestID string      `json:"q,omitempty"`
	Err       *entryError `json:"e,omitempty"`
	Until     int64       `json:"x"`
}

type entryError struct {
	Kind       dms.Kind `json:"k"`
	Code       string   `json:"c,omitempty"`
	Message    string   `json:"m,omitempty"`
	RequestID  string   `json:"q,omitempty"`
	HTTPStatus int      `json:"s,omitempty"`
}

// dmsError is the cached error as callers get it: no cause, no retry hint.
func (e *entryError) dmsError() *dms.Error {
	return &dms.Error{Kind: e.Kind, Code: e.Code, Message: e.Message, RequestID: e.RequestID, HTTPStatus: e.HTTPStatus}
}

// localEntry is an answer in this process: a result or a business error.
type localEntry struct {
	res   dms.Result
	err   *dms.Error
	until time.Time
}

func (e localEntry) answer() (dms.Result, error) {
	if e.err != nil {
		c := *e.err // each caller gets its own copy
		return dms.Result{}, &c
	}
	return e.res, nil
}

// outcome is what one shared call hands to every waiter.
type outcome struct {
	res       dms.Result
	attempts  int
	fromCache bool // a previous call filled the cache just before this one started
	remote    bool // another instance's call answered
	err       error
}

// New returns a Service asking c, with o's zero fields set to their defaults.
func New(c Client, o Options) *Service {
	setDefault(&o.CacheSize, 10000)
	setDefault(&o.ExpiryMargin, 2*time.Minute)
	setDefault(&o.FallbackTTL, 30*time.Second)
	setDefault(&o.NotReadyTTL, 5*time.Second)
	setDefault(&o.ErrorTTL, 30*time.Second)
	setDefault(&o.MaxAttempts, 4)
	setDefault(&o.RetryBase, 100*time.Millisecond)
	setDefault(&o.RetryMax, 2*time.Second)
	setDefault(&o.Reserve, 150*time.Millisecond)
	setDefault(&o.CallTimeout, 10*time.Second)
	setDefault(&o.LeaseTTL, time.Second)
	s := &Service{client: c, opts: o, now: o.Now, rand: o.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	s.store, s.shared = o.Store, o.Store != nil
	if s.store == nil {
		s.store = state.NewMemory(o.CacheSize, s.now)
	}
	// New fails only for a size <= 0, which setDefault rules out.
	s.local, _ = lru.New[dms.Request, localEntry](o.CacheSize)
	s.seal = o.Sealer
	if o.RateLimit > 0 {
		setDefault(&o.RateBurst, 1)
		s.limits = shareLimits(o.RateLimit, o.RateBurst, o.Shares)
	}
	return s
}

// shareLimits splits rate (per second) and burst between the classes by
// weight. Rates are counted per 1000 s so fractions of a call per second
// survive the whole numbers of state.Limit.
func shareLimits(rate float64, burst int, shares map[Class]int) map[Class]state.Limit {
	if len(shares) == 0 {
		shares = DefaultShares
	}
	total := 0
	for _, w := range shares {
		total += max(w, 0)
	}
	out := make(map[Class]state.Limit, len(shares))
	for class, w := range shares {
		f := float64(max(w, 0)) / float64(max(total, 1))
		out[class] = state.Limit{
			Events: max(1, int(math.Round(rate*1000*f))),
			Per:    1000 * time.Second,
			Burst:  max(1, int(math.Round(float64(burst)*f))),
		}
	}
	return out
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Resolve returns DMS's answer for req, from the cache when it is still
// fresh, else from a DMS call shared with every concurrent resolve of req, in
// this process and in every instance sharing the Store. A ready URL has
// passed the redirect policy.
//
// Errors: *PolicyError when the URL fails the policy; *dms.Error otherwise
// (from the cache too, for unknown tickets, failed exports and a forbidden
// role). Throttled, Unavailable and Timeout kinds mean retries ran out (Code
// "LocalRateLimit" for our own DMS budget). When ctx ends, or its deadline
// minus Reserve passes, before the answer, Resolve returns a KindTimeout
// error wrapping the context's cause; the shared call goes on for the
// others. The returned Resolution carries Cache and Attempts on errors too.
func (s *Service) Resolve(ctx context.Context, req dms.Request) (Resolution, error) {
	if res, err, ok := s.cached(ctx, req); ok {
		return Resolution{Result: res, Cache: CacheHit}, err
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
			switch {
			case o.remote:
				res.Cache = CacheShared
			case o.fromCache:
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

// Store keys of one ticket share a hash tag, so they live in one Redis
// Cluster slot.
func ticketKey(req dms.Request, what string) string {
	return "{ticket:" + strconv.FormatInt(req.Tid, 10) + ":" + strconv.FormatInt(req.OrderID, 10) + "}:" + req.Region + ":" + what
}

// budgetKey names the DMS budget of a caller class.
func budgetKey(c Class) string { return "dms-budget:" + string(c) }

// cached returns a fresh cached answer for req: a result, or a DMS business
// error, from this process or else from the shared store. Anything
// unreadable there (another key's seal, a damaged value) is a miss.
func (s *Service) cached(ctx context.Context, req dms.Request) (dms.Result, error, bool) {
	if le, ok := s.local.Get(req); ok {
		if s.now().Before(le.until) {
			res, err := le.answer()
			return res, err, true
		}
		s.local.Remove(req)
	}
	if !s.shared {
		return dms.Result{}, nil, false
	}
	key := ticketKey(req, "answer")
	b, ok, err := s.store.Get(ctx, key)
	if err != nil || !ok {
		return dms.Result{}, nil, false
	}
	if s.seal != nil {
		if b, ok = s.seal.open(key, b); !ok {
			return dms.Result{}, nil, false
		}
	}
	var e entry
	if json.Unmarshal(b, &e) != nil || !s.now().Before(time.Unix(0, e.Until)) {
		return dms.Result{}, nil, false
	}
	le := localEntry{res: dms.Result{RequestID: e.RequestID, Ready: e.Ready, URL: e.URL, TipMessage: e.Tip}, until: time.Unix(0, e.Until)}
	if e.Err != nil {
		le = localEntry{err: e.Err.dmsError(), until: le.until}
	}
	s.local.Add(req, le)
	res, aerr := le.answer()
	return res, aerr, true
}

// Polling bounds of a resolve waiting for another instance's DMS call.
const (
	pollFirst = 5 * time.Millisecond
	pollMax   = 100 * time.Millisecond
)

// flight is the shared call for req. It runs on a context detached from the
// leader's cancellation, so the leader going away does not fail the others.
// Across instances it takes req's lease before asking DMS; while another
// instance holds it, it polls the cache for that instance's answer, and takes
// the lease over if it expires (its holder died) before an answer comes.
func (s *Service) flight(ctx context.Context, req dms.Request, end time.Time) outcome {
	fctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	defer cancel()
	// A call that finished between the caller's cache check and this flight
	// already has the answer.
	if res, err, ok := s.cached(fctx, req); ok {
		return outcome{res: res, err: err, fromCache: true}
	}

	lease, token := ticketKey(req, "lease"), leaseToken()
	for wait := pollFirst; ; wait = min(2*wait, pollMax) {
		// A store error counts as holding the lease: without shared state
		// this instance asks for itself.
		won, err := s.store.SetNX(fctx, lease, token, s.leaseLife(end))
		// A socket deadline can fire before the context notices its own.
		if fctx.Err() != nil || !time.Now().Before(end) {
			return outcome{err: timeoutError(context.DeadlineExceeded), remote: true}
		}
		if won || err != nil {
			break
		}
		if !sleepCtx(fctx, wait) {
			return outcome{err: timeoutError(context.DeadlineExceeded), remote: true}
		}
		if res, err, ok := s.cached(fctx, req); ok {
			return outcome{res: res, err: err, fromCache: true, remote: true}
		}
	}
	stopRenewing := s.renewLease(fctx, lease, token, end)
	defer func() {
		stopRenewing()
		_ = s.store.DeleteIf(context.WithoutCancel(fctx), lease, token)
	}()
	// The previous holder may have answered between our last look and its
	// release of the lease.
	if res, err, ok := s.cached(fctx, req); ok {
		return outcome{res: res, err: err, fromCache: true, remote: true}
	}

	res, attempts, err := s.call(fctx, req, end)
	if err != nil {
		if cacheable(err) {
			s.remember(fctx, req, dms.Result{}, err)
		}
		return outcome{attempts: attempts, err: err}
	}
	if !res.Ready {
		res.URL = "" // never hand out a URL that skipped the policy
	} else if err := checkURL(res.URL, s.opts.AllowedHosts, s.opts.AllowHTTPLoopback); err != nil {
		return outcome{attempts: attempts, err: err}
	}
	s.remember(fctx, req, res, nil)
	return outcome{res: res, attempts: attempts}
}

// leaseLife is how long a lease lives from now: LeaseTTL, never past end.
func (s *Service) leaseLife(end time.Time) time.Duration {
	return max(min(s.opts.LeaseTTL, time.Until(end)), time.Millisecond)
}

// renewLease keeps the lease alive while this instance asks DMS, renewing it
// three times per LeaseTTL. A holder that dies, or whose Redis operations fail
// (its answer then stays in its own memory), stops renewing, so waiters on
// other instances take over within LeaseTTL instead of waiting out the whole
// call. A renewal after the lease was lost may overwrite another holder's
// lease; that costs at most one more DMS call. stop returns once renewing has.
func (s *Service) renewLease(ctx context.Context, lease string, token []byte, end time.Time) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.store.Set(ctx, lease, token, s.leaseLife(end))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// leaseToken identifies one lease holder, so it releases only its own lease.
func leaseToken() []byte {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

// cacheable reports DMS answers that stay true for a while: an unknown
// ticket, a failed export, a role DMS refuses. Caching them keeps a bad link
// clicked in a loop from spending the DMS budget.
func cacheable(err error) bool {
	e, ok := errors.AsType[*dms.Error](err)
	return ok && (e.Kind == dms.KindNotFound || e.Kind == dms.KindBusiness || e.Kind == dms.KindForbidden)
}

// remember caches res until the URL's expiry minus the margin, FallbackTTL
// when that is unknown, NotReadyTTL for "no file yet", or ErrorTTL for a
// cacheable error. A failing store only costs the next resolve a DMS call.
func (s *Service) remember(ctx context.Context, req dms.Request, res dms.Result, err error) {
	now := s.now()
	e := entry{Ready: res.Ready, URL: res.URL, Tip: res.TipMessage, RequestID: res.RequestID}
	until := now.Add(s.opts.NotReadyTTL)
	switch de, _ := errors.AsType[*dms.Error](err); {
	case de != nil:
		until = now.Add(s.opts.ErrorTTL)
		e.Err = &entryError{Kind: de.Kind, Code: de.Code, Message: de.Message, RequestID: de.RequestID, HTTPStatus: de.HTTPStatus}
	case res.Ready:
		until = now.Add(s.opts.FallbackTTL)
		if exp, ok := ParseExpiry(res.URL); ok {
			until = exp.Add(-s.opts.ExpiryMargin)
		}
	}
	ttl := until.Sub(now)
	if ttl <= 0 {
		return
	}
	le := localEntry{res: res, until: until}
	if e.Err != nil {
		le = localEntry{err: e.Err.dmsError(), until: until}
	}
	s.local.Add(req, le)
	if !s.shared {
		return
	}
	e.Until = until.UnixNano()
	b, jerr := json.Marshal(e)
	if jerr != nil {
		return
	}
	key := ticketKey(req, "answer")
	if s.seal != nil {
		b = s.seal.seal(key, b)
	}
	_ = s.store.Set(ctx, key, b, ttl)
}

// spend takes one DMS call from the caller class's budget, waiting for it
// when that fits before end.
func (s *Service) spend(ctx context.Context, end time.Time) error {
	class := classOf(ctx)
	l, ok := s.limits[class]
	if !ok {
		return nil
	}
	for {
		d, err := s.store.Allow(ctx, budgetKey(class), l)
		if err != nil || d.Allowed {
			return nil // no budget to consult is no reason to fail a click
		}
		if time.Now().Add(d.RetryAfter).After(end) {
			return fmt.Errorf("the %s share of DMS_RATE_LIMIT is spent for %v", class, d.RetryAfter.Round(time.Millisecond))
		}
		if !sleepCtx(ctx, d.RetryAfter) {
			return context.Cause(ctx)
		}
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
		if err := s.spend(ctx, end); err != nil {
			return dms.Result{}, attempts, &dms.Error{Kind: dms.KindThrottled, Code: "LocalRateLimit",
				Message: "DMS call budget spent", Err: err}
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
