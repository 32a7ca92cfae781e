package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCustomRuntimeRefusesDemo(t *testing.T) {
	err := run(context.Background(), []string{"-fc-custom-runtime", "-demo"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-fc-custom-runtime") {
		t.Fatalf("run = %v, want an error naming -fc-custom-runtime", err)
	}
}

// TestCustomRuntimeBuildFails: when the handler cannot be built, FC's
// initializer gets a 500 (FC then replaces the instance) and requests get a
// 500 problem with FC's request id, without building again.
func TestCustomRuntimeBuildFails(t *testing.T) {
	builds := 0
	f := &fcFunction{log: slog.New(slog.DiscardHandler), build: func() (http.Handler, error) {
		builds++
		return nil, errors.New("openapi.yaml: broken")
	}}
	h := customRuntime(f, slog.New(slog.DiscardHandler))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/initialize", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("initializer answered %d, want 500", rec.Code)
	}

	req := httptest.NewRequest(http.MethodGet, "/exports/1", nil)
	req.Header.Set("X-Fc-Request-Id", "req-7")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p struct {
		Code      string `json:"code"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != http.StatusInternalServerError || p.Code != "internal" || p.RequestID != "req-7" {
		t.Errorf("request answered %d %s, want a 500 internal problem with FC's request id", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "openapi.yaml") {
		t.Error("the problem shows the build error")
	}
	if builds != 1 {
		t.Errorf("built %d times, want 1", builds)
	}
}
