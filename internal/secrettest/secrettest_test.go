package secrettest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLeaks(t *testing.T) {
	secret := Random(24)
	cases := []struct {
		name string
		text string
		want int
	}{
		{"clean", `{"msg":"request","status":302,"path":"/exports/1/download"}`, 0},
		{"a secret", `{"err":"token ` + secret + ` refused"}`, 1},
		{"an OSS URL", `{"url":"https://b.oss-cn-hangzhou.aliyuncs.com/x?Expires=1&OSSAccessKeyId=a&Signature=b"}`, 2},
		{"a link", `{"link":"/exports/1/download?exp=1&kid=k&sig=abc"}`, 1},
		{"a header", `{"auth":"Bearer abc"}`, 1},
	}
	for _, tc := range cases {
		got := Leaks(tc.text, []string{secret, ""})
		if len(got) != tc.want {
			t.Errorf("%s: Leaks = %q, want %d findings", tc.name, got, tc.want)
		}
		for _, g := range got {
			if strings.Contains(g, secret) {
				t.Errorf("%s: the finding repeats the secret", tc.name)
			}
		}
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "\n"); got != 50 {
		t.Fatalf("%d lines, want 50", got)
	}
}

func TestRandom(t *testing.T) {
	a, b := Random(32), Random(32)
	if len(a) != 32 || a == b {
		t.Fatalf("Random(32) = %q, %q", a, b)
	}
}
