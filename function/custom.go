package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/dms-export-link/dms-export-link/internal/fcadapter"
)

// customShutdownGrace bounds the wait for requests in flight after SIGTERM.
// By then FC has called the pre-stop hook and routes nothing new to the
// instance; FC does not document how long it waits before killing it, so
// this stays well under the shortest grace other platforms give (10 s).
const customShutdownGrace = 5 * time.Second

// The lifecycle calls FC makes to a custom runtime (docs/deploy.md).
const (
	initializePath = "/initialize" // POST, when the instance starts
	preStopPath    = "/pre-stop"   // GET, before the instance is stopped
)

// serveCustomRuntime is the binary as FC's custom runtime starts it
// (s.custom.yaml): an HTTP server on addr whose requests carry FC's x-fc-*
// headers. It listens at once, so FC sees the port open; the handler is
// built by FC's initializer, or else by the first request.
func serveCustomRuntime(ctx context.Context, addr string, f *fcFunction, logger *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on -addr %s: %w", addr, err)
	}
	logger.Info("listening", "addr", l.Addr().String(), "mode", "fc-custom-runtime")
	err = serveUntil(ctx, l, customRuntime(f, logger), customShutdownGrace)
	logger.Info("stopped", "mode", "fc-custom-runtime")
	return err
}

// customRuntime routes FC's lifecycle calls to f and everything else,
// with its FC context, to the API.
func customRuntime(f *fcFunction, logger *slog.Logger) http.Handler {
	api := fcadapter.CustomRuntime(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer f.firstAnswered()
		if err := f.ready(); err != nil {
			fcadapter.WriteProblem(w, http.StatusInternalServerError, "internal",
				"Something went wrong inside the function", "", fcRequestID(r))
			return
		}
		f.h.ServeHTTP(w, r)
	}), isHealthCheck)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == initializePath:
			// Idempotent and silent, as a client could reach it through
			// the trigger too: it only builds what the first request would.
			if err := f.ready(); err != nil {
				fcadapter.WriteProblem(w, http.StatusInternalServerError, "initialization_failed",
					"The function could not start", "", r.Header.Get(fcadapter.HeaderRequestID))
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && r.URL.Path == preStopPath:
			logger.Info("pre-stop", "requestId", r.Header.Get(fcadapter.HeaderRequestID))
			w.WriteHeader(http.StatusNoContent)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// isHealthCheck: FC's health check (healthCheckConfig) is the one request
// that may come without FC's headers.
func isHealthCheck(r *http.Request) bool {
	return r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

func fcRequestID(r *http.Request) string {
	if fc, ok := fccontext.FromContext(r.Context()); ok {
		return fc.RequestID
	}
	return ""
}
