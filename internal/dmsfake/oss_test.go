package dmsfake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	osscredentials "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// ossErr is the part of OSS's XML error the tests read.
type ossErr struct {
	XMLName           xml.Name `xml:"Error"`
	Code, Message     string
	RequestID         string `xml:"RequestId"`
	HostID            string `xml:"HostId"`
	SignatureProvided string
	StringToSign      string
}

func parseOSSError(t *testing.T, body string) ossErr {
	t.Helper()
	var e ossErr
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not OSS XML: %v: %s", err, body)
	}
	return e
}

// withQuery returns u with k set to v in its query.
func withQuery(u, k, v string) string {
	p, _ := url.Parse(u)
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

func TestOSS(t *testing.T) {
	now := time.Now()
	var skew atomic.Int64 // added to the bucket's clock
	env := startEnv(t, func(_ *Options, o *OSSOptions) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	data := []byte("PK\x05\x06 data")
	env.OSS.Put("export_1.zip", data)
	valid := env.OSS.Presign("export_1.zip", now.Add(time.Hour), SignV1, nil)

	tampered := func(u, param string) string {
		p, _ := url.Parse(u)
		q := p.Query()
		q.Set(param, "AAAA"+q.Get(param)[4:])
		p.RawQuery = q.Encode()
		return p.String()
	}
	// signedFor is a V1 URL signed for another method, as a HEAD client would mint.
	signedFor := func(method, key string, exp time.Time) string {
		e := strconv.FormatInt(exp.Unix(), 10)
		sig := v1Signature(ossSecret, v1StringToSign(method, http.Header{}, e, "/"+testBucket+"/"+key))
		return env.OSSURL + "/" + key + "?Expires=" + e + "&OSSAccessKeyId=" + ossAK + "&Signature=" + url.QueryEscape(sig)
	}
	v4 := env.OSS.Presign("export_1.zip", now.Add(time.Hour), SignV4, nil)

	tests := []struct {
		name, method, url string
		header            http.Header
		status            int
		code              string
		body              string
	}{
		{name: "valid", method: "GET", url: valid, status: 200, body: string(data)},
		{name: "tampered signature", method: "GET", url: tampered(valid, "Signature"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "extended expiry", method: "GET", url: withQuery(valid, "Expires", strconv.FormatInt(now.Add(2*time.Hour).Unix(), 10)), status: 403, code: "SignatureDoesNotMatch"},
		{name: "other key id", method: "GET", url: withQuery(valid, "OSSAccessKeyId", "LTAIother"), status: 403, code: "InvalidAccessKeyId"},
		{name: "unsigned", method: "GET", url: env.OSSURL + "/export_1.zip", status: 403, code: "AccessDenied"},
		{name: "HEAD with a GET URL", method: "HEAD", url: valid, status: 403},
		{name: "HEAD signed for HEAD", method: "HEAD", url: signedFor("HEAD", "export_1.zip", now.Add(time.Hour)), status: 200},
		{name: "signed content type", method: "GET", url: valid, header: http.Header{"Content-Type": {"text/plain"}}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "missing key", method: "GET", url: env.OSS.Presign("export_2.zip", now.Add(time.Hour), SignV1, nil), status: 404, code: "NoSuchKey"},
		{name: "expired", method: "GET", url: env.OSS.Presign("export_1.zip", now.Add(-time.Second), SignV1, nil), status: 403, code: "AccessDenied", body: "Request has expired."},
		{name: "put", method: "PUT", url: valid, status: 405, code: "MethodNotAllowed"},
		{name: "v4 valid", method: "GET", url: v4, status: 200, body: string(data)},
		{name: "v4 tampered signature", method: "GET", url: tampered(v4, "x-oss-signature"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "v4 extended expiry", method: "GET", url: withQuery(v4, "x-oss-expires", "7200"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "v4 expired", method: "GET", url: env.OSS.Presign("export_1.zip", now.Add(-time.Second), SignV4, nil), status: 403, code: "AccessDenied", body: "Request has expired."},
		{name: "v4 over seven days", method: "GET", url: withQuery(v4, "x-oss-expires", "604801"), status: 400, code: "InvalidArgument"},
		{name: "v4 other region", method: "GET", url: withQuery(v4, "x-oss-credential", strings.Replace(mustQuery(t, v4, "x-oss-credential"), "/cn-hangzhou/", "/cn-beijing/", 1)), status: 400, code: "InvalidArgument"},
		{name: "v4 without signature", method: "GET", url: withQuery(v4, "x-oss-signature", ""), status: 400, code: "InvalidArgument"},
		{name: "other bucket", method: "GET", url: strings.Replace(valid, "https://"+testBucket+".", "https://other-bucket.", 1), status: 404, code: "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := get(t, env, tt.method, tt.url, tt.header)
			if got, want := status, tt.status; got != want {
				t.Fatalf("status = %d, want %d (body %s)", got, want, body)
			}
			if tt.code != "" {
				e := parseOSSError(t, body)
				if got, want := e.Code, tt.code; got != want {
					t.Errorf("Code = %q, want %q", got, want)
				}
				if tt.body != "" && e.Message != tt.body {
					t.Errorf("Message = %q, want %q", e.Message, tt.body)
				}
				if e.RequestID == "" || e.RequestID != h.Get("x-oss-request-id") {
					t.Errorf("RequestId = %q, want the x-oss-request-id header %q", e.RequestID, h.Get("x-oss-request-id"))
				}
				if want := strings.TrimPrefix(tt.url[:strings.Index(tt.url, "/export")], "https://"); e.HostID != want {
					t.Errorf("HostId = %q, want %q", e.HostID, want)
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
		for _, s := range []Signing{SignV1, SignV4} {
			u := env.OSS.Presign("export_1.zip", now.Add(time.Minute), s, nil)
			skew.Store(int64(2 * time.Minute))
			status, _, _ := get(t, env, "GET", u, nil)
			skew.Store(0)
			if status != 403 {
				t.Errorf("signing %d: status = %d, want 403 after expiry", s, status)
			}
		}
	})

	t.Run("SignatureDoesNotMatch shows what OSS signed", func(t *testing.T) {
		_, _, body := get(t, env, "GET", tampered(valid, "Signature"), nil)
		e := parseOSSError(t, body)
		if want := "GET\n\n\n" + mustQuery(t, valid, "Expires") + "\n/" + testBucket + "/export_1.zip"; e.StringToSign != want {
			t.Errorf("StringToSign = %q, want %q", e.StringToSign, want)
		}
		if e.SignatureProvided != "AAAA"+mustQuery(t, valid, "Signature")[4:] {
			t.Errorf("SignatureProvided = %q", e.SignatureProvided)
		}
	})

	t.Run("requests are recorded", func(t *testing.T) {
		before := len(env.OSS.Requests())
		get(t, env, "GET", valid, http.Header{"Referer": {"https://chat.example/"}, "User-Agent": {"probe/1"}})
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

func mustQuery(t *testing.T, u, k string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get(k)
}

// sdkPresign signs a GET of key with the official OSS Go SDK, the
// independent reference for both signature versions.
func sdkPresign(t *testing.T, env *Env, v oss.SignatureVersionType, sts bool, key string, mutate func(*oss.GetObjectRequest)) string {
	t.Helper()
	o := env.OSS.opts
	provider := osscredentials.NewStaticCredentialsProvider(o.AccessKeyID, o.AccessKeySecret)
	if sts {
		provider = osscredentials.NewStaticCredentialsProvider(o.STSAccessKeyID, o.STSAccessKeySecret, o.SecurityToken)
	}
	cfg := oss.NewConfig().WithCredentialsProvider(provider).WithRegion(o.Region).
		WithEndpoint("oss-" + o.Region + ".aliyuncs.com").WithSignatureVersion(v)
	req := &oss.GetObjectRequest{Bucket: oss.Ptr(o.Bucket), Key: oss.Ptr(key)}
	if mutate != nil {
		mutate(req)
	}
	res, err := oss.NewClient(cfg).Presign(context.Background(), req, oss.PresignExpires(time.Hour))
	if err != nil {
		t.Fatalf("SDK Presign: %v", err)
	}
	return res.URL
}

// TestOSSAcceptsSDKURLs: every URL the official SDK presigns is served,
// overrides honoured, and any unsigned addition is refused as OSS does.
func TestOSSAcceptsSDKURLs(t *testing.T) {
	env := startEnv(t, nil)
	const key = "exports/2026 11/a+b~c.csv"
	data := []byte("id\n1\n")
	env.OSS.Put(key, data)
	const evil = `attachment; filename="invoice.exe"`

	variants := []struct {
		name   string
		mutate func(*oss.GetObjectRequest)
		header http.Header // expected response headers
	}{
		{name: "plain", header: http.Header{"Content-Disposition": {`attachment; filename="a+b~c.csv"`}, "Content-Type": {"application/octet-stream"}}},
		{name: "content disposition", mutate: func(r *oss.GetObjectRequest) {
			r.ResponseContentDisposition = oss.Ptr(`attachment; filename="orders Q4.csv"; filename*=UTF-8''orders%20Q4.csv`)
		}, header: http.Header{"Content-Disposition": {`attachment; filename="orders Q4.csv"; filename*=UTF-8''orders%20Q4.csv`}}},
		{name: "every override", mutate: func(r *oss.GetObjectRequest) {
			r.ResponseContentType = oss.Ptr("text/csv; charset=utf-8")
			r.ResponseCacheControl = oss.Ptr("no-store")
			r.ResponseContentLanguage = oss.Ptr("zh-CN")
			r.ResponseExpires = oss.Ptr("Thu, 01 Dec 2026 16:00:00 GMT")
		}, header: http.Header{"Content-Type": {"text/csv; charset=utf-8"}, "Cache-Control": {"no-store"}, "Content-Language": {"zh-CN"}, "Expires": {"Thu, 01 Dec 2026 16:00:00 GMT"}}},
		{name: "x-oss-process", mutate: func(r *oss.GetObjectRequest) { r.Process = oss.Ptr("image/resize,w_100") }},
	}
	versions := []struct {
		name string
		v    oss.SignatureVersionType
		sts  bool
	}{
		{"V1", oss.SignatureVersionV1, false},
		{"V1 STS", oss.SignatureVersionV1, true},
		{"V4", oss.SignatureVersionV4, false},
		{"V4 STS", oss.SignatureVersionV4, true},
	}
	for _, ver := range versions {
		for _, va := range variants {
			t.Run(ver.name+"/"+va.name, func(t *testing.T) {
				u := sdkPresign(t, env, ver.v, ver.sts, key, va.mutate)
				if !strings.HasPrefix(u, env.OSSURL+"/") {
					t.Fatalf("the SDK signed %s, not a URL of the bucket %s", redactQuery(u), env.OSSURL)
				}
				status, h, body := get(t, env, http.MethodGet, u, nil)
				if status != 200 || body != string(data) {
					t.Fatalf("GET = %d %q, want 200 with the object", status, body)
				}
				for k := range va.header {
					if got, want := h.Get(k), va.header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
			})
		}
		t.Run(ver.name+"/unsigned additions", func(t *testing.T) {
			u := sdkPresign(t, env, ver.v, ver.sts, key, nil)
			token := "security-token"
			if ver.v == oss.SignatureVersionV4 {
				token = "x-oss-security-token"
			}
			refused := map[string]string{
				"response-content-disposition": evil,
				"response-content-type":        "text/html",
				"x-oss-process":                "image/info",
				"versionId":                    "CAEQ",
			}
			if !ver.sts {
				refused[token] = "CAIS" + strings.Repeat("x", 20)
			}
			for k, v := range refused {
				status, h, body := get(t, env, http.MethodGet, withQuery(u, k, v), nil)
				if status != 403 || parseOSSError(t, body).Code != "SignatureDoesNotMatch" {
					t.Errorf("unsigned %s: %d %s, want 403 SignatureDoesNotMatch", k, status, body)
				}
				if h.Get("Content-Disposition") == evil {
					t.Errorf("unsigned %s: the override reached the answer", k)
				}
			}
			// V1 signs only what OSS knows as sub-resources; V4 signs everything.
			status, _, _ := get(t, env, http.MethodGet, withQuery(u, "utm_source", "chat"), nil)
			if want := map[bool]int{true: 403, false: 200}[ver.v == oss.SignatureVersionV4]; status != want {
				t.Errorf("unknown parameter: %d, want %d", status, want)
			}
			if ver.sts {
				status, _, body := get(t, env, http.MethodGet, withQuery(u, token, "CAISforged"), nil)
				if status != 403 || parseOSSError(t, body).Code != "InvalidSecurityToken" {
					t.Errorf("other token: %d %s, want 403 InvalidSecurityToken", status, body)
				}
				p, _ := url.Parse(u)
				q := p.Query()
				q.Del(token)
				p.RawQuery = q.Encode()
				status, _, body = get(t, env, http.MethodGet, p.String(), nil)
				if status != 403 || parseOSSError(t, body).Code != "InvalidAccessKeyId" {
					t.Errorf("STS key without its token: %d %s, want 403 InvalidAccessKeyId", status, body)
				}
			}
		})
	}
}

// TestOSSPresignMatchesSDK: the emulator's V1 URLs carry the signature the
// official SDK computes for the same request, byte for byte.
func TestOSSPresignMatchesSDK(t *testing.T) {
	env := startEnv(t, nil)
	o := env.OSS.opts
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, sts := range []bool{false, true} {
		provider := osscredentials.NewStaticCredentialsProvider(o.AccessKeyID, o.AccessKeySecret)
		signing := SignV1
		if sts {
			provider = osscredentials.NewStaticCredentialsProvider(o.STSAccessKeyID, o.STSAccessKeySecret, o.SecurityToken)
			signing = SignV1STS
		}
		cfg := oss.NewConfig().WithCredentialsProvider(provider).WithRegion(o.Region).
			WithEndpoint("oss-" + o.Region + ".aliyuncs.com").WithSignatureVersion(oss.SignatureVersionV1)
		const disp = `attachment; filename="a b.csv"`
		res, err := oss.NewClient(cfg).Presign(context.Background(), &oss.GetObjectRequest{
			Bucket: oss.Ptr(o.Bucket), Key: oss.Ptr("dir/a b+c.csv"), ResponseContentDisposition: oss.Ptr(disp),
		}, oss.PresignExpiration(exp))
		if err != nil {
			t.Fatal(err)
		}
		ours := env.OSS.Presign("dir/a b+c.csv", exp, signing, url.Values{"response-content-disposition": {disp}})
		if got, want := mustQuery(t, ours, "Signature"), mustQuery(t, res.URL, "Signature"); got != want || want == "" {
			t.Errorf("sts=%v: Signature = %q, the SDK's %q", sts, got, want)
		}
		if got, want := mustQuery(t, ours, "security-token"), mustQuery(t, res.URL, "security-token"); got != want {
			t.Errorf("sts=%v: security-token differs from the SDK's", sts)
		}
	}
}

// TestOSSSignatureVectors checks the verifier against the official Go SDK's
// published signer vectors (oss/signer/signer_test.go of
// alibabacloud-oss-go-sdk-v2), which were computed outside this project.
func TestOSSSignatureVectors(t *testing.T) {
	t.Run("V1 query", func(t *testing.T) {
		tests := []struct {
			name, path, query string
			sts               bool
			at                string
		}{
			{"AccessKey", "/key", "Expires=1699807420&OSSAccessKeyId=ak&Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D&versionId=versionId", false, "Sun, 12 Nov 2023 16:30:00 GMT"},
			{"STS token", "/key%2B123", "Expires=1699808204&OSSAccessKeyId=ak&Signature=jzKYRrM5y6Br0dRFPaTGOsbrDhY%3D&security-token=token&versionId=versionId", true, "Sun, 12 Nov 2023 16:50:00 GMT"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				at, _ := http.ParseTime(tt.at)
				opts := OSSOptions{Bucket: "bucket", Now: func() time.Time { return at }}
				if tt.sts {
					opts.AccessKeyID, opts.AccessKeySecret = "LTAIother", "other"
					opts.STSAccessKeyID, opts.STSAccessKeySecret, opts.SecurityToken = "ak", "sk", "token"
				} else {
					opts.AccessKeyID, opts.AccessKeySecret = "ak", "sk"
				}
				bucket := NewOSS(opts)
				// versionId is signed too; the bucket keeps no versions, so an
				// accepted signature ends in NoSuchVersion.
				check := func(query string, wantCode string) {
					t.Helper()
					rec := httptest.NewRecorder()
					bucket.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://bucket.oss-cn-hangzhou.aliyuncs.com"+tt.path+"?"+query, nil))
					if e := parseOSSError(t, rec.Body.String()); e.Code != wantCode {
						t.Errorf("%s: %d %s, want %s", query, rec.Code, e.Code, wantCode)
					}
				}
				check(tt.query, "NoSuchVersion")
				check(strings.Replace(tt.query, "versionId=versionId", "versionId=other", 1), "SignatureDoesNotMatch")
			})
		}
	})
	t.Run("V4 query", func(t *testing.T) {
		h := http.Header{}
		for _, k := range []string{"x-oss-head1", "abc", "ZAbc", "XYZ"} {
			h.Add(k, "value")
		}
		h.Add("content-type", "application/octet-stream")
		tests := []struct {
			name, dateTime, token, want string
		}{
			{"AccessKey", "20231217T025437Z", "", "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"},
			{"STS token", "20231217T035628Z", "token", "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := url.Values{
					"param1": {"value1"}, "+param1": {"value3"}, "|param1": {"value4"},
					"+param2": {""}, "|param2": {""}, "param2": {""},
					"x-oss-signature-version": {v4Algorithm}, "x-oss-date": {tt.dateTime}, "x-oss-expires": {"599"},
					"x-oss-credential": {"ak/20231217/cn-hangzhou/oss/aliyun_v4_request"},
				}
				if tt.token != "" {
					q.Set("x-oss-security-token", tt.token)
				}
				cr := v4CanonicalRequest(http.MethodPut, "bucket", "1234+-/123/1.txt", q, h, "bucket.oss-cn-hangzhou.aliyuncs.com", nil)
				got := v4Signature("sk", "20231217", "cn-hangzhou", v4StringToSign(tt.dateTime, v4Scope("20231217", "cn-hangzhou"), cr))
				if got != tt.want {
					t.Errorf("signature = %s, want %s\ncanonical request:\n%s", got, tt.want, cr)
				}
			})
		}
	})
}

// TestTicketSigning: the gateway mints each ticket's URL as the ticket says.
func TestTicketSigning(t *testing.T) {
	env := startEnv(t, nil)
	const disp = `attachment; filename="orders.csv"`
	tests := []struct {
		signing Signing
		params  []string // query parameters the URL must carry
	}{
		{SignV1, []string{"Expires", "OSSAccessKeyId", "Signature"}},
		{SignV1STS, []string{"Expires", "OSSAccessKeyId", "Signature", "security-token"}},
		{SignV4, []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature"}},
		{SignV4STS, []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature", "x-oss-security-token"}},
	}
	for i, tt := range tests {
		order := int64(700 + i)
		t.Run(strconv.Itoa(int(tt.signing)), func(t *testing.T) {
			env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: order, State: StateReady, FileName: "f.bin", File: []byte("z"),
				Signing: tt.signing, URLQuery: url.Values{"response-content-disposition": {disp}}})
			resp, err := call(t, env, goodCreds, testTid, order, nil)
			if err != nil {
				t.Fatal(err)
			}
			u := resp.DownloadURLResult.URL
			for _, p := range tt.params {
				if mustQuery(t, u, p) == "" {
					t.Errorf("URL lacks %s", p)
				}
			}
			status, h, body := get(t, env, http.MethodGet, u, nil)
			if status != 200 || body != "z" || h.Get("Content-Disposition") != disp {
				t.Errorf("GET = %d %q with Content-Disposition %q, want 200 %q with %q", status, body, h.Get("Content-Disposition"), "z", disp)
			}
		})
	}
}

// TestOSSTLS: the bucket is reached by its public host name over TLS, under a
// CA only the environment's clients trust.
func TestOSSTLS(t *testing.T) {
	env := startEnv(t, nil)
	env.OSS.Put("a.csv", []byte("a"))
	u := env.OSS.Presign("a.csv", time.Now().Add(time.Minute), SignV1, nil)
	if want := "https://" + testBucket + ".oss-cn-hangzhou.aliyuncs.com/a.csv?"; !strings.HasPrefix(u, want) {
		t.Fatalf("URL %s, want it under %s", redactQuery(u), want)
	}
	if status, _, _ := get(t, env, http.MethodGet, u, nil); status != 200 {
		t.Fatalf("GET through the mapping = %d, want 200", status)
	}

	// Without the test CA the certificate is refused: verification is on.
	tr := env.OSSTransport()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr}).Get(u)
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Errorf("GET without the test CA: %v, want x509.UnknownAuthorityError", err)
	}

	// Plain http to the bucket's port is not served.
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	if res, err := (&http.Client{Transport: plain}).Get("http://" + env.OSSAddr + "/a.csv"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("the bucket answered plain http")
		}
	}

	if got, want := env.ChromiumFlags()["host-resolver-rules"], "MAP "+env.OSS.Host()+":443 "+env.OSSAddr; got != want {
		t.Errorf("host-resolver-rules = %q, want %q", got, want)
	}
}

func TestOSSPlainHTTP(t *testing.T) {
	env := startEnv(t, func(_ *Options, o *OSSOptions) { o.PlainHTTP = true })
	env.OSS.Put("a.csv", []byte("a"))
	u := env.OSS.Presign("a.csv", time.Now().Add(time.Minute), SignV4, nil)
	if want := "http://" + env.OSSAddr + "/a.csv?"; !strings.HasPrefix(u, want) {
		t.Fatalf("URL %s, want it under %s", redactQuery(u), want)
	}
	if status, _, body := get(t, env, http.MethodGet, u, nil); status != 200 || body != "a" {
		t.Fatalf("GET = %d %q, want 200", status, body)
	}
	if env.OSSRoots != nil || env.ChromiumFlags() != nil {
		t.Error("a plain-http bucket has TLS settings")
	}
}

func TestOSSKeyWithPathAndSpaces(t *testing.T) {
	env := startEnv(t, nil)
	key := "exports/2026 11/a+b.csv"
	env.OSS.Put(key, []byte("1,2"))
	for _, s := range []Signing{SignV1, SignV1STS, SignV4, SignV4STS} {
		u := env.OSS.Presign(key, time.Now().Add(time.Minute), s, nil)
		if !strings.Contains(u, "/exports/2026%2011/a+b.csv?") {
			t.Errorf("URL path = %s, want each segment escaped", redactQuery(u))
		}
		status, h, body := get(t, env, "GET", u, nil)
		if status != 200 || body != "1,2" {
			t.Fatalf("signing %d: GET = %d %q, want 200 %q", s, status, body, "1,2")
		}
		if got, want := h.Get("Content-Disposition"), `attachment; filename="a+b.csv"`; got != want {
			t.Errorf("Content-Disposition = %q, want %q", got, want)
		}
	}
}
