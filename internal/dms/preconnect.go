package dms

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Preconnect opens a connection (TCP, and TLS over HTTPS) to the DMS
// endpoint of the client's region ahead of the first call, which then skips
// that set-up: on a new FC instance the first click is the one a person
// waits for, and the handshake, network round trips, overlaps reading the
// contract when Preconnect runs beside the rest of the build. Later calls use
// the connection whenever it is idle and alive, else the shared transport's
// pool. Errors are only reported: calls dial as before. No credential is
// involved; nothing is sent.
func (c *Client) Preconnect(ctx context.Context) error {
	host := c.endpointHost(c.region)
	if host == "" {
		return nil
	}
	scheme := strings.ToLower(c.scheme)
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, map[string]string{"https": "443", "http": "80"}[scheme])
	}
	cc, err := c.transport.NewClientConn(ctx, scheme, addr)
	if err != nil {
		return &Error{Kind: transportKind(err), Err: err}
	}
	c.warm.set(scheme, host, cc)
	return nil
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
	mu     sync.Mutex
	cc     *http.ClientConn
	scheme string
	host   string
}

func (w *warmConn) set(scheme, host string, cc *http.ClientConn) {
	w.mu.Lock()
	old := w.cc
	w.cc, w.scheme, w.host = cc, scheme, host
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// reserve returns the connection with a slot reserved for one request to
// scheme://host, or nil if there is none, it is busy, or it has closed.
func (w *warmConn) reserve(scheme, host string) *http.ClientConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cc == nil || !strings.EqualFold(scheme, w.scheme) || !strings.EqualFold(host, w.host) {
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

func (w *warmConn) close() {
	w.set("", "", nil)
}

// withWarm sends a request over the warm connection when it can, else over
// base.
type withWarm struct {
	warm *warmConn
	base http.RoundTripper
}

func (t withWarm) RoundTrip(r *http.Request) (*http.Response, error) {
	cc := t.warm.reserve(r.URL.Scheme, r.URL.Host)
	if cc == nil {
		return t.base.RoundTrip(r)
	}
	res, err := cc.RoundTrip(r)
	if err != nil {
		t.warm.drop(cc)
	}
	return res, err
}
