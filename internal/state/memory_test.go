package state

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// clock is a settable time source for the tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryValuesExpire(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(0, c.now)
	if err := m.Set(ctx, "k", []byte("v1"), time.Second); err != nil {
		t.Fatal(err)
	}
	c.advance(999 * time.Millisecond)
	if got, ok, _ := m.Get(ctx, "k"); !ok || string(got) != "v1" {
		t.Fatalf("Get before expiry = %q, %v; want v1, true", got, ok)
	}
	c.advance(time.Millisecond)
	if got, ok, _ := m.Get(ctx, "k"); ok {
		t.Fatalf("Get at expiry = %q, true; want nothing", got)
	}
}

func TestMemorySetNXAndDeleteIf(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(0, c.now)
	if ok, _ := m.SetNX(ctx, "lease", []byte("a"), time.Second); !ok {
		t.Fatal("first SetNX refused")
	}
	if ok, _ := m.SetNX(ctx, "lease", []byte("b"), time.Second); ok {
		t.Fatal("second SetNX stored over a live value")
	}
	_ = m.DeleteIf(ctx, "lease", []byte("b"))
	if got, ok, _ := m.Get(ctx, "lease"); !ok || string(got) != "a" {
		t.Fatalf("DeleteIf with another owner's value removed the lease: %q, %v", got, ok)
	}
	_ = m.DeleteIf(ctx, "lease", []byte("a"))
	if _, ok, _ := m.Get(ctx, "lease"); ok {
		t.Fatal("DeleteIf by the owner left the lease")
	}
	c.advance(2 * time.Second)
	if ok, _ := m.SetNX(ctx, "lease", []byte("c"), time.Second); !ok {
		t.Fatal("SetNX refused after the value was deleted")
	}
	c.advance(time.Second)
	if ok, _ := m.SetNX(ctx, "lease", []byte("d"), time.Second); !ok {
		t.Fatal("SetNX refused over an expired value")
	}
}

func TestMemoryCapacityBoundsKeys(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(3, nil)
	for i := range 10 {
		_ = m.Set(ctx, fmt.Sprint(i), []byte("x"), time.Hour)
	}
	kept := 0
	for i := range 10 {
		if _, ok, _ := m.Get(ctx, fmt.Sprint(i)); ok {
			kept++
		}
	}
	if kept != 3 {
		t.Fatalf("kept %d keys, want the capacity 3", kept)
	}
	if _, ok, _ := m.Get(ctx, "9"); !ok {
		t.Fatal("the most recent key was evicted")
	}
}

func TestMemoryAllowGCRA(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(0, c.now)
	l := Limit{Events: 10, Per: time.Second, Burst: 3} // one event per 100ms, 3 at once
	for i := range 3 {
		if d, _ := m.Allow(ctx, "b", l); !d.Allowed {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	d, _ := m.Allow(ctx, "b", l)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("4th event at once = %+v; want refused, retry after 100ms", d)
	}
	if d, _ := m.Allow(ctx, "other", l); !d.Allowed {
		t.Fatal("a separate budget was charged")
	}
	c.advance(100 * time.Millisecond)
	if d, _ := m.Allow(ctx, "b", l); !d.Allowed {
		t.Fatal("refused after the interval passed")
	}
	if d, _ := m.Allow(ctx, "b", l); d.Allowed {
		t.Fatal("a second event within the interval was allowed")
	}
	if d, _ := m.Allow(ctx, "b", Limit{}); !d.Allowed {
		t.Fatal("an unlimited budget refused")
	}
}
