package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// raw sends a hand-written HTTP request to the harness's server, for request
// lines and Host headers Go's client never writes, and validates the exchange.
func (h *harness) raw(requestLine string, header http.Header, body string) *response {
	h.t.Helper()
	var b bytes.Buffer
	b.WriteString(requestLine + "\r\n")
	_ = header.Write(&b)
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	method, target, _ := strings.Cut(requestLine, " ")
	target, _, _ = strings.Cut(target, " ")
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = header
	return h.exchange(b.Bytes(), req, body, 0)
}

// exchange writes wire to a new connection to the harness's server, reads
// the answer to req (within wait, when set) and validates it; body is what
// req carried.
func (h *harness) exchange(wire []byte, req *http.Request, body string, wait time.Duration) *response {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire); err != nil {
		h.t.Fatal(err)
	}
	if wait > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(wait))
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		h.t.Fatalf("no answer (waited %v; 0 = no limit): %v", wait, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	h.validate(req, []byte(body), res, got)
	return &response{Response: res, body: got}
}

// Every way a request can name a host (a forged Host header, an absolute-form
// request target, no Host at all) still gives links on PUBLIC_BASE_URL only:
// the webhook's announcements to all four robots, the chat commands, and the
// bearer operations.
func TestLinksNeverTakeTheRequestHost(t *testing.T) {
	t.Parallel()
	for _, form := range []string{"host header", "absolute target", "no host"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			n := newNotifyHarness(t, notifyOptions{})
			send := func(method, target string, header http.Header, body string) *response {
				switch form {
				case "host header":
					header.Set("Host", "evil.example")
					return n.raw(method+" "+target+" HTTP/1.1", header, body)
				case "absolute target":
					header.Set("Host", "evil.example")
					return n.raw(method+" http://evil.example"+target+" HTTP/1.1", header, body)
				}
				return n.raw(method+" "+target+" HTTP/1.0", header, body)
			}
			var links []string
			res := send(http.MethodPost, "/webhooks/dms", http.Header{"Content-Type": {"application/json"},
				"X-Webhook-Token": {n.webhookToken}, "Dms-Event": {"Message Hook"}}, dmsEvent(orderReady))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("webhook: %d %s", res.StatusCode, res.body)
			}
			for _, f := range n.fakes {
				for _, m := range f.Messages() {
					links = append(links, m.Link())
				}
			}
			ms := time.Now().UnixMilli()
			res = send(http.MethodPost, "/bots/dingtalk", http.Header{"Content-Type": {"application/json"},
				"Timestamp": {fmt.Sprint(ms)}, "Sign": {dingTalkSign(n.dingSecret, ms)}}, dingTalkBody("export 5461234"))
			_, l := commandText(t, "dingtalk", res)
			links = append(links, l)
			res = send(http.MethodPost, "/links", http.Header{"Content-Type": {"application/json"},
				"Authorization": {"Bearer " + n.token}}, `{"orderId":5461234}`)
			var minted link
			if res.StatusCode != http.StatusCreated || json.Unmarshal(res.body, &minted) != nil {
				t.Fatalf("createLink: %d %s", res.StatusCode, res.body)
			}
			links = append(links, minted.URL)
			if len(links) != 6 {
				t.Fatalf("got %d links, want 4 announcements, a command's and createLink's", len(links))
			}
			for _, l := range links {
				u, err := url.Parse(l)
				if err != nil || u.Scheme+"://"+u.Host != n.base.String() {
					t.Errorf("link %q is not on PUBLIC_BASE_URL %s", l, n.base)
				}
				n.secrets = append(n.secrets, u.Query().Get("sig"))
			}
		})
	}
}

// Without PUBLIC_BASE_URL nothing mints a link: the webhook announces
// nothing, a command apologises naming the setting, the bearer operations
// answer 503 naming it.
func TestNoLinksWithoutPublicBaseURL(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.PublicBaseURL = nil }})
	res := n.webhook(dmsEvent(orderReady))
	if p := res.problem(t); res.StatusCode != http.StatusServiceUnavailable || p.Code != "public_base_url_missing" || !strings.Contains(p.Detail, "PUBLIC_BASE_URL") {
		t.Errorf("webhook: %d %+v, want 503 public_base_url_missing naming PUBLIC_BASE_URL", res.StatusCode, p)
	}
	n.wantMessages(0)
	text, l := commandText(t, "dingtalk", n.dingTalk(dingTalkBody("export 5461234"), n.dingSecret, time.Now()))
	if l != "" || !strings.Contains(text, "PUBLIC\\_BASE\\_URL") {
		t.Errorf("command reply %q, want no link and the setting named", text)
	}
	for _, tc := range []struct{ method, target, body string }{
		{http.MethodPost, "/links", `{"orderId":5461234}`},
		{http.MethodGet, "/exports/5461234", ""},
	} {
		res := n.do(tc.method, tc.target, strings.NewReader(tc.body), http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + n.token}})
		if p := res.problem(t); res.StatusCode != http.StatusServiceUnavailable || p.Code != "public_base_url_missing" {
			t.Errorf("%s %s: %d %s, want 503 public_base_url_missing", tc.method, tc.target, res.StatusCode, p.Code)
		}
	}
}
