// Package testwait lets a test wait for something another goroutine or
// process does, polling rather than sleeping a guessed time.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every millisecond until it holds, failing the test if it
// has not after 10 seconds.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
