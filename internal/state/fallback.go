package state

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Labels of the store a request used, for its log line.
const (
	LabelRedis    = "redis"    // every operation reached Redis
	LabelMemory   = "memory"   // no Redis configured: this instance's memory
	LabelDegraded = "degraded" // Redis failed or was skipped; this instance's memory answered
)

const (
	// probeEvery is how long the Fallback skips a failed primary before it
	// tries it again, so an outage costs one timeout per probe, not one per
	// operation.
	probeEvery = time.Second
	// warnEvery bounds the warnings about a failing primary.
	warnEvery = time.Minute
)

// Fallback is a Store that uses a primary (Redis) and, on any of its errors
// (down, slow, full, refusing the password), answers from a backup Memory of
// this instance instead: a request never fails, and never waits longer than
// one primary timeout, because of shared state. What happens meanwhile is per
// instance, as without Redis.
//
// After a failure the primary is skipped for a second, then tried again. Within
// one request (a context carrying a Usage), a failure sends the rest of the
// request's operations to the backup at once.
type Fallback struct {
	primary Store
	backup  Store
	*health
}

// health is what the Fallbacks over one primary know about it.
type health struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	skipUntil time.Time // primary skipped until then
	warnedAt  time.Time // last warning; zero = none yet
	muted     int       // failures since the last warning
}

// NewFallback returns a Store using primary, and backup when primary fails.
// Warnings go to log (nil discards) at most once a minute.
func NewFallback(primary, backup Store, log *slog.Logger) *Fallback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fallback{primary: primary, backup: backup, health: &health{log: log, now: time.Now}}
}

// WithBackup returns a Fallback over the same primary with another backup
// (one Memory per user, each with its own capacity), sharing what f knows of
// the primary's health and its once-a-minute warning.
func (f *Fallback) WithBackup(backup Store) *Fallback {
	return &Fallback{primary: f.primary, backup: backup, health: f.health}
}

// Usage records which store one request's operations reached. It is safe for
// concurrent use.
type Usage struct {
	degraded atomic.Bool
}

type usageKey struct{}

// WithUsage returns a context whose Store operations report to the returned
// Usage, and which stop trying the primary after its first failure.
func WithUsage(ctx context.Context) (context.Context, *Usage) {
	u := &Usage{}
	return context.WithValue(ctx, usageKey{}, u), u
}

// Degraded reports whether an operation fell back to the backup.
func (u *Usage) Degraded() bool { return u != nil && u.degraded.Load() }

// Label is the request's log label given the label of the configured store
// (LabelRedis or LabelMemory): LabelDegraded once anything fell back.
func (u *Usage) Label(configured string) string {
	if u.Degraded() {
		return LabelDegraded
	}
	return configured
}

func usageOf(ctx context.Context) *Usage {
	u, _ := ctx.Value(usageKey{}).(*Usage)
	return u
}

// use picks the store for one operation.
func (f *Fallback) use(ctx context.Context) (Store, bool) {
	if usageOf(ctx).Degraded() {
		return f.backup, false
	}
	f.mu.Lock()
	skip := f.now().Before(f.skipUntil)
	f.mu.Unlock()
	if skip {
		if u := usageOf(ctx); u != nil {
			u.degraded.Store(true)
		}
		return f.backup, false
	}
	return f.primary, true
}

// failed records a primary failure: the request goes on with the backup, the
// primary is skipped for a while, and a warning says why at most once a
// minute.
func (f *health) failed(ctx context.Context, op string, err error) {
	if u := usageOf(ctx); u != nil {
		u.degraded.Store(true)
	}
	if ctx.Err() != nil {
		return // the caller ran out of time: no news about the primary
	}
	now := f.now()
	f.mu.Lock()
	f.skipUntil = now.Add(probeEvery)
	f.muted++
	warn := f.warnedAt.IsZero() || now.Sub(f.warnedAt) >= warnEvery
	muted := f.muted
	if warn {
		f.warnedAt, f.muted = now, 0
	}
	f.mu.Unlock()
	if warn {
		f.log.LogAttrs(ctx, slog.LevelWarn, "shared state unavailable, using this instance's memory",
			slog.String("op", op), slog.String("reason", Reason(err)), slog.Int("failures", muted))
	}
}

// Get implements Store.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, bool, error) {
	s, primary := f.use(ctx)
	v, ok, err := s.Get(ctx, key)
	if err != nil && primary {
		f.failed(ctx, "get", err)
		return f.backup.Get(ctx, key)
	}
	return v, ok, err
}

// Set implements Store.
func (f *Fallback) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s, primary := f.use(ctx)
	err := s.Set(ctx, key, value, ttl)
	if err != nil && primary {
		f.failed(ctx, "set", err)
		return f.backup.Set(ctx, key, value, ttl)
	}
	return err
}

// SetNX implements Store.
func (f *Fallback) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	s, primary := f.use(ctx)
	ok, err := s.SetNX(ctx, key, value, ttl)
	if err != nil && primary {
		f.failed(ctx, "setnx", err)
		return f.backup.SetNX(ctx, key, value, ttl)
	}
	return ok, err
}

// DeleteIf implements Store. A lease taken in one store is released there
// only; the other copy expires on its own.
func (f *Fallback) DeleteIf(ctx context.Context, key string, value []byte) error {
	s, primary := f.use(ctx)
	err := s.DeleteIf(ctx, key, value)
	if err != nil && primary {
		f.failed(ctx, "deleteif", err)
		return f.backup.DeleteIf(ctx, key, value)
	}
	return err
}

// Allow implements Store. While degraded, each instance spends its own copy
// of the budget, as without Redis.
func (f *Fallback) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	s, primary := f.use(ctx)
	d, err := s.Allow(ctx, key, l)
	if err != nil && primary {
		f.failed(ctx, "allow", err)
		return f.backup.Allow(ctx, key, l)
	}
	return d, err
}

// Reason says in a few words why a Redis operation failed, for a warning: it
// never holds a password, and names the setting to check.
func Reason(err error) string {
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "no answer within REDIS_TIMEOUT"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"):
		return "Redis refused the credentials in REDIS_URL"
	case strings.HasPrefix(msg, "OOM"):
		return "Redis is out of memory (maxmemory reached)"
	case strings.HasPrefix(msg, "NOPERM"):
		return "the Redis user lacks a permission (ACL)"
	case strings.HasPrefix(msg, "READONLY"):
		return "Redis is a read-only replica"
	case strings.HasPrefix(msg, "LOADING"), strings.HasPrefix(msg, "BUSY"), strings.HasPrefix(msg, "MASTERDOWN"):
		return "Redis is not ready: " + clip(msg)
	case strings.Contains(msg, "connection refused"):
		return "cannot connect: connection refused"
	case errors.As(err, new(*net.OpError)):
		return "cannot connect"
	}
	return "Redis error: " + clip(msg)
}

// clip keeps a message short; Redis and go-redis messages never carry the
// password or the URL.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
