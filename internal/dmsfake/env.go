package dmsfake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Env is a Gateway and an OSS listening on loopback, for tests and -demo.
type Env struct {
	Gateway *Gateway
	OSS     *OSS
	DMSHost string // host:port, for the SDK request's Domain
	// OSSURL is the base of minted URLs: "https://<bucket>.oss-<region>.aliyuncs.com",
	// or "http://127.0.0.1:port" with OSSOptions.PlainHTTP.
	OSSURL string
	// OSSAddr is the loopback host:port the bucket listens on, where
	// clients must send the bucket's host name (OSSTransport,
	// ChromiumFlags).
	OSSAddr string
	// OSSRoots trusts the throw-away CA that issued the bucket's
	// certificate; nil with PlainHTTP.
	OSSRoots *x509.CertPool
	// OSSCertSPKI is the base64 SHA-256 of the bucket certificate's public
	// key; "" with PlainHTTP.
	OSSCertSPKI string
	// DMSConnections is the number of connections the gateway has
	// accepted.
	DMSConnections func() int
	// Close stops both servers, ends in-flight handlers (a Latency fault
	// included) and returns once every goroutine Start began has ended.
	Close func()
}

// Start listens on 127.0.0.1:0 twice, serves the gateway and the bucket,
// and wires the gateway to mint URLs of this bucket (opts.OSS is replaced).
func Start(opts Options, oss OSSOptions) (*Env, error) {
	dmsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dmsfake: listen for DMS: %w", err)
	}
	ossLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = dmsLn.Close()
		return nil, fmt.Errorf("dmsfake: listen for OSS: %w", err)
	}
	bucket := NewOSS(oss)
	ossURL := "http://" + ossLn.Addr().String()
	var certs *serverTLS
	if !oss.PlainHTTP {
		host := bucket.Host()
		if certs, err = newServerTLS([]string{host, "*.oss-" + bucket.opts.Region + ".aliyuncs.com"}, time.Now()); err != nil {
			_ = dmsLn.Close()
			_ = ossLn.Close()
			return nil, err
		}
		ossURL = "https://" + host
	}
	bucket.SetBaseURL(ossURL)
	opts.OSS = bucket
	gw := NewGateway(opts)

	// Handlers' contexts derive from base, so Close can end a Latency wait
	// that graceful shutdown alone would sit out.
	base, cancel := context.WithCancel(context.Background())
	var dmsConns atomic.Int64
	servers := []*http.Server{
		{Handler: gw, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base },
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					dmsConns.Add(1)
				}
			}},
		{Handler: bucket, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }},
	}
	var ossServed net.Listener = ossLn
	env := &Env{Gateway: gw, OSS: bucket, DMSHost: dmsLn.Addr().String(), OSSURL: ossURL, OSSAddr: ossLn.Addr().String(),
		DMSConnections: func() int { return int(dmsConns.Load()) }}
	if certs != nil {
		ossServed = tls.NewListener(ossLn, certs.config)
		env.OSSRoots, env.OSSCertSPKI = certs.roots, certs.spki
	}
	var wg sync.WaitGroup
	for i, ln := range []net.Listener{dmsLn, ossServed} {
		srv := servers[i]
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				// Serve fails only if the listener breaks; Close still cleans up.
				_ = ln.Close()
			}
		})
	}
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			cancel()
			ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
			defer stop()
			for _, srv := range servers {
				if srv.Shutdown(ctx) != nil {
					_ = srv.Close()
				}
			}
			wg.Wait()
		})
	}
	env.Close = closeFn
	return env, nil
}

// OSSTransport returns a transport that reaches the bucket as a client on
// the internet would reach OSS: every connection to a *.aliyuncs.com host on
// port 443 goes to OSSAddr, and the CA that issued the bucket's certificate
// is trusted, so certificate checks against the host name stay on. Other
// hosts are dialed as usual. The caller closes its idle connections.
func (e *Env) OSSTransport() *http.Transport {
	var d net.Dialer
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && port == "443" && strings.HasSuffix(strings.ToLower(host), ".aliyuncs.com") {
				addr = e.OSSAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.OSSRoots, MinVersion: tls.VersionTLS12},
	}
}

// ChromiumFlags are the command-line switches that make Chromium reach the
// bucket the same way: its host name resolves to OSSAddr, and the bucket's
// certificate is accepted by its public key (Chromium on Linux reads trust
// from an NSS database, which a test should not touch). Nil with PlainHTTP.
func (e *Env) ChromiumFlags() map[string]string {
	if e.OSSCertSPKI == "" {
		return nil
	}
	return map[string]string{
		"host-resolver-rules":                 "MAP " + e.OSS.Host() + ":443 " + e.OSSAddr,
		"ignore-certificate-errors-spki-list": e.OSSCertSPKI,
	}
}
