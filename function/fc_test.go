package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestFCFunctionStartBuildsAtOnce: start builds the handler in the
// background, without waiting for FC's initializer, and the initializer
// then waits for that one build.
func TestFCFunctionStartBuildsAtOnce(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var builds atomic.Int32
	f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
		builds.Add(1)
		close(started)
		<-release
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }), nil
	}}
	start(t, f)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("start did not begin the build")
	}
	initialized := make(chan struct{})
	go func() {
		f.initialize(context.Background())
		close(initialized)
	}()
	select {
	case <-initialized:
		t.Fatal("the initializer returned before the build it waits for")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-initialized
	res, err := f.invoke(context.Background(), getEvent("/"))
	if err != nil || res.StatusCode != http.StatusTeapot {
		t.Fatalf("invoke = %+v, %v; want the handler's 418", res, err)
	}
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want 1", n)
	}
}

// TestFCFunctionCollectsAfterTheFirstAnswer: from start until the first
// invocation has been answered, garbage collection is off; soon after, the
// setting start found is back.
func TestFCFunctionCollectsAfterTheFirstAnswer(t *testing.T) {
	f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), nil
	}}
	start(t, f)
	f.initialize(context.Background())
	if p := gcPercent(); p != -1 {
		t.Fatalf("GC percent %d after the initializer, want -1 (off until the first answer)", p)
	}
	if _, err := f.invoke(context.Background(), getEvent("/")); err != nil {
		t.Fatal(err)
	}
	waitGCPercent(t, testGCPercent)
}

// TestFCFunctionBuildPanics: a panic in the background build fails the
// initializer and the invocations, as a build error does, and does not end
// the process.
func TestFCFunctionBuildPanics(t *testing.T) {
	f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
		panic("router: nil route")
	}}
	start(t, f)
	func() {
		defer func() {
			err, _ := recover().(error)
			if err == nil || !strings.Contains(err.Error(), "router: nil route") {
				t.Errorf("initializer panicked with %v, want the build's panic as an error", err)
			}
		}()
		f.initialize(context.Background())
	}()
	if res, err := f.invoke(context.Background(), getEvent("/healthz")); err == nil || res != nil {
		t.Errorf("invoke = %+v, %v; want the build's failure", res, err)
	}
}

// testGCPercent is the GC setting start finds in these tests, so that the
// one it restores is known.
const testGCPercent = 73

// start calls f.start with GC at testGCPercent. The GC setting is the
// process's: the test's cleanup waits until f has restored it (10 ms after
// its first answer; every test using start answers once) and then puts back
// the setting the test found, so no test's restore lands in the next test.
func start(t *testing.T, f *fcFunction) {
	t.Helper()
	found := debug.SetGCPercent(testGCPercent)
	f.start()
	t.Cleanup(func() {
		waitGCPercent(t, testGCPercent)
		debug.SetGCPercent(found)
	})
}

// gcPercent reads the GC setting without changing it.
func gcPercent() int {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	return int(sample[0].Value.Uint64())
}

func waitGCPercent(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d 10 s after the first answer, want %d, the setting start found", gcPercent(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
