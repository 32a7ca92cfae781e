package fcadapter

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

// FuzzEvent feeds arbitrary JSON through the whole adapter with an echo
// handler: it must never panic, never return an error, always return a full
// response, and never answer garbage with a 5xx.
func FuzzEvent(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	handle := Handler(http.HandlerFunc(echo), 1<<16)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.HTTPTriggerEvent
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		res, err := handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("handler returned an error: %v", err)
		}
		if res == nil || res.Headers == nil {
			t.Fatalf("incomplete response: %+v", res)
		}
		if res.StatusCode < 200 || res.StatusCode >= 500 {
			t.Fatalf("status %d for %s", res.StatusCode, data)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("response does not marshal: %v", err)
		}
	})
}
