package fcbinary

import (
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
	"github.com/dms-export-link/dms-export-link/tests/fcfake"
)

// maxBinary bounds the artefact: what FC downloads and maps on every cold
// start (docs/performance.md, "Binary size").
const maxBinary = 16_000_000

// TestBinaryIsWhatFCRuns checks the artefact: a static linux/amd64
// executable without symbols, as FC's go1 runtime needs and make build
// promises, under 16 MB.
func TestBinaryIsWhatFCRuns(t *testing.T) {
	t.Parallel()
	st, err := os.Stat(binary)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() >= maxBinary {
		t.Errorf("the binary is %d bytes, want under %d (a new dependency? see docs/performance.md)", st.Size(), maxBinary)
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatalf("not an ELF executable: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("machine %v type %v, want EM_X86_64 ET_EXEC", f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("dynamically linked (%v): built without CGO_ENABLED=0?", p.Type)
		}
	}
	if s := f.Section(".symtab"); s != nil {
		t.Error("the binary has a symbol table: built without -ldflags -s?")
	}
}

func TestDownloadRedirectsToTheFile(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	res := s.get(t, s.link(t, s.signer, orderReady, week()), nil)
	if got, want := res.StatusCode, http.StatusFound; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, res.body)
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got, want := res.Header.Get("X-Request-Id"), res.Header.Get("X-Fc-Request-Id"); got != want || got == "" {
		t.Errorf("X-Request-Id = %q, want FC's request id %q", got, want)
	}
	if len(res.body) != 0 {
		t.Errorf("the redirect has a body: %q", res.body)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, s.env.OSSURL+"/export_5461234.csv?") {
		t.Fatalf("Location %q is not the ticket's file on the fake OSS %s", loc, s.env.OSSURL)
	}
	file, err := s.client.Get(loc)
	if err != nil {
		t.Fatalf("following Location: %v", err)
	}
	defer file.Body.Close()
	got, err := io.ReadAll(file.Body)
	if err != nil || file.StatusCode != http.StatusOK || string(got) != string(readyFile) {
		t.Fatalf("OSS answered %d %q (%v), want the ticket's file", file.StatusCode, got, err)
	}
	if got, want := s.env.Gateway.CallsFor(orderReady), 1; got != want {
		t.Errorf("DMS calls = %d, want %d", got, want)
	}

	// The same link again: JSON this time, from the function's cache.
	res = s.get(t, s.link(t, s.signer, orderReady, week()), http.Header{"Accept": {"application/json"}})
	var doc struct {
		OrderID     int64  `json:"orderId"`
		Ready       bool   `json:"ready"`
		DownloadURL string `json:"downloadUrl"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("JSON download: status %d, %v: %s", res.StatusCode, err, res.body)
	}
	if !doc.Ready || doc.OrderID != orderReady || doc.DownloadURL != loc {
		t.Errorf("JSON download = %+v, want ready %d at %q", doc, orderReady, loc)
	}
	if got, want := s.env.Gateway.CallsFor(orderReady), 1; got != want {
		t.Errorf("DMS calls after the second request = %d, want %d (cached)", got, want)
	}

	res = s.do(t, http.MethodHead, s.link(t, s.signer, orderReady2, week()), nil, nil)
	if got, want := res.StatusCode, http.StatusOK; got != want {
		t.Errorf("HEAD status = %d, want %d", got, want)
	}
	if got := s.env.Gateway.CallsFor(orderReady2); got != 0 {
		t.Errorf("HEAD made %d DMS calls, want 0", got)
	}
}

// TestGetExportThenFollowTheLink is a bot's path: JSON status with a bearer
// token, then the minted link, which points back at the front door.
func TestGetExportThenFollowTheLink(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	bearer := http.Header{"Authorization": {"Bearer " + s.token}}

	type status struct {
		OrderID    int64  `json:"orderId"`
		Tid        int64  `json:"tid"`
		Ready      bool   `json:"ready"`
		TipMessage string `json:"tipMessage"`
		Link       struct {
			URL string `json:"url"`
		} `json:"link"`
	}
	tests := []struct {
		order     int64
		wantReady bool
		wantTip   string
		wantLink  int // status when following the minted link
	}{
		{orderReady, true, "", http.StatusFound},
		{orderNotYet, false, "The export is still running.", http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.order, 10), func(t *testing.T) {
			res := s.get(t, "/exports/"+strconv.FormatInt(tt.order, 10), bearer)
			var st status
			if err := json.Unmarshal(res.body, &st); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("getExport: status %d, %v: %s", res.StatusCode, err, res.body)
			}
			if st.OrderID != tt.order || st.Tid != tenant || st.Ready != tt.wantReady || st.TipMessage != tt.wantTip {
				t.Errorf("getExport = %+v, want order %d tid %d ready %v tip %q", st, tt.order, tenant, tt.wantReady, tt.wantTip)
			}
			prefix := s.rt.FrontURL() + "/exports/" + strconv.FormatInt(tt.order, 10) + "/download?"
			if !strings.HasPrefix(st.Link.URL, prefix) {
				t.Fatalf("minted link %q does not start with %q", st.Link.URL, prefix)
			}
			s.secrets = append(s.secrets, st.Link.URL[len(prefix):])
			if got := s.get(t, strings.TrimPrefix(st.Link.URL, s.rt.FrontURL()), nil).StatusCode; got != tt.wantLink {
				t.Errorf("following the minted link: status %d, want %d", got, tt.wantLink)
			}
		})
	}

	res := s.get(t, "/exports/"+strconv.Itoa(orderReady), http.Header{"Authorization": {"Bearer not-the-token-at-all"}})
	if got, want := res.StatusCode, http.StatusUnauthorized; got != want {
		t.Errorf("wrong token: status %d, want %d", got, want)
	}
	if res.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

func TestBadRequestsNameTheParameter(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	good := s.link(t, s.signer, orderReady, week())
	q := good[strings.Index(good, "?")+1:]
	tests := []struct {
		name   string
		target string
		header http.Header
		want   string // the parameter named in errors[]
	}{
		{"order id not a number", "/exports/12ab/download?" + q, nil, "orderId"},
		{"order id zero", "/exports/0/download?" + q, nil, "orderId"},
		{"no signature", strings.Replace(good, "sig=", "nosig=", 1), nil, "sig"},
		{"expiry not a number", strings.Replace(good, "exp=", "exp=soon&x=", 1), nil, "exp"},
		{"tid negative", "/exports/" + strconv.Itoa(orderReady) + "?tid=-4", http.Header{"Authorization": {"Bearer " + s.token}}, "tid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.get(t, tt.target, tt.header)
			if got, want := res.StatusCode, http.StatusBadRequest; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, res.body)
			}
			p := res.problem(t)
			var names []string
			for _, e := range p.Errors {
				names = append(names, e.Name)
			}
			if p.Code != "bad_request" || len(names) == 0 || !containsString(names, tt.want) {
				t.Errorf("problem code %q naming %q, want bad_request naming %q", p.Code, names, tt.want)
			}
		})
	}
	if got := s.env.Gateway.Calls(); got != 0 {
		t.Errorf("bad requests made %d DMS calls, want 0", got)
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestExpiredAndTamperedLinks(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	// A genuine link, signed a day ago for an hour.
	past := &links.Signer{Keys: s.signer.Keys, MaxTTL: s.signer.MaxTTL, Now: func() time.Time { return time.Now().Add(-24 * time.Hour) }}
	expired := s.link(t, past, orderReady, time.Now().Add(-23*time.Hour))
	tampered := strings.Replace(s.link(t, s.signer, orderReady, week()), "/"+strconv.Itoa(orderReady)+"/", "/"+strconv.Itoa(orderReady2)+"/", 1)
	tests := []struct {
		name, target, code string
		status             int
	}{
		{"expired", expired, "link_expired", http.StatusGone},
		{"signed for another ticket", tampered, "link_invalid", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.get(t, tt.target, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tt.status, res.body)
			}
			if got := res.problem(t).Code; got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
		})
	}
	if got := s.env.Gateway.Calls(); got != 0 {
		t.Errorf("refused links made %d DMS calls, want 0", got)
	}
}

// TestDeadlineShorterThanDMS: DMS takes longer than the invocation may run;
// the function must answer 504 itself before FC's deadline, not be cut off
// by FC (which would answer 502 with X-Fc-Error-Type).
func TestDeadlineShorterThanDMS(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second // FC function timeout, well below slowLatency
	s := startStack(t, stackOptions{timeout: timeout, initialize: true})
	res := s.get(t, s.link(t, s.signer, orderSlow, week()), nil)
	if got, want := res.StatusCode, http.StatusGatewayTimeout; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, res.body)
	}
	// The function's own problem, so it answered before FC's deadline: an
	// invocation FC times out gets the runtime's error instead (the fake's
	// front door answers it as FC does), not a dms_timeout problem.
	if got, want := res.problem(t).Code, "dms_timeout"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got := s.env.Gateway.CallsFor(orderSlow); got < 1 {
		t.Errorf("DMS calls = %d, want at least 1", got)
	}
}

// TestCredentialsComeFromTheInvocation: the binary has no ALIBABA_CLOUD_*
// variables, so the credentials DMS sees can only be those FC sent with the
// invocation (the function's RAM role).
func TestCredentialsComeFromTheInvocation(t *testing.T) {
	t.Parallel()
	t.Run("the role the emulator accepts", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, stackOptions{initialize: true})
		for _, v := range s.cmd.Env {
			if strings.HasPrefix(v, "ALIBABA_CLOUD_") {
				t.Fatalf("the function has %s in its environment", v[:strings.Index(v, "=")])
			}
		}
		if got, want := s.get(t, s.link(t, s.signer, orderReady, week()), nil).StatusCode, http.StatusFound; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		calls := s.env.Gateway.LastCalls()
		if len(calls) != 1 {
			t.Fatalf("DMS saw %d calls, want 1", len(calls))
		}
		c := calls[0]
		if c.AccessKeyID != s.creds.AccessKeyID || c.SecurityToken != s.creds.SecurityToken || c.Code != "" {
			t.Errorf("DMS saw AccessKeyId %q token %.8s... code %q, want %q %.8s... and success",
				c.AccessKeyID, c.SecurityToken, c.Code, s.creds.AccessKeyID, s.creds.SecurityToken)
		}
		if c.Action != "GetDataExportDownloadURL" || c.OrderID != orderReady || c.Tid != tenant || c.RegionID != "cn-hangzhou" {
			t.Errorf("DMS call = %s order %d tid %d region %q", c.Action, c.OrderID, c.Tid, c.RegionID)
		}
	})
	t.Run("another role", func(t *testing.T) {
		t.Parallel()
		other := fcfake.Credentials{AccessKeyID: "STS.other" + secrettest.Random(8), AccessKeySecret: secrettest.Random(30), SecurityToken: "CAISother" + secrettest.Random(40)}
		s := startStack(t, stackOptions{fcCreds: &other, initialize: true})
		res := s.get(t, s.link(t, s.signer, orderReady, week()), nil)
		if got, want := res.StatusCode, http.StatusBadGateway; got != want {
			t.Fatalf("status = %d, want %d: %s", got, want, res.body)
		}
		if got, want := res.problem(t).Code, "dms_auth_failed"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		calls := s.env.Gateway.LastCalls()
		if len(calls) == 0 || calls[0].AccessKeyID != other.AccessKeyID || calls[0].SecurityToken != other.SecurityToken {
			t.Errorf("DMS saw %+v, want the invocation's AccessKeyId %q", calls, other.AccessKeyID)
		}
	})
}

// TestEveryInvocationIsAnswered sends events the handler cannot use. No
// input provokes a panic in the function (fcadapter is fuzzed, and its
// recover turns any panic into a 500 problem), so these are the failures
// that can be provoked from outside: an event the SDK cannot decode (it
// posts /error) and events fcadapter refuses (400 problem). Each is answered
// at once, and the function keeps serving.
func TestEveryInvocationIsAnswered(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{timeout: 5 * time.Second, initialize: true})
	tests := []struct {
		name      string
		payload   string
		wantError string // errorType posted to /error; "" = a response
		status    int    // the HTTPTriggerResponse's status
	}{
		{name: "not JSON", payload: `{"version":"v1","rawPath":`, wantError: "SyntaxError"},
		{name: "wrong types", payload: `{"headers":"none","requestContext":{"http":{"method":7}}}`, wantError: "UnmarshalTypeError"},
		{name: "empty object", payload: `{}`, status: http.StatusBadRequest},
		{name: "body not base64", status: http.StatusBadRequest,
			payload: `{"version":"v1","rawPath":"/links","body":"%%%not base64","isBase64Encoded":true,"headers":{"Content-Type":"application/json"},` +
				`"queryParameters":{},"requestContext":{"http":{"method":"POST","path":"/links","protocol":"HTTP/1.1"}}}`},
		{name: "path not encoded", status: http.StatusBadRequest,
			payload: `{"version":"v1","rawPath":"/exports/%zz/download","body":"","isBase64Encoded":false,"headers":{},` +
				`"queryParameters":{},"requestContext":{"http":{"method":"GET","path":"/exports/x/download","protocol":"HTTP/1.1"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := s.rt.Invoke(ctx, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Invoke: %v (the invocation was not answered)", err)
			}
			if tt.wantError != "" {
				if res.Error == nil || res.Error.ErrorType != tt.wantError {
					t.Fatalf("answer %s, want an error of type %s", res.Body, tt.wantError)
				}
				return
			}
			if res.Error != nil {
				t.Fatalf("function error %v, want a response", res.Error)
			}
			var resp events.HTTPTriggerResponse
			if err := json.Unmarshal(res.Body, &resp); err != nil {
				t.Fatalf("not an HTTPTriggerResponse: %v: %s", err, res.Body)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if err := contract.CheckProblem(resp.Headers["Content-Type"], []byte(resp.Body)); err != nil {
				t.Error(err)
			}
		})
	}
	if got, want := s.get(t, "/healthz", nil).StatusCode, http.StatusOK; got != want {
		t.Errorf("after the bad events /healthz answered %d, want %d", got, want)
	}
}

func TestMetaOperations(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	res := s.get(t, "/openapi.yaml", nil)
	if res.StatusCode != http.StatusOK || string(res.body) != string(dmsexportlink.OpenAPI) {
		t.Errorf("/openapi.yaml: status %d, %d bytes; want 200 and the embedded spec", res.StatusCode, len(res.body))
	}
	if got, want := s.get(t, "/healthz", nil).StatusCode, http.StatusOK; got != want {
		t.Errorf("/healthz: status %d, want %d", got, want)
	}
	res = s.get(t, "/nothing/here", nil)
	if got, want := res.StatusCode, http.StatusNotFound; got != want {
		t.Errorf("unknown path: status %d, want %d", got, want)
	}
}

// initLines counts the function's "initialized" log lines.
func initLines(t *testing.T, s *stack) int {
	t.Helper()
	n := 0
	for line := range strings.Lines(s.output()) {
		var l struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "initialized" {
			n++
		}
	}
	return n
}

// TestInitializer: FC's initializer (function type 1) does the one-time work
// once, and the function serves afterwards; without an initializer, the
// first request does it.
func TestInitializer(t *testing.T) {
	t.Parallel()
	t.Run("initializer first", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, stackOptions{})
		s.initialize()
		// The log line is written before the SDK answers the initializer.
		if got, want := initLines(t, s), 1; got != want {
			t.Fatalf("%d initialized lines after the initializer, want %d", got, want)
		}
		if got, want := s.get(t, s.link(t, s.signer, orderReady, week()), nil).StatusCode, http.StatusFound; got != want {
			t.Errorf("first request: status %d, want %d", got, want)
		}
		if got, want := initLines(t, s), 1; got != want {
			t.Errorf("%d initialized lines after a request, want %d", got, want)
		}
		if got, want := s.rt.Invocations(), 2; got != want {
			t.Errorf("invocations = %d, want %d", got, want)
		}
	})
	t.Run("no initializer", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, stackOptions{})
		if got, want := s.get(t, "/healthz", nil).StatusCode, http.StatusOK; got != want {
			t.Errorf("first request: status %d, want %d", got, want)
		}
		if got, want := initLines(t, s), 1; got != want {
			t.Errorf("%d initialized lines after the first request, want %d", got, want)
		}
	})
}

