package exports

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	allowed := []string{"*.aliyuncs.com", "files.example.com", "127.0.0.1", "localhost", "::1"}
	const q = "?Expires=1999999999&OSSAccessKeyId=id&Signature=SECRETSIG"
	tests := []struct {
		name       string
		url        string
		loopback   bool   // AllowHTTPLoopback
		wantReason string // "" = allowed
	}{
		{"oss host", "https://dms-idb-hangzhou.oss-cn-hangzhou.aliyuncs.com/a.zip" + q, false, ""},
		{"exact host", "https://files.example.com/a.zip" + q, false, ""},
		{"uppercase scheme and host", "HTTPS://DMS-IDB.OSS-CN-HANGZHOU.ALIYUNCS.COM/a.zip" + q, false, ""},
		{"default port", "https://a.aliyuncs.com:443/a.zip" + q, false, ""},
		{"plain http", "http://a.aliyuncs.com/a.zip" + q, false, "plain http"},
		{"plain http with loopback flag but public host", "http://a.aliyuncs.com/a.zip" + q, true, "plain http"},
		{"plain http loopback without flag", "http://127.0.0.1:8080/a.zip" + q, false, "plain http"},
		{"plain http loopback ip", "http://127.0.0.1:8080/a.zip" + q, true, ""},
		{"plain http localhost", "http://localhost:9000/a.zip" + q, true, ""},
		{"plain http ipv6 loopback", "http://[::1]:9000/a.zip" + q, true, ""},
		{"loopback not in allow-list", "http://127.0.0.2:9000/a.zip" + q, true, "host not allowed"},
		{"ftp", "ftp://a.aliyuncs.com/a.zip", false, "scheme not allowed"},
		{"javascript", "javascript:alert(1)", false, "no host"},
		{"relative", "/a.zip", false, "no host"},
		{"scheme-relative", "//a.aliyuncs.com/a.zip", false, "scheme not allowed"},
		{"empty", "", false, "no host"},
		{"no host", "https:///a.zip", false, "no host"},
		{"userinfo", "https://user:pw@a.aliyuncs.com/a.zip", false, "userinfo in URL"},
		{"userinfo looking like host", "https://a.aliyuncs.com@evil.example/a.zip", false, "userinfo in URL"},
		{"evil suffix domain", "https://aliyuncs.com.evil.example/a.zip", false, "host not allowed"},
		{"evil glued suffix", "https://evilaliyuncs.com/a.zip", false, "host not allowed"},
		{"bare suffix", "https://aliyuncs.com/a.zip", false, "host not allowed"},
		{"trailing dot", "https://a.aliyuncs.com./a.zip", false, "host not allowed"},
		{"empty label", "https://a..aliyuncs.com/a.zip", false, "host not allowed"},
		{"other port", "https://a.aliyuncs.com:8443/a.zip", false, "explicit port"},
		{"http port on https", "https://a.aliyuncs.com:80/a.zip", false, "explicit port"},
		{"ip literal", "https://47.96.1.1/a.zip", false, "host not allowed"},
		{"ipv6 literal", "https://[2001:db8::1]/a.zip", false, "host not allowed"},
		{"https loopback listed", "https://127.0.0.1/a.zip", false, ""},
		{"https loopback other port without flag", "https://127.0.0.1:8443/a.zip", false, "explicit port"},
		{"percent-encoded dot", "https://a%2Ealiyuncs.com/a.zip", false, "unparseable URL"},
		{"backslash", `https://evil.example\.aliyuncs.com/a.zip`, false, "unparseable URL"},
		{"unicode host", "https://a.aliyuncs.com\u3002evil.example/a.zip", false, "host not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkURL(tt.url, allowed, tt.loopback)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("checkURL(%q) = %v, want allowed", tt.url, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("checkURL(%q) = %v, want *PolicyError", tt.url, err)
			}
			if got, want := pe.Reason, tt.wantReason; got != want {
				t.Errorf("checkURL(%q) reason = %q, want %q", tt.url, got, want)
			}
			if msg := pe.Error(); strings.Contains(msg, "SECRETSIG") || strings.Contains(msg, "a.zip") {
				t.Errorf("error text %q leaks the URL", msg)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"a.aliyuncs.com", []string{"*.aliyuncs.com"}, true},
		{"a.b.aliyuncs.com", []string{"*.aliyuncs.com"}, true},
		{"A.AliyunCS.com", []string{"*.aliyuncs.com"}, true},
		{"a.aliyuncs.com", []string{"*.ALIYUNCS.COM"}, true},
		{"aliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"aliyuncs.com.evil.com", []string{"*.aliyuncs.com"}, false},
		{"evilaliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"x.aliyuncs.com.", []string{"*.aliyuncs.com"}, false},
		{".aliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"-x.aliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"x_y.aliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"user@x.aliyuncs.com", []string{"*.aliyuncs.com"}, false},
		{"x.aliyuncs.com:443", []string{"*.aliyuncs.com"}, false},
		{"x.aliyuncs.com", []string{"x.aliyuncs.com"}, true},
		{"y.x.aliyuncs.com", []string{"x.aliyuncs.com"}, false},
		{"x.aliyuncs.com", []string{"x.aliyuncs.com."}, false},
		{"x.aliyuncs.com", []string{"*"}, false},
		{"x.aliyuncs.com", []string{"*.*.com"}, false},
		{"x.aliyuncs.com", []string{"x*.aliyuncs.com"}, false},
		{"x.aliyuncs.com", nil, false},
		{"", []string{"*.aliyuncs.com", ""}, false},
		{"10.0.0.1", []string{"*.0.0.1"}, false},
		{"10.0.0.1", []string{"10.0.0.1"}, true},
		{"1.2.3.04", []string{"*.3.04"}, false},
		{"::1", []string{"::1"}, true},
		{"0:0:0:0:0:0:0:1", []string{"::1"}, true},
		{"localhost", []string{"LOCALHOST"}, true},
		{"b.example.com", []string{"a.example.com", "*.example.com"}, true},
	}
	for _, tt := range tests {
		if got := HostAllowed(tt.host, tt.patterns); got != tt.want {
			t.Errorf("HostAllowed(%q, %q) = %v, want %v", tt.host, tt.patterns, got, tt.want)
		}
	}
}
