package dmsfake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Env is a Gateway and an OSS listening on loopback, for tests and -demo.
type Env struct {
	Gateway *Gateway
	OSS     *OSS
	DMSHost string // host:port, for the SDK request's Domain
	OSSURL  string // "http://127.0.0.1:port"
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
	bucket.SetBaseURL(ossURL)
	opts.OSS = bucket
	gw := NewGateway(opts)

	// Handlers' contexts derive from base, so Close can end a Latency wait
	// that graceful shutdown alone would sit out.
	base, cancel := context.WithCancel(context.Background())
	servers := []*http.Server{
		{Handler: gw, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }},
		{Handler: bucket, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }},
	}
	var wg sync.WaitGroup
	for i, ln := range []net.Listener{dmsLn, ossLn} {
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
	return &Env{Gateway: gw, OSS: bucket, DMSHost: dmsLn.Addr().String(), OSSURL: ossURL, Close: closeFn}, nil
}
