package dms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

// TestPreconnectHost: Preconnect dials the endpoint the SDK would send the
// client's region's calls to (endpointCases, where TestEndpointIsRegional
// records the SDK's choice). The transport records the target and stops
// before dialling.
func TestPreconnectHost(t *testing.T) {
	for _, tt := range endpointCases {
		if tt.reqRegion != "" {
			continue // Preconnect knows only the client's region
		}
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			opts := tt.opts
			opts.Transport = &http.Transport{Proxy: func(r *http.Request) (*url.URL, error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, r.URL.Scheme+"://"+r.URL.Hostname())
				return nil, errStopped
			}}
			c := newClient(t, opts)
			if err := <-c.Preconnect(context.Background()); !errors.Is(err, errStopped) {
				t.Errorf("Preconnect = %v, want the transport's error", err)
			}
			want, err := url.Parse(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != want.Scheme+"://"+want.Hostname() {
				t.Errorf("Preconnect went to %q, want %s://%s", seen, want.Scheme, want.Hostname())
			}
		})
	}
}

// dialCounter is a transport whose dials are counted, and whose
// connections the test can cut.
type dialCounter struct {
	dials atomic.Int32
	fail  atomic.Bool   // the next dial fails
	gate  chan struct{} // if set, dials wait until it is closed
	mu    sync.Mutex
	conns []net.Conn
}

func (d *dialCounter) transport() *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.dials.Add(1)
		if d.gate != nil {
			select {
			case <-d.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if d.fail.Swap(false) {
			return nil, errors.New("dial refused by the test")
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			d.mu.Lock()
			d.conns = append(d.conns, conn)
			d.mu.Unlock()
		}
		return conn, err
	}}
}

// cutAll closes every connection dialled so far, as a server closing idle
// connections would.
func (d *dialCounter) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

func emulatorClient(t *testing.T, d *dialCounter) (*Client, *dmsfake.Env) {
	t.Helper()
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID: testCreds.AccessKeyID, AccessKeySecret: testCreds.AccessKeySecret, SecurityToken: testCreds.SecurityToken,
	}, dmsfake.OSSOptions{})
	if err != nil {
		t.Fatalf("dmsfake.Start: %v", err)
	}
	c := newClient(t, Options{Region: "cn-hangzhou", Endpoint: env.DMSHost, Scheme: "http", Timeout: 5 * time.Second, Transport: d.transport()})
	t.Cleanup(func() {
		c.CloseIdleConnections()
		env.Close()
	})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: 3, OrderID: 1, State: dmsfake.StateReady, File: []byte("a,b\n")})
	return c, env
}

func download(t *testing.T, c *Client) {
	t.Helper()
	res, err := c.DownloadURL(fcContext(context.Background(), testCreds), Request{Tid: 3, OrderID: 1})
	if err != nil || !res.Ready {
		t.Fatalf("DownloadURL = %+v, %v; want the file's URL", res, err)
	}
}

// TestPreconnectServesTheCalls: after Preconnect, calls go over the
// connection it opened, with no dial of their own, as long as it lives.
func TestPreconnectServesTheCalls(t *testing.T) {
	var d dialCounter
	c, env := emulatorClient(t, &d)
	if err := <-c.Preconnect(context.Background()); err != nil {
		t.Fatalf("Preconnect: %v", err)
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials after Preconnect, want 1", n)
	}
	download(t, c)
	download(t, c)
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials after two calls, want still 1: the calls did not use the open connection", n)
	}
	if n := env.Gateway.Calls(); n != 2 {
		t.Errorf("the emulator saw %d calls, want 2 (Preconnect sends nothing)", n)
	}
}

// TestPreconnectDeadConnection: a connection the server has closed is not
// used; the call dials and succeeds.
func TestPreconnectDeadConnection(t *testing.T) {
	var d dialCounter
	c, _ := emulatorClient(t, &d)
	if err := <-c.Preconnect(context.Background()); err != nil {
		t.Fatalf("Preconnect: %v", err)
	}
	d.cutAll()
	testwait.For(t, "the cut connection to report its end", func() bool { return warmErr(&c.warm) != nil })
	download(t, c)
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (Preconnect's, then the call's own)", n)
	}
}

