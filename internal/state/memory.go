package state

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMemoryCapacity is the number of keys a Memory keeps when its
// capacity is not set.
const DefaultMemoryCapacity = 100000

// Memory is a Store in one process: what one FC instance remembers. It holds
// at most its capacity of keys, forgetting the least recently used first, so a
// flood of made-up keys cannot grow it without bound.
type Memory struct {
	now func() time.Time

	mu   sync.Mutex
	vals *simplelru.LRU[string, memValue]
	tats *simplelru.LRU[string, time.Time] // GCRA: theoretical arrival time per budget
}

type memValue struct {
	v     []byte
	until time.Time
}

// NewMemory returns an empty Memory holding up to capacity keys (<= 0:
// DefaultMemoryCapacity) and budgets. now is its clock; nil means time.Now.
func NewMemory(capacity int, now func() time.Time) *Memory {
	if capacity <= 0 {
		capacity = DefaultMemoryCapacity
	}
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now}
	// NewLRU fails only for a size <= 0, ruled out above.
	m.vals, _ = simplelru.NewLRU[string, memValue](capacity, nil)
	m.tats, _ = simplelru.NewLRU[string, time.Time](capacity, nil)
	return m
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.live(key)
	if !ok {
		return nil, false, nil
	}
	return bytes.Clone(v.v), true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals.Add(key, memValue{v: bytes.Clone(value), until: m.now().Add(ttl)})
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live(key); ok {
		return false, nil
	}
	m.vals.Add(key, memValue{v: bytes.Clone(value), until: m.now().Add(ttl)})
	return true, nil
}

// DeleteIf implements Store.
func (m *Memory) DeleteIf(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.live(key); ok && bytes.Equal(v.v, value) {
		m.vals.Remove(key)
	}
	return nil
}

// Allow implements Store with GCRA, the algorithm Redis-side limiters use, so
// both stores answer a budget alike.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Decision, error) {
	if l.Events <= 0 {
		return Decision{Allowed: true}, nil
	}
	interval := l.Per / time.Duration(l.Events)
	burst := max(l.Burst, 1)
	tolerance := interval * time.Duration(burst-1)

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tat, ok := m.tats.Get(key)
	if !ok || tat.Before(now) {
		tat = now
	}
	if earliest := tat.Add(-tolerance); now.Before(earliest) {
		return Decision{RetryAfter: earliest.Sub(now)}, nil
	}
	m.tats.Add(key, tat.Add(interval))
	return Decision{Allowed: true}, nil
}

// live returns key's value when it has not expired, dropping it when it has.
// m.mu must be held.
func (m *Memory) live(key string) (memValue, bool) {
	v, ok := m.vals.Get(key)
	if !ok {
		return memValue{}, false
	}
	if !m.now().Before(v.until) {
		m.vals.Remove(key)
		return memValue{}, false
	}
	return v, true
}