// TestSIGTERMEndsTheProcess: under go1, SIGTERM ends the function at once,
// its default action: fc.Start never returns, so no handler may swallow it
// (one did, and the process lived on until FC killed it).
func TestSIGTERMEndsTheProcess(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	if got := s.get(t, "/healthz", nil).StatusCode; got != http.StatusOK {
		t.Fatalf("healthz: status %d", got)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := s.cmd.Process.Wait()
		exited <- st
	}()
	select {
	case st := <-exited:
		if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("the function ended with %v, want killed by SIGTERM", st)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the function was still running 20 s after SIGTERM")
	}
}

// TestFirstClickFindsDMSConnected: while the handler is built, the function
// opens its connection to DMS, so the first click's call does not wait for a
// connection (on the internet, TCP and TLS round trips).
func TestFirstClickFindsDMSConnected(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{initialize: true})
	testwait.For(t, "a connection to DMS after the initializer", func() bool { return s.env.DMSConnections() > 0 })
	if n := s.env.Gateway.Calls(); n != 0 {
		t.Fatalf("%d DMS calls before any click, want 0", n)
	}
	if got := s.get(t, s.link(t, s.signer, orderReady, week()), nil).StatusCode; got != http.StatusFound {
		t.Fatalf("first click: status %d, want 302", got)
	}
	if n := s.env.DMSConnections(); n != 1 {
		t.Errorf("DMS accepted %d connections, want 1: the first click's call dialled its own", n)
	}
	if n := s.env.Gateway.Calls(); n != 1 {
		t.Errorf("%d DMS calls, want 1", n)
	}
}