// TestPreconnectFails: when Preconnect cannot connect, it says so, and
// calls dial as they always did.
func TestPreconnectFails(t *testing.T) {
	var d dialCounter
	c, _ := emulatorClient(t, &d)
	d.fail.Store(true)
	err := <-c.Preconnect(context.Background())
	if e := asError(t, err); e.Kind != KindTransport {
		t.Errorf("Preconnect error kind %v, want %v", e.Kind, KindTransport)
	}
	download(t, c)
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (Preconnect's failed one, then the call's)", n)
	}
}

// TestCallWaitsForPreconnect: a call made while Preconnect is still opening
// the connection (a first click arriving mid-handshake) waits for it and
// uses it, rather than dialling a second connection.
func TestCallWaitsForPreconnect(t *testing.T) {
	d := dialCounter{gate: make(chan struct{})}
	c, env := emulatorClient(t, &d)
	opened := c.Preconnect(context.Background())
	called := downloadLater(c)
	testwait.For(t, "the call to wait for the connection", func() bool { return warmWaiters(&c.warm) })
	close(d.gate)
	if err := <-opened; err != nil {
		t.Fatalf("Preconnect: %v", err)
	}
	if err := <-called; err != nil {
		t.Fatalf("the call: %v", err)
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: the call did not wait for the connection being opened", n)
	}
	if n := env.Gateway.Calls(); n != 1 {
		t.Errorf("the emulator saw %d calls, want 1", n)
	}
}

// TestCallWaitsForFailedPreconnect: when the connection a call waited for
// cannot be opened, the call dials its own and succeeds.
func TestCallWaitsForFailedPreconnect(t *testing.T) {
	d := dialCounter{gate: make(chan struct{})}
	c, _ := emulatorClient(t, &d)
	d.fail.Store(true)
	opened := c.Preconnect(context.Background())
	called := downloadLater(c)
	testwait.For(t, "the call to wait for the connection", func() bool { return warmWaiters(&c.warm) })
	close(d.gate)
	if err := <-opened; err == nil {
		t.Fatal("Preconnect succeeded, want the refused dial")
	}
	if err := <-called; err != nil {
		t.Fatalf("the call: %v", err)
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (Preconnect's failed one, then the call's)", n)
	}
}

// TestCallDeadlineWhileWaitingForPreconnect: a connection that takes
// forever to open holds a call only until the call's own deadline.
func TestCallDeadlineWhileWaitingForPreconnect(t *testing.T) {
	d := dialCounter{gate: make(chan struct{})}
	c, env := emulatorClient(t, &d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := c.Preconnect(ctx)
	callCtx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	_, err := c.DownloadURL(fcContext(callCtx, testCreds), Request{Tid: 3, OrderID: 1})
	if e := asError(t, err); e.Kind != KindTimeout {
		t.Errorf("error kind %v, want %v", e.Kind, KindTimeout)
	}
	if n := env.Gateway.Calls(); n != 0 {
		t.Errorf("the emulator saw %d calls, want 0", n)
	}
	cancel()
	if err := <-opened; err == nil {
		t.Error("Preconnect succeeded after its context was cancelled")
	}
}

// downloadLater runs download's call in the background; the channel gets
// its outcome.
func downloadLater(c *Client) <-chan error {
	called := make(chan error, 1)
	go func() {
		res, err := c.DownloadURL(fcContext(context.Background(), testCreds), Request{Tid: 3, OrderID: 1})
		if err == nil && !res.Ready {
			err = fmt.Errorf("DownloadURL = %+v, want the file's URL", res)
		}
		called <- err
	}()
	return called
}

// warmWaiters reports whether a call is waiting for the connection being
// opened.
func warmWaiters(w *warmConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting > 0
}

// warmErr is the warm connection's end, nil while it lives or when there is
// none.
func warmErr(w *warmConn) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cc == nil {
		return nil
	}
	return w.cc.Err()
}
