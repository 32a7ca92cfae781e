package notify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults for the zero fields of an [Announcer].
const (
	DefaultMaxAttempts = 3
	DefaultRetryBase   = 500 * time.Millisecond
	DefaultWindow      = 24 * time.Hour
	DefaultCapacity    = 10000
)

// Delivery is the outcome of announcing one message on one robot.
type Delivery struct {
	Robot    string // the robot's Name
	Attempts int    // how many times Send was called
	Err      error  // the last attempt's error (a *SendError or a context error); nil means delivered
}

// Announcer sends each ticket's announcement to every robot, once per ticket
// per Window, even when DMS delivers the same webhook several times.
//
// The fields are configuration: set them before the first Announce and do not
// change them afterwards. The zero values of the numeric fields mean the
// Default* constants; Now nil means time.Now; Logger nil discards.
type Announcer struct {
	Robots      []Robot
	MaxAttempts int           // Send calls per robot per announcement, at least 1
	RetryBase   time.Duration // wait before the 2nd attempt; doubled for each further one
	Window      time.Duration // how long a delivered announcement suppresses repeats
	Capacity    int           // how many tickets are remembered; the least recently seen are forgotten first
	Now         func() time.Time
	Logger      *slog.Logger

	mu   sync.Mutex
	seen *simplelru.LRU[int64, *announcement]
}

// announcement is what is remembered about one ticket.
type announcement struct {
	at        time.Time // when it was first attempted; the window starts here
	delivered []bool    // per index of Robots
	inFlight  bool
}

// Announce sends m to every robot that has not yet received it for
// m.OrderID within the window, all robots concurrently, retrying failures with
// exponential backoff while ctx allows (a retry that would not start before
// ctx's deadline is not attempted).
//
// It returns one Delivery per robot it tried, in the order of Robots.
// duplicate is true, and nothing is sent, when every robot already received
// this ticket's announcement within the window, or when another Announce for
// the ticket is still running. Robots that failed are not remembered as
// delivered, so a later call (a webhook redelivery) tries them again; robots
// that succeeded are not sent to again.
func (a *Announcer) Announce(ctx context.Context, m Message) (deliveries []Delivery, duplicate bool) {
	if len(a.Robots) == 0 {
		return nil, false
	}
	rec, pending, duplicate := a.claim(m.OrderID)
	if duplicate {
		a.logger().LogAttrs(ctx, slog.LevelInfo, "announcement suppressed as duplicate",
			slog.Int64("orderId", m.OrderID))
		return nil, true
	}

	deliveries = make([]Delivery, len(pending))
	var wg sync.WaitGroup
	for i, idx := range pending {
		wg.Go(func() { deliveries[i] = a.deliver(ctx, a.Robots[idx], m) })
	}
	wg.Wait()

	a.settle(m.OrderID, rec, pending, deliveries)
	for _, d := range deliveries {
		level, msg := slog.LevelInfo, "announcement delivered"
		attrs := []slog.Attr{slog.Int64("orderId", m.OrderID), slog.String("robot", d.Robot), slog.Int("attempts", d.Attempts)}
		if d.Err != nil {
			level, msg = slog.LevelWarn, "announcement failed"
			attrs = append(attrs, slog.String("error", d.Err.Error()))
		}
		a.logger().LogAttrs(ctx, level, msg, attrs...)
	}
	return deliveries, false
}

// claim finds or creates the ticket's record, marks it in flight and returns
// the indexes of the robots still to be sent to.
func (a *Announcer) claim(orderID int64) (rec *announcement, pending []int, duplicate bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen, _ = simplelru.NewLRU[int64, *announcement](a.capacity(), nil)
	}
	rec, ok := a.seen.Get(orderID)
	if ok && now.Sub(rec.at) >= a.window() {
		a.seen.Remove(orderID)
		ok = false
	}
	if !ok {
		rec = &announcement{at: now, delivered: make([]bool, len(a.Robots))}
		a.seen.Add(orderID, rec)
	}
	if rec.inFlight {
		return nil, nil, true
	}
	for i, done := range rec.delivered {
		if !done {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return nil, nil, true
	}
	rec.inFlight = true
	return rec, pending, false
}

// settle records the robots that received the message. A record with no
// delivery at all is dropped, so the ticket counts as never announced.
func (a *Announcer) settle(orderID int64, rec *announcement, pending []int, deliveries []Delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.inFlight = false
	anyDelivered := false
	for i, idx := range pending {
		if deliveries[i].Err == nil {
			rec.delivered[idx] = true
		}
	}
	for _, done := range rec.delivered {
		anyDelivered = anyDelivered || done
	}
	if cur, ok := a.seen.Peek(orderID); !anyDelivered && ok && cur == rec {
		a.seen.Remove(orderID)
	}
}

// deliver sends m on r, retrying what can succeed on retry.
func (a *Announcer) deliver(ctx context.Context, r Robot, m Message) Delivery {
	d := Delivery{Robot: r.Name()}
	wait := a.retryBase()
	for {
		d.Attempts++
		d.Err = r.Send(ctx, m)
		if d.Err == nil || d.Attempts >= a.maxAttempts() || !retryable(d.Err) {
			return d
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return d
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return d
		case <-t.C:
		}
		wait *= 2
	}
}

// retryable reports whether sending again may succeed.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *SendError
	if errors.As(err, &se) {
		return !se.Permanent
	}
	return true
}

func (a *Announcer) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Announcer) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

func (a *Announcer) maxAttempts() int {
	if a.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return a.MaxAttempts
}

func (a *Announcer) retryBase() time.Duration {
	if a.RetryBase <= 0 {
		return DefaultRetryBase
	}
	return a.RetryBase
}

func (a *Announcer) window() time.Duration {
	if a.Window <= 0 {
		return DefaultWindow
	}
	return a.Window
}

func (a *Announcer) capacity() int {
	if a.Capacity <= 0 {
		return DefaultCapacity
	}
	return a.Capacity
}
