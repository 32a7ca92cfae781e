// Command customfn is a test function for fcfake's custom runtime: an HTTP server on the
// address given by -addr that answers every request with what it received.
//
// POST /initialize records that the initializer ran; /sleep?ms=N sleeps N ms (or until the
// request ends); anything else echoes.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// echo is the JSON document the function answers with (mirrored by pool_test.go).
type echo struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	FCHeaders   map[string]string `json:"fcHeaders"` // every x-fc-* request header
	Initialized bool              `json:"initialized"`
}

func main() {
	addr := flag.String("addr", "0.0.0.0:9000", "listen address")
	flag.Parse()
	var initialized atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("POST /initialize", func(w http.ResponseWriter, r *http.Request) {
		initialized.Store(true)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sleep" {
			ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		e := echo{Method: r.Method, Path: r.URL.Path, FCHeaders: map[string]string{}, Initialized: initialized.Load()}
		for k, v := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-fc-") {
				e.FCHeaders[strings.ToLower(k)] = strings.Join(v, ",")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
