// Package secrettest captures what the function logs and finds secrets in it:
// OSS URL queries, link signatures, bearer tokens, STS credentials, robot
// secrets must never reach a log line. Only tests import it.
package secrettest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
)

// Markers are fragments of signed URLs and credentials that no log line may
// contain, whatever the secret's value: OSS and DMS signed queries, link
// signatures, STS tokens in URLs, Authorization headers.
var Markers = []string{"Signature=", "SecurityToken=", "OSSAccessKeyId=", "security-token", "sig=", "Bearer "}

// Buffer is a log sink safe for concurrent writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Leaks describes each secret and each marker found in text, without
// repeating a secret in full; nil when text is clean. Empty secrets are
// ignored.
func Leaks(text string, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			out = append(out, "a secret ("+s[:min(6, len(s))]+"...) appears")
		}
	}
	for _, m := range Markers {
		if strings.Contains(text, m) {
			out = append(out, "the marker "+m+" appears")
		}
	}
	return out
}

// Random returns n random URL-safe characters, for made-up credentials.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
