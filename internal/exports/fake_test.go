package exports

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
)

// fakeClient counts calls and answers from a script; n is the 1-based number
// of the call.
type fakeClient struct {
	script func(ctx context.Context, n int, req dms.Request) (dms.Result, error)

	mu       sync.Mutex
	calls    int
	inFlight int
}

func (f *fakeClient) DownloadURL(ctx context.Context, req dms.Request) (dms.Result, error) {
	f.mu.Lock()
	f.calls++
	f.inFlight++
	n := f.calls
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	return f.script(ctx, n, req)
}

func (f *fakeClient) counts() (calls, inFlight int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.inFlight
}

// wantCalls fails the test unless DMS was called exactly want times.
func (f *fakeClient) wantCalls(t *testing.T, want int) {
	t.Helper()
	if got, _ := f.counts(); got != want {
		t.Errorf("DMS calls = %d, want %d", got, want)
	}
}

// fakeClock is a settable clock for cache expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testHost = "dms-idb-hangzhou.oss-cn-hangzhou.aliyuncs.com"

var testAllowed = []string{"*.aliyuncs.com"}

// v1URL is an OSS V1 presigned URL expiring at exp.
func v1URL(name string, exp time.Time) string {
	return fmt.Sprintf("https://%s/%s.zip?Expires=%d&OSSAccessKeyId=STS.id&Signature=c2ln%%3D", testHost, name, exp.Unix())
}

func ready(url string) dms.Result {
	return dms.Result{RequestID: "req", Ready: true, URL: url}
}

// kindOf returns the Kind of a *dms.Error, failing the test for anything else.
func kindOf(t *testing.T, err error) dms.Kind {
	t.Helper()
	e, ok := err.(*dms.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *dms.Error", err, err)
	}
	return e.Kind
}
