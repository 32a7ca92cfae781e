package notify

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newStaticServer answers every request with status and body, and returns its
// base URL.
func newStaticServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
