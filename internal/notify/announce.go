package notify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/state"
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
// per Window, even when DMS delivers the same webhook several times, to one
// instance or to several (with a shared Store).
//
// The fields are configuration: set them before the first Announce and do not
// change them afterwards. The zero values of the numeric fields mean the
// Default* constants; Now nil means time.Now; Logger nil discards.
type Announcer struct {
	Robots      []Robot
	MaxAttempts int           // Send calls per robot per announcement, at least 1
	RetryBase   time.Duration // wait before the 2nd attempt; doubled for each further one
	Window      time.Duration // how long a delivery to a robot suppresses repeats to it
	Capacity    int           // keys of the default in-memory Store; the least recently used are forgotten first
	// Store remembers, per ticket, which announcement is in flight (SET NX,
	// until the Announce's deadline) and which robots received it (for the
	// window). nil = a Memory of Capacity keys, this instance only.
	Store  state.Store
	Now    func() time.Time // the default Store's clock
	Logger *slog.Logger

	once  sync.Once
	store state.Store
}

// inFlightFor bounds the in-flight marker of an Announce without deadline;
// an instance that dies while announcing holds the ticket no longer.
const inFlightFor = time.Minute

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
	pending, release, duplicate := a.claim(ctx, m.OrderID)
	if duplicate {
		a.logger().LogAttrs(ctx, slog.LevelInfo, "announcement suppressed as duplicate",
			slog.Int64("orderId", m.OrderID))
		return nil, true
	}
	defer release()

	deliveries = make([]Delivery, len(pending))
	var wg sync.WaitGroup
	for i, idx := range pending {
		wg.Go(func() { deliveries[i] = a.deliver(ctx, a.Robots[idx], m) })
	}
	wg.Wait()

	a.settle(ctx, m.OrderID, pending, deliveries)
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

// Keys of one ticket share a hash tag (one Redis Cluster slot).
func announceKey(orderID int64, what string) string {
	return "{announce:" + strconv.FormatInt(orderID, 10) + "}:" + what
}

// robotKey marks one robot as delivered; the index keeps two robots of one
// kind apart.
func (a *Announcer) robotKey(orderID int64, idx int) string {
	return announceKey(orderID, "robot:"+strconv.Itoa(idx)+":"+a.Robots[idx].Name())
}

// claim marks the ticket in flight (SET NX, so one instance at a time) and
// returns the indexes of the robots still to be sent to, with the release of
// the mark. A store that fails is no reason not to announce.
func (a *Announcer) claim(ctx context.Context, orderID int64) (pending []int, release func(), duplicate bool) {
	st := a.stateStore()
	hold := inFlightFor
	if dl, ok := ctx.Deadline(); ok {
		hold = max(time.Until(dl), time.Millisecond)
	}
	key, token := announceKey(orderID, "in-flight"), claimToken()
	if won, err := st.SetNX(ctx, key, token, hold); !won && err == nil {
		return nil, nil, true
	}
	release = func() { _ = st.DeleteIf(context.WithoutCancel(ctx), key, token) }
	for i := range a.Robots {
		if _, done, err := st.Get(ctx, a.robotKey(orderID, i)); !done || err != nil {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		release()
		return nil, nil, true
	}
	return pending, release, false
}

// settle marks the robots that received the message for the window. Robots
// that failed are left unmarked, so a redelivery tries them again.
func (a *Announcer) settle(ctx context.Context, orderID int64, pending []int, deliveries []Delivery) {
	st := a.stateStore()
	for i, idx := range pending {
		if deliveries[i].Err == nil {
			_ = st.Set(context.WithoutCancel(ctx), a.robotKey(orderID, idx), []byte("1"), a.window())
		}
	}
}

func claimToken() []byte {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

func (a *Announcer) stateStore() state.Store {
	a.once.Do(func() {
		a.store = a.Store
		if a.store == nil {
			a.store = state.NewMemory(a.capacity(), a.Now)
		}
	})
	return a.store
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
