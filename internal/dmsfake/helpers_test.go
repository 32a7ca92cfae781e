package dmsfake

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dms_enterprise "github.com/aliyun/alibaba-cloud-sdk-go/services/dms-enterprise"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The SDK fills this package map lazily and racily (docs/dms-sdk.md, "Concurrency and resource traps").
	dms_enterprise.GetEndpointMap()
	goleak.VerifyTestMain(m)
}

const (
	testAK     = "STS.NTestAccessKey"
	testSecret = "test-secret"
	testToken  = "CAIS-test-token/+=="
	testTid    = 7
	testBucket = "dms-idb-hangzhou"
	ossAK      = "LTAIossak"
	ossSecret  = "oss-secret"
)

type creds struct{ id, secret, token string }

var goodCreds = creds{testAK, testSecret, testToken}

// startEnv starts an Env with the test credentials; mutate adjusts the options.
func startEnv(t *testing.T, mutate func(*Options, *OSSOptions)) *Env {
	t.Helper()
	opts := Options{AccessKeyID: testAK, AccessKeySecret: testSecret, SecurityToken: testToken, DefaultTid: testTid}
	oss := OSSOptions{Bucket: testBucket, AccessKeyID: ossAK, AccessKeySecret: ossSecret}
	if mutate != nil {
		mutate(&opts, &oss)
	}
	env, err := Start(opts, oss)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(env.Close)
	return env
}

// recordingTransport keeps the last request the SDK sent, for replays and
// string-to-sign checks. Not being an *http.Transport also stops the SDK
// from rewriting it on every call (docs/dms-sdk.md, "Concurrency and resource traps").
type recordingTransport struct {
	base *http.Transport
	mu   sync.Mutex
	last *http.Request
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.last = r.Clone(r.Context())
	rt.mu.Unlock()
	return rt.base.RoundTrip(r)
}

func (rt *recordingTransport) lastRequest(t *testing.T) *http.Request {
	t.Helper()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.last == nil {
		t.Fatal("the SDK sent no request")
	}
	return rt.last
}

func newTransport(t *testing.T) *recordingTransport {
	t.Helper()
	base := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	t.Cleanup(base.CloseIdleConnections)
	return &recordingTransport{base: base}
}

// sdkClient is a real SDK client, one per call as the race-free pattern needs.
func sdkClient(t *testing.T, rt *recordingTransport, c creds) *dms_enterprise.Client {
	t.Helper()
	cfg := sdk.NewConfig()
	cfg.Transport = rt
	var provider credentials.CredentialsProvider = credentials.NewStaticAKCredentialsProvider(c.id, c.secret)
	if c.token != "" {
		provider = credentials.NewStaticSTSCredentialsProvider(c.id, c.secret, c.token)
	}
	client, err := dms_enterprise.NewClientWithOptions("cn-hangzhou", cfg, provider)
	if err != nil {
		t.Fatalf("NewClientWithOptions: %v", err)
	}
	return client
}

func newRequest(env *Env, tid, orderID int64) *dms_enterprise.GetDataExportDownloadURLRequest {
	req := dms_enterprise.CreateGetDataExportDownloadURLRequest()
	req.Domain = env.DMSHost
	req.Scheme = "http"
	req.SetReadTimeout(5 * time.Second)
	if tid != 0 {
		req.Tid = requests.NewInteger64(tid)
	}
	if orderID != 0 {
		req.OrderId = requests.NewInteger64(orderID)
	}
	return req
}

// call asks the gateway once with a fresh SDK client.
func call(t *testing.T, env *Env, c creds, tid, orderID int64, mutate func(*dms_enterprise.GetDataExportDownloadURLRequest)) (*dms_enterprise.GetDataExportDownloadURLResponse, error) {
	t.Helper()
	rt := newTransport(t)
	req := newRequest(env, tid, orderID)
	if mutate != nil {
		mutate(req)
		// InitWithApiInfo in a mutation resets the endpoint.
		req.Domain, req.Scheme = env.DMSHost, "http"
		if req.ReadTimeout == 0 {
			req.SetReadTimeout(5 * time.Second)
		}
	}
	return sdkClient(t, rt, c).GetDataExportDownloadURL(req)
}

// get fetches u through env's OSS mapping (other hosts are dialed as
// usual) and returns status, headers and body.
func get(t *testing.T, env *Env, method, u string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	tr := env.OSSTransport()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, redactQuery(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func redactQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?REDACTED"
	}
	return u
}
