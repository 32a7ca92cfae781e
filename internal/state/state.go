// Package state holds what Function Compute instances must share: values with
// a lifetime (cached answers, revocations), leases and once-only markers
// (coalescing, webhook dedupe, replay memory) and rate budgets. FC 3.0 gives a
// go1 instance one request at a time, so a burst lands on many instances and
// anything kept in one process is per instance; a Store backed by Redis (Tair
// in production) is shared by all of them, Memory by one process only.
//
// Keys are chosen by the callers. A Store may add a prefix. Keys that one
// operation must see together (one ticket's answer and lease) share a Redis
// Cluster hash tag, e.g. "{order:3000/5461234}:url"; no operation spans keys.
package state

import (
	"context"
	"time"
)

// Store is shared state with per-key lifetimes. Every method is safe for
// concurrent use. Errors are the backend's (Redis down, slow, refusing);
// callers degrade rather than fail a request on them.
type Store interface {
	// Get returns the value stored under key; ok is false when there is none
	// or it has expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key for ttl (ttl > 0), replacing any value.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value under key for ttl only when key holds nothing, and
	// reports whether it did: a lease, or a marker that something happened once.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (stored bool, err error)
	// DeleteIf removes key when it still holds value, so the owner of a lease
	// releases it without freeing one another instance took after it expired.
	DeleteIf(ctx context.Context, key string, value []byte) error
	// Allow spends one event from the budget named key (GCRA: l.Events per
	// l.Per, bursts up to l.Burst) and says whether it was allowed.
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}

// Limit is a rate budget: Events per Per on average, up to Burst at once.
// Events <= 0 means unlimited.
type Limit struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Decision is the answer of Allow.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when not allowed: how long until one event is
}
