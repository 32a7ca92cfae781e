package dms

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Preconnect starts opening a connection (TCP, and TLS over HTTPS) to the
// DMS endpoint of the client's region ahead of the first call, which then
// skips that set-up: on a new FC instance the first click is the one a
// person waits for, and the handshake's network round trips overlap reading
// the contract when Preconnect runs beside the rest of the build. It returns
// at once; the channel gets the outcome. A call made while the connection is
// being opened waits for it (it is further along than a new dial would be),
// up to the call's own deadline. Later calls use the connection whenever it
// is idle and alive, else the shared transport's pool. Errors are only
// reported: calls dial as before. No credential is involved; nothing is sent.
func (c *Client) Preconnect(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	host := c.endpointHost(c.region)
	if host == "" {
		done <- nil
		return done
	}
	scheme := strings.ToLower(c.scheme)
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, map[string]string{"https": "443", "http": "80"}[scheme])
	}
	opened := c.warm.begin(scheme, host)
	go func() {
		cc, err := c.transport.NewClientConn(ctx, scheme, addr)
		opened(cc)
		if err != nil {
			err = &Error{Kind: transportKind(err), Err: err}
		}
		done <- err
	}()
	return done
}

// endpointHost is the host[:port] the SDK sends region's calls to: the
// override, or the documented regional endpoint (TestPreconnectHost holds it
// to the SDK's choice).
func (c *Client) endpointHost(region string) string {
	switch {
	case c.endpoint != "":
		return c.endpoint
	case region == "":
		return ""
	case c.network == "vpc":
		return "dms-enterprise-vpc." + region + ".aliyuncs.com"
	}
	return "dms-enterprise." + region + ".aliyuncs.com"
}

// warmConn is the connection Preconnect opened, used as a lane beside the
// shared transport.
type warmConn struct {
	mu      sync.Mutex
	cc      *http.ClientConn
	scheme  string
	host    string
	opening chan struct{} // closed when the connection being opened is set, or failed
	waiting int           // calls waiting for it
}

// begin marks a connection to scheme://host as being opened; calls to it
// wait until the returned function has been called with the connection, or
// with nil if it could not be opened.
func (w *warmConn) begin(scheme, host string) func(*http.ClientConn) {
	opening := make(chan struct{})
	w.mu.Lock()
	w.opening, w.scheme, w.host = opening, scheme, host
	w.mu.Unlock()
	return func(cc *http.ClientConn) {
		w.mu.Lock()
		current := w.opening == opening
		if current {
			w.opening = nil
			if cc != nil {
				w.cc = cc
			}
		}
		w.mu.Unlock()
		close(opening)
		if !current && cc != nil {
			cc.Close() // closed, or replaced, while it was being opened
		}
	}
}

// reserve returns the connection with a slot reserved for one request to
// scheme://host, or nil if there is none, it is busy, or it has closed. While
// the connection is being opened it waits for it, until ctx ends.
func (w *warmConn) reserve(ctx context.Context, scheme, host string) *http.ClientConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !strings.EqualFold(scheme, w.scheme) || !strings.EqualFold(host, w.host) {
		return nil
	}
	if opening := w.opening; opening != nil {
		w.waiting++
		w.mu.Unlock()
		select {
		case <-opening:
		case <-ctx.Done():
		}
		w.mu.Lock()
		w.waiting--
		if !strings.EqualFold(scheme, w.scheme) || !strings.EqualFold(host, w.host) {
			return nil
		}
	}
	if w.cc == nil {
		return nil
	}
	if w.cc.Err() != nil {
		w.cc.Close()
		w.cc = nil
		return nil
	}
	if w.cc.Reserve() != nil {
		return nil
	}
	return w.cc
}

// drop closes cc if it is still the warm connection.
func (w *warmConn) drop(cc *http.ClientConn) {
	w.mu.Lock()
	if w.cc == cc {
		w.cc = nil
	}
	w.mu.Unlock()
	cc.Close()
}

// close closes the connection; one still being opened is closed when it
// arrives, and the calls waiting for it go to the shared transport.
func (w *warmConn) close() {
	w.mu.Lock()
	cc := w.cc
	w.cc, w.scheme, w.host, w.opening = nil, "", "", nil
	w.mu.Unlock()
	if cc != nil {
		cc.Close()
	}
}

// withWarm sends a request over the warm connection when it can, else over
// base.
type withWarm struct {
	warm *warmConn
	base http.RoundTripper
}

func (t withWarm) RoundTrip(r *http.Request) (*http.Response, error) {
	cc := t.warm.reserve(r.Context(), r.URL.Scheme, r.URL.Host)
	if cc == nil {
		return t.base.RoundTrip(r)
	}
	res, err := cc.RoundTrip(r)
	if err != nil {
		t.warm.drop(cc)
	}
	return res, err
}
