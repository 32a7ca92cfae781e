package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

func getEvent(path string) events.HTTPTriggerEvent {
	var ev events.HTTPTriggerEvent
	ev.RawPath = &path
	ev.TriggerContext.Http.Path = &path
	method := http.MethodGet
	ev.TriggerContext.Http.Method = &method
	return ev
}

// TestFCFunctionBuildsOnce: the handler is built once, by whichever of the
// initializer and the first invocation comes first.
func TestFCFunctionBuildsOnce(t *testing.T) {
	tests := []struct {
		name       string
		initialize bool
	}{
		{"initializer first", true},
		{"no initializer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			builds := 0
			f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
				builds++
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }), nil
			}}
			if tt.initialize {
				f.initialize(context.Background())
			}
			for range 2 {
				res, err := f.invoke(context.Background(), getEvent("/"))
				if err != nil || res.StatusCode != http.StatusTeapot {
					t.Fatalf("invoke = %+v, %v; want the handler's 418", res, err)
				}
			}
			if builds != 1 {
				t.Errorf("built %d times, want 1", builds)
			}
		})
	}
}

// TestFCFunctionBuildFails: a handler that cannot be built fails the
// initializer the SDK's way (a panic, posted to /error) and every invocation
// with the build error, without building again.
func TestFCFunctionBuildFails(t *testing.T) {
	errBuild := errors.New("openapi.yaml: broken")
	builds := 0
	f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
		builds++
		return nil, errBuild
	}}
	func() {
		defer func() {
			if v := recover(); v != errBuild {
				t.Errorf("initializer panicked with %v, want the build error", v)
			}
		}()
		f.initialize(context.Background())
	}()
	res, err := f.invoke(context.Background(), getEvent("/healthz"))
	if !errors.Is(err, errBuild) || res != nil {
		t.Errorf("invoke = %+v, %v; want the build error", res, err)
	}
	if builds != 1 {
		t.Errorf("built %d times, want 1", builds)
	}
}
