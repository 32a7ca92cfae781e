package dmsfake

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOSS(t *testing.T) {
	now := time.Now()
	var skew atomic.Int64 // added to the bucket's clock
	env := startEnv(t, func(_ *Options, o *OSSOptions) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	data := []byte("PK\x05\x06 data")
	env.OSS.Put("export_1.zip", data)
	valid := env.OSS.SignURL("export_1.zip", now.Add(time.Hour))

	tampered := func(u string) string {
		p, _ := url.Parse(u)
		q := p.Query()
		q.Set("Signature", "AAAA"+q.Get("Signature")[4:])
		p.RawQuery = q.Encode()
		return p.String()
	}
	withQuery := func(u, k, v string) string {
		p, _ := url.Parse(u)
		q := p.Query()
		q.Set(k, v)
		p.RawQuery = q.Encode()
		return p.String()
	}
	// signedFor is a V1 URL signed for another method, as a HEAD client would mint.
	signedFor := func(method, key string, exp time.Time) string {
		e := strconv.FormatInt(exp.Unix(), 10)
		sig := env.OSS.signature(method, "", "", e, "", key)
		return env.OSSURL + "/" + key + "?Expires=" + e + "&OSSAccessKeyId=" + ossAK + "&Signature=" + url.QueryEscape(sig)
	}

	tests := []struct {
		name, method, url string
		header            http.Header
		status            int
		code              string
		body              string
	}{
		{name: "valid", method: "GET", url: valid, status: 200, body: string(data)},
		{name: "tampered signature", method: "GET", url: tampered(valid), status: 403, code: "SignatureDoesNotMatch"},
		{name: "extended expiry", method: "GET", url: withQuery(valid, "Expires", strconv.FormatInt(now.Add(2*time.Hour).Unix(), 10)), status: 403, code: "SignatureDoesNotMatch"},
		{name: "other key id", method: "GET", url: withQuery(valid, "OSSAccessKeyId", "LTAIother"), status: 403, code: "InvalidAccessKeyId"},
		{name: "unsigned", method: "GET", url: env.OSSURL + "/export_1.zip", status: 403, code: "AccessDenied"},
		{name: "HEAD with a GET URL", method: "HEAD", url: valid, status: 403},
		{name: "HEAD signed for HEAD", method: "HEAD", url: signedFor("HEAD", "export_1.zip", now.Add(time.Hour)), status: 200},
		{name: "signed content type", method: "GET", url: valid, header: http.Header{"Content-Type": {"text/plain"}}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "missing key", method: "GET", url: env.OSS.SignURL("export_2.zip", now.Add(time.Hour)), status: 404, code: "NoSuchKey"},
		{name: "expired", method: "GET", url: env.OSS.SignURL("export_1.zip", now.Add(-time.Second)), status: 403, code: "AccessDenied", body: "Request has expired."},
		{name: "put", method: "PUT", url: valid, status: 405, code: "MethodNotAllowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := get(t, tt.method, tt.url, tt.header)
			if got, want := status, tt.status; got != want {
				t.Fatalf("status = %d, want %d (body %s)", got, want, body)
			}
			if tt.code != "" {
				var e struct {
					XMLName xml.Name `xml:"Error"`
					Code    string
					Message string
				}
				if err := xml.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("error body is not OSS XML: %v: %s", err, body)
				}
				if got, want := e.Code, tt.code; got != want {
					t.Errorf("Code = %q, want %q", got, want)
				}
				if tt.body != "" && e.Message != tt.body {
					t.Errorf("Message = %q, want %q", e.Message, tt.body)
				}
				return
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if status == 200 {
				if got, want := h.Get("Content-Type"), "application/zip"; got != want {
					t.Errorf("Content-Type = %q, want %q", got, want)
				}
				if got, want := h.Get("Content-Disposition"), `attachment; filename="export_1.zip"`; got != want {
					t.Errorf("Content-Disposition = %q, want %q", got, want)
				}
				if got, want := h.Get("Content-Length"), strconv.Itoa(len(data)); got != want {
					t.Errorf("Content-Length = %q, want %q", got, want)
				}
			}
		})
	}

	t.Run("expires by the bucket's clock", func(t *testing.T) {
		u := env.OSS.SignURL("export_1.zip", now.Add(time.Minute))
		skew.Store(int64(2 * time.Minute))
		defer skew.Store(0)
		if status, _, _ := get(t, "GET", u, nil); status != 403 {
			t.Errorf("status = %d, want 403 after expiry", status)
		}
	})

	t.Run("requests are recorded", func(t *testing.T) {
		before := len(env.OSS.Requests())
		get(t, "GET", valid, http.Header{"Referer": {"https://chat.example/"}, "User-Agent": {"probe/1"}})
		reqs := env.OSS.Requests()
		if got, want := len(reqs), before+1; got != want {
			t.Fatalf("len(Requests) = %d, want %d", got, want)
		}
		got, want := reqs[len(reqs)-1], OSSRequest{Method: "GET", Key: "export_1.zip", Referer: "https://chat.example/", UserAgent: "probe/1", Status: 200}
		if got != want {
			t.Errorf("request = %+v, want %+v", got, want)
		}
	})
}

func TestOSSKeyWithPathAndSpaces(t *testing.T) {
	env := startEnv(t, nil)
	key := "exports/2026 11/a+b.csv"
	env.OSS.Put(key, []byte("1,2"))
	u := env.OSS.SignURL(key, time.Now().Add(time.Minute))
	if !strings.Contains(u, "/exports/2026%2011/a+b.csv?") {
		t.Errorf("URL path = %s, want each segment escaped", redactQuery(u))
	}
	status, h, body := get(t, "GET", u, nil)
	if status != 200 || body != "1,2" {
		t.Fatalf("GET = %d %q, want 200 %q", status, body, "1,2")
	}
	if got, want := h.Get("Content-Disposition"), `attachment; filename="a+b.csv"`; got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}
}
