package fcfake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The custom runtime's side of FC 3.0, from Alibaba Cloud's "Context and log format" (custom
// runtime) and "Lifecycle hooks for function instances" pages: FC forwards the HTTP request as
// is, with its common x-fc-* headers added; an initializer is POST /initialize with those
// headers and no body, answered 200 on success.

// commonHeaders are the x-fc-* headers FC adds to every request to a custom runtime.
func (p *Pool) commonHeaders(h http.Header, requestID, controlPath string) {
	h.Set("x-fc-request-id", requestID)
	p.opts.setContextHeaders(h)
	h.Set("x-fc-qualifier", "LATEST")
	h.Set("x-fc-control-path", controlPath)
	if p.opts.Initializer {
		h.Set("x-fc-function-initializer", "initializer")
		h.Set("x-fc-initialization-timeout", strconv.Itoa(int(startTimeout/time.Second)))
	}
}

// serveCustom forwards one request to a Custom instance and copies its answer back.
func (p *Pool) serveCustom(w http.ResponseWriter, req *http.Request) {
	id := newRequestID(time.Now())
	w.Header().Set("X-Fc-Request-Id", id)
	in, err := p.acquire(req.Context())
	switch {
	case errors.Is(err, ErrThrottled):
		writeThrottled(w)
		return
	case req.Context().Err() != nil:
		return
	case err != nil:
		writeFCError(w, http.StatusServiceUnavailable, errTypeCommon, map[string]string{
			"errorCode": "ServiceUnavailable", "errorMessage": "the function runtime is not available",
		})
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), p.opts.Timeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, req.Method, in.base+req.URL.RequestURI(), req.Body)
	if err != nil {
		p.release(in, false)
		writeFCError(w, http.StatusBadRequest, errTypeCommon, map[string]string{"errorCode": "InvalidArgument", "errorMessage": "bad request"})
		return
	}
	out.ContentLength = req.ContentLength
	out.Host = req.Host
	for k, vs := range req.Header {
		// A client cannot pass x-fc-* headers of its own: FC refuses them.
		if !isHopHeader(k) && !strings.HasPrefix(strings.ToLower(k), "x-fc-") {
			out.Header[k] = vs
		}
	}
	p.commonHeaders(out.Header, id, "/http-invoke")

	res, err := p.client.Do(out)
	if err != nil {
		p.release(in, false)
		if ctx.Err() != nil && req.Context().Err() == nil {
			writeFCError(w, http.StatusBadGateway, errTypeUnhandled, map[string]string{
				"errorMessage": fmt.Sprintf("Function time out after %d seconds", int((p.opts.Timeout+time.Second-1)/time.Second)),
				"errorType":    "FunctionTimeout",
			})
			return
		}
		writeFCError(w, http.StatusBadGateway, errTypeUnhandled, map[string]string{
			"errorMessage": "the function's HTTP server did not answer", "errorType": "FunctionNotStarted",
		})
		return
	}
	defer res.Body.Close()
	for k, vs := range res.Header {
		if !isHopHeader(k) {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(res.StatusCode)
	_, err = io.Copy(w, res.Body)
	p.release(in, err == nil)
}

// initializeCustom is FC's initializer call to a custom runtime.
func (p *Pool) initializeCustom(ctx context.Context, in *instance) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.base+"/initialize", nil)
	if err != nil {
		return err
	}
	p.commonHeaders(req.Header, newRequestID(time.Now()), "/initialize")
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("initializer: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	// FC's pages show 200 for success and 404 for failure; any 2xx counts here.
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("initializer answered %d: %s", res.StatusCode, body)
	}
	return nil
}

// preStopCustom is FC's pre-stop call to a custom runtime; its answer does not stop the stop.
func (p *Pool) preStopCustom(in *instance) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/pre-stop", nil)
	if err != nil {
		return
	}
	p.commonHeaders(req.Header, newRequestID(time.Now()), "/pre-stop")
	if res, err := p.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// waitListening waits until in's process listens on its port on every interface, as FC
// requires: a server on 127.0.0.1 only never starts there (FunctionNotStarted).
func (p *Pool) waitListening(ctx context.Context, in *instance) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		state, err := listening(in.port)
		if err != nil {
			return err
		}
		switch state {
		case listenAll:
			return nil
		case listenLoopback:
			return fmt.Errorf("FunctionNotStarted: the server listens on 127.0.0.1:%d; FC needs 0.0.0.0:%d", in.port, in.port)
		}
		select {
		case <-tick.C:
		case <-in.exited:
			return fmt.Errorf("the process exited before listening on port %d", in.port)
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on port %d: %w", in.port, ctx.Err())
		}
	}
}

type listenState int

const (
	listenNone listenState = iota
	listenLoopback
	listenAll
)

// listening reads the kernel's socket tables (/proc/net/tcp, tcp6) for a listener on port.
// An unspecified address (0.0.0.0 or ::) is FC's requirement; anything else counts as loopback.
func listening(port int) (listenState, error) {
	state := listenNone
	suffix := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return state, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			const stateListen = "0A"
			if len(fields) < 4 || fields[3] != stateListen || !strings.HasSuffix(fields[1], suffix) {
				continue
			}
			if strings.Trim(strings.TrimSuffix(fields[1], suffix), "0") == "" {
				f.Close()
				return listenAll, nil
			}
			state = listenLoopback
		}
		f.Close()
	}
	return state, nil
}

// freePort picks a port that is free on every interface. Another process may take it before
// the instance listens; the instance then fails to start and its request gets FC's error.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
