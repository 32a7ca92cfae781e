package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/notify"
	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
)

func init() {
	// kin-openapi has no decoder for text/html; the preview card's schema is a
	// plain string, so validate its responses as text.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// notifyHarness is the full stack plus a loopback fake of every robot
// platform behind an Announcer, and the secrets of the inbound endpoints.
type notifyHarness struct {
	*harness
	fakes        []*robotfake.Fake // dingtalk, lark, wecom, slack, in the Announcer's order
	announcer    *notify.Announcer
	clock        *testClock
	webhookToken string
	dingSecret   string    // DINGTALK_APP_SECRET
	slackSecret  string    // SLACK_SIGNING_SECRET
	robotSecrets [2]string // DINGTALK_ROBOT_SECRET, LARK_ROBOT_SECRET

	stamps *stamps // shared by twins: one DingTalk robot signs them all
}

// stamps are the milliseconds DingTalk has signed a message at.
type stamps struct {
	mu   sync.Mutex
	used map[int64]bool
}

type notifyOptions struct {
	harnessOptions
	noRobots bool
	deps     func(*Deps) // applied after the notification settings
	// twin makes a second instance of the same deployment: its secrets, its
	// robots (the same fakes), and, with harnessOptions.redis, its state.
	twin *notifyHarness
}

func newNotifyHarness(t *testing.T, o notifyOptions) *notifyHarness {
	t.Helper()
	n := &notifyHarness{
		clock:        &testClock{t: time.Now()},
		webhookToken: "hook-" + secrettest.Random(24),
		dingSecret:   secrettest.Random(32),
		slackSecret:  secrettest.Random(32),
		stamps:       &stamps{used: map[int64]bool{}},
	}
	n.robotSecrets = [2]string{"SEC" + secrettest.Random(40), secrettest.Random(24)}
	if tw := o.twin; tw != nil {
		n.webhookToken, n.dingSecret, n.slackSecret, n.robotSecrets, n.stamps = tw.webhookToken, tw.dingSecret, tw.slackSecret, tw.robotSecrets, tw.stamps
	}
	dingRobotSecret, larkSecret := n.robotSecrets[0], n.robotSecrets[1]
	hc := &http.Client{Timeout: 5 * time.Second}
	n.announcer = &notify.Announcer{MaxAttempts: 3, RetryBase: time.Millisecond, Window: 10 * time.Minute, Now: n.clock.Now}
	if o.twin != nil {
		n.fakes = o.twin.fakes
	} else if !o.noRobots {
		n.fakes = []*robotfake.Fake{robotfake.NewDingTalk(t, dingRobotSecret), robotfake.NewLark(t, larkSecret), robotfake.NewWeCom(t), robotfake.NewSlack(t)}
	}
	if len(n.fakes) > 0 {
		n.announcer.Robots = []notify.Robot{
			notify.NewDingTalk(n.fakes[0].URL(), dingRobotSecret, hc, nil),
			notify.NewLark(n.fakes[1].URL(), larkSecret, hc, nil),
			notify.NewWeCom(n.fakes[2].URL(), hc),
			notify.NewSlack(n.fakes[3].URL(), hc),
		}
	}
	ho := o.harnessOptions
	ho.deps = func(d *Deps) {
		n.announcer.Logger = d.Logger
		n.announcer.Store = d.State // nil without redis: the Announcer's own memory
		d.Announcer = n.announcer
		d.WebhookToken = n.webhookToken
		d.DingTalkAppSecret = n.dingSecret
		d.SlackSigningSecret = n.slackSecret
		d.DingTalkAllowed = notify.NewAllowlist([]string{dingConversation})
		d.SlackAllowed = notify.NewAllowlist([]string{slackTeam + ":" + slackChannel})
		if o.deps != nil {
			o.deps(d)
		}
	}
	n.harness = newHarness(t, ho)
	n.secrets = append(n.secrets, n.webhookToken, n.dingSecret, n.slackSecret, dingRobotSecret, larkSecret)
	for _, f := range n.fakes {
		n.secrets = append(n.secrets, f.Token())
	}
	return n
}

func dmsEvent(order int64) string {
	return fmt.Sprintf(`{"messageEvent":{"submitterUid":"2712345678","submitterName":"Zhang San","category":"Tickets",`+
		`"module":"Data Export","event":"Succeeded","taskId":%d,"taskName":"orders Q4","eventTime":%d,`+
		`"message":"Dear DMS user","targetUsers":[{"uid":"27001","name":"Li Si"}],"receivers":[{"uid":27002,"name":"Wang Wu"}]},`+
		`"signatureMethod":"None","signatureText":""}`, order, time.Now().UnixMilli())
}

// webhook posts body to receiveDmsWebhook with the token in the query.
func (n *notifyHarness) webhook(body string) *response {
	n.t.Helper()
	return n.do(http.MethodPost, "/webhooks/dms?token="+url.QueryEscape(n.webhookToken), strings.NewReader(body),
		http.Header{"Content-Type": {"application/json"}, "Dms-Event": {"Message Hook"}})
}

func (r *response) webhookResult(t *testing.T) webhookResult {
	t.Helper()
	var out webhookResult
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("webhook answer %d: %v: %s", r.StatusCode, err, r.body)
	}
	return out
}

func (n *notifyHarness) wantMessages(want int) {
	n.t.Helper()
	for i, f := range n.fakes {
		if got := len(f.Messages()); got != want {
			n.t.Errorf("robot %s accepted %d messages, want %d", n.announcer.Robots[i].Name(), got, want)
		}
	}
}

// download follows a minted link: the function's 302, then the fake OSS.
func (n *notifyHarness) download(link string) {
	n.t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Host != strings.TrimPrefix(n.srv.URL, "http://") {
		n.t.Fatalf("link %q is not on the function's host", link)
	}
	n.secrets = append(n.secrets, u.Query().Get("sig"))
	res := n.get(u.RequestURI(), nil)
	if res.StatusCode != http.StatusFound {
		n.t.Fatalf("the link answered %d: %s", res.StatusCode, res.body)
	}
	n.wantReadyFile(res.Header.Get("Location"))
}

func TestWebhookAnnouncesToEveryRobot(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"query", "header"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			n := newNotifyHarness(t, notifyOptions{})
			var res *response
			if where == "query" {
				res = n.webhook(dmsEvent(orderReady))
			} else {
				res = n.do(http.MethodPost, "/webhooks/dms", strings.NewReader(dmsEvent(orderReady)),
					http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Webhook-Token": {n.webhookToken}})
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d: %s", res.StatusCode, res.body)
			}
			out := res.webhookResult(t)
			if out.Outcome != "announced" || out.OrderID != orderReady || out.LinkExpiresAt == nil {
				t.Errorf("result = %+v", out)
			}
			if d := time.Until(*out.LinkExpiresAt); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour+time.Minute {
				t.Errorf("link expires in %v, want LINK_TTL", d)
			}
			var robots []string
			for _, d := range out.Deliveries {
				robots = append(robots, d.Robot)
				if !d.Delivered || d.Attempts != 1 || d.Error != "" {
					t.Errorf("delivery %+v, want delivered at the first attempt", d)
				}
			}
			if got, want := strings.Join(robots, ","), "dingtalk,lark,wecom,slack"; got != want {
				t.Errorf("deliveries to %s, want %s", got, want)
			}
			for _, f := range n.fakes {
				if strings.Contains(string(res.body), f.Token()) || strings.Contains(string(res.body), "127.0.0.1") {
					t.Errorf("the answer reveals a robot URL: %s", res.body)
				}
			}
			n.wantMessages(1)
			for _, f := range n.fakes {
				msg := f.Messages()[0]
				text := msg.Text()
				for _, want := range []string{"5461234", "orders Q4", "Zhang San", "UTC"} {
					if !strings.Contains(text, want) {
						t.Errorf("%s message lacks %q:\n%s", msg.Platform, want, text)
					}
				}
				n.download(msg.Link())
			}
			if got := n.env.Gateway.CallsFor(orderReady); got != 1 {
				t.Errorf("DMS calls = %d, want 1 (the webhook's; the clicks reuse its URL)", got)
			}
		})
	}
}

func TestWebhookAnnouncesOncePerWindow(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	if res := n.webhook(dmsEvent(orderReady)); res.StatusCode != http.StatusOK {
		t.Fatalf("first delivery: %d %s", res.StatusCode, res.body)
	}
	// DMS redelivers, sequentially and all at once.
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	outcomes := make([]string, 6)
	for i := range statuses {
		wg.Go(func() {
			res := n.webhook(dmsEvent(orderReady))
			statuses[i], outcomes[i] = res.StatusCode, res.webhookResult(t).Outcome
		})
	}
	wg.Wait()
	for i := range statuses {
		if statuses[i] != http.StatusAccepted || outcomes[i] != "duplicate" {
			t.Errorf("redelivery %d: %d %s, want 202 duplicate", i, statuses[i], outcomes[i])
		}
	}
	n.wantMessages(1)

	n.clock.Advance(11 * time.Minute)
	if res := n.webhook(dmsEvent(orderReady)); res.StatusCode != http.StatusOK {
		t.Fatalf("after the window: %d %s", res.StatusCode, res.body)
	}
	n.wantMessages(2)
}

func TestWebhookRetriesAFailingRobot(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	for _, f := range n.fakes {
		f.FailNext(1, http.StatusInternalServerError)
	}
	res := n.webhook(dmsEvent(orderReady))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", res.StatusCode, res.body)
	}
	for _, d := range res.webhookResult(t).Deliveries {
		if !d.Delivered || d.Attempts != 2 {
			t.Errorf("delivery %+v, want delivered at the second attempt", d)
		}
	}
	n.wantMessages(1)
	for _, f := range n.fakes {
		if got := f.Requests(); got != 2 {
			t.Errorf("%s saw %d requests, want 2", f.Messages()[0].Platform, got)
		}
	}
}

// When no robot takes the message the webhook fails, so DMS may redeliver,
// and nothing is remembered: the redelivery announces.
func TestWebhookAllRobotsFailing(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	for _, f := range n.fakes {
		f.FailNext(3, http.StatusServiceUnavailable)
	}
	res := n.webhook(dmsEvent(orderReady))
	p := res.problem(t)
	if res.StatusCode != http.StatusBadGateway || p.Code != "robots_failed" {
		t.Fatalf("got %d %s, want 502 robots_failed", res.StatusCode, p.Code)
	}
	if !strings.Contains(p.Detail, "dingtalk: HTTP 503") || !strings.Contains(p.Detail, "slack: HTTP 503") {
		t.Errorf("detail %q does not say which robots failed how", p.Detail)
	}
	n.wantMessages(0)
	if res := n.webhook(dmsEvent(orderReady)); res.StatusCode != http.StatusOK {
		t.Fatalf("redelivery: %d %s", res.StatusCode, res.body)
	}
	n.wantMessages(1)
}

// One robot refusing for good does not fail the webhook; its error is
// reported without its URL.
func TestWebhookReportsAFailedRobot(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	n.fakes[2].FailNextCode(5, 93000) // WeCom: invalid webhook URL, permanent
	res := n.webhook(dmsEvent(orderReady))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", res.StatusCode, res.body)
	}
	for _, d := range res.webhookResult(t).Deliveries {
		if d.Robot == "wecom" && (d.Delivered || d.Attempts != 1 || !strings.Contains(d.Error, "code 93000")) {
			t.Errorf("wecom delivery %+v, want one attempt failing with code 93000", d)
		}
		if d.Robot != "wecom" && !d.Delivered {
			t.Errorf("delivery %+v failed", d)
		}
	}
}

func TestWebhookWithoutAnnouncement(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		opt      notifyOptions
		order    int64
		event    string
		fault    *dmsfake.Fault
		outcome  string
		tip      string
		dmsCalls int
	}{
		{name: "not ready", order: orderNotYet, outcome: "not_ready", tip: "The export is still running.", dmsCalls: 1},
		{name: "export failed", order: orderFailed, outcome: "no_file", tip: "The export task failed.", dmsCalls: 1},
		{name: "unknown ticket", order: 99, outcome: "no_file", tip: "does not know", dmsCalls: 1},
		{name: "no robots", opt: notifyOptions{noRobots: true}, order: orderReady, outcome: "no_robots"},
		{name: "another event", order: orderReady, event: "Something Else", outcome: "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNotifyHarness(t, tc.opt)
			event := tc.event
			if event == "" {
				event = notify.DMSEventValue
			}
			res := n.do(http.MethodPost, "/webhooks/dms?token="+url.QueryEscape(n.webhookToken), strings.NewReader(dmsEvent(tc.order)),
				http.Header{"Content-Type": {"application/json"}, "Dms-Event": {event}})
			if res.StatusCode != http.StatusAccepted {
				t.Fatalf("status = %d, want 202: %s", res.StatusCode, res.body)
			}
			out := res.webhookResult(t)
			if out.Outcome != tc.outcome || !strings.Contains(out.TipMessage, tc.tip) || len(out.Deliveries) != 0 {
				t.Errorf("result = %+v, want outcome %s with tip %q", out, tc.outcome, tc.tip)
			}
			n.wantMessages(0)
			if got := n.env.Gateway.Calls(); got != tc.dmsCalls {
				t.Errorf("DMS calls = %d, want %d", got, tc.dmsCalls)
			}
		})
	}
}

// A DMS outage is an error DMS may retry, and announces nothing.
func TestWebhookDMSUnavailable(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	n.env.Gateway.SetFault(dmsfake.Fault{Throttle: -1})
	res := n.webhook(dmsEvent(orderReady))
	if p := res.problem(t); res.StatusCode != http.StatusServiceUnavailable || p.Code != "dms_throttled" {
		t.Fatalf("got %d %s, want 503 dms_throttled", res.StatusCode, p.Code)
	}
	n.wantMessages(0)
}

func TestWebhookRefusesBadRequests(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	unconfigured := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.WebhookToken = "" }})
	good := dmsEvent(orderReady)
	withToken := "/webhooks/dms?token=" + url.QueryEscape(n.webhookToken)
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		h      *notifyHarness
		target string
		body   string
		header http.Header
		status int
		code   string
		field  string
		detail string
	}{
		{name: "no token", target: "/webhooks/dms", body: good, status: 401, code: "webhook_unauthorized"},
		{name: "empty token", target: "/webhooks/dms?token=", body: good, status: 401, code: "webhook_unauthorized"},
		{name: "wrong token", target: "/webhooks/dms?token=" + url.QueryEscape(n.webhookToken+"x"), body: good, status: 401, code: "webhook_unauthorized"},
		{name: "token prefix", target: "/webhooks/dms?token=" + url.QueryEscape(n.webhookToken[:10]), body: good, status: 401, code: "webhook_unauthorized"},
		{name: "wrong header token", target: "/webhooks/dms", body: good, header: http.Header{"X-Webhook-Token": {"nope-" + n.webhookToken}}, status: 401, code: "webhook_unauthorized"},
		{name: "token as bearer", target: "/webhooks/dms", body: good, header: http.Header{"Authorization": {"Bearer " + n.webhookToken}}, status: 401, code: "webhook_unauthorized"},
		{name: "not configured", h: unconfigured, target: "/webhooks/dms?token=whatever-token-value", body: good, status: 503, code: "webhook_token_missing"},
		{name: "malformed JSON", target: withToken, body: `{"messageEvent":{"taskId":`, status: 400, code: "bad_json"},
		{name: "not an object", target: withToken, body: `[5461234]`, status: 400, code: "bad_request"},
		{name: "empty body", target: withToken, body: ``, status: 400, code: "bad_request"},
		{name: "unknown top-level field", target: withToken, body: `{"messageEvent":{"taskId":5461234},"extra":1}`, status: 400, code: "bad_request", detail: `"extra" is unsupported`},
		{name: "unknown event field", target: withToken, body: `{"messageEvent":{"taskId":5461234,"surprise":true}}`, status: 400, code: "bad_request", field: "messageEvent", detail: `"surprise" is unsupported`},
		{name: "missing taskId", target: withToken, body: `{"messageEvent":{"taskName":"x"}}`, status: 400, code: "bad_request"},
		{name: "no taskId anywhere", target: withToken, body: `{"signatureMethod":"None"}`, status: 400, code: "bad_request"},
		{name: "taskId zero", target: withToken, body: `{"messageEvent":{"taskId":0}}`, status: 400, code: "bad_request"},
		{name: "taskId zero string", target: withToken, body: `{"messageEvent":{"taskId":"0"}}`, status: 400, code: "bad_request", field: "messageEvent/taskId"},
		{name: "taskId overflowing string", target: withToken, body: `{"messageEvent":{"taskId":"9223372036854775808"}}`, status: 400, code: "bad_request", field: "messageEvent/taskId"},
		{name: "taskId text", target: withToken, body: `{"messageEvent":{"taskId":"abc"}}`, status: 400, code: "bad_request"},
		{name: "taskId fraction", target: withToken, body: `{"messageEvent":{"taskId":1.5}}`, status: 400, code: "bad_request"},
		{name: "taskId inside and outside", target: withToken, body: `{"taskId":1,"messageEvent":{"taskId":2}}`, status: 400, code: "bad_request", field: "taskId"},
		{name: "bad eventTime", target: withToken, body: `{"messageEvent":{"taskId":1,"eventTime":"yesterday"}}`, status: 400, code: "bad_request", field: "eventTime"},
		{name: "oversized", target: withToken, body: `{"messageEvent":{"taskId":1,"message":"` + strings.Repeat("a", 100<<10) + `"}}`, status: 413, code: "body_too_large"},
		{name: "form instead of JSON", target: withToken, body: `taskId=5461234`, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, status: 415, code: "unsupported_media_type"},
		{name: "GET", target: withToken, status: 405, code: "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if h == nil {
				h = n
			}
			header := tc.header
			if header == nil {
				header = http.Header{}
			}
			if header.Get("Content-Type") == "" {
				header.Set("Content-Type", jsonHeader.Get("Content-Type"))
			}
			method := http.MethodPost
			if tc.name == "GET" {
				method = http.MethodGet
			}
			res := h.do(method, tc.target, strings.NewReader(tc.body), header)
			p := res.problem(t)
			if res.StatusCode != tc.status || p.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", res.StatusCode, p.Code, p.Detail, tc.status, tc.code)
			}
			if tc.field != "" && !namesField(p, tc.field) {
				t.Errorf("the problem does not name %q: %+v", tc.field, p)
			}
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", p.Detail, tc.detail)
			}
			if tc.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Token ") {
				t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(res.body), n.webhookToken) {
				t.Errorf("the problem reveals the token: %s", res.body)
			}
		})
	}
	if got := n.env.Gateway.Calls() + unconfigured.env.Gateway.Calls(); got != 0 {
		t.Errorf("refused webhooks made %d DMS calls", got)
	}
	n.wantMessages(0)
}

// The older flat sample, taskId as a string, is announced too.
func TestWebhookOlderFlatForm(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	res := n.webhook(`{"submitterName":"Zhang San","category":"Tickets","event":"Succeeded","taskId":"5461234"}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", res.StatusCode, res.body)
	}
	n.wantMessages(1)
}

func dingTalkSign(secret string, ts int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d\n%s", ts, secret)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func slackSign(secret string, ts int64, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// The conversation and channel the harness allows commands from.
const (
	dingConversation = "cidTestGroup+/A=="
	dingCorp         = "dingcorpTest"
	slackTeam        = "T0001"
	slackChannel     = "C2147483705"
)

func dingTalkBody(text string) string { return dingTalkBodyFrom(text, dingConversation, "manager4711") }

// dingTalkBodyFrom is a message from staffID in conversation.
func dingTalkBodyFrom(text, conversation, staffID string) string {
	b, _ := json.Marshal(map[string]any{
		"msgtype": "text", "text": map[string]string{"content": text}, "senderNick": "Zhang San", "senderStaffId": staffID,
		"senderId": "$:LWCP_v1:$" + staffID, "senderCorpId": dingCorp, "conversationId": conversation, "chatbotCorpId": dingCorp,
		"conversationType": "2", "msgId": "msg" + secrettest.Random(8), "isAdmin": false, "createAt": time.Now().UnixMilli(),
	})
	return string(b)
}

func slackBody(text string) string {
	return slackBodyFrom(text, slackTeam, slackChannel, "U2147483697")
}

// slackBodyFrom is a slash command from user in team's channel.
func slackBodyFrom(text, team, channel, user string) string {
	return url.Values{"command": {"/export"}, "text": {text}, "user_name": {"zhang.san"}, "user_id": {user},
		"team_id": {team}, "channel_id": {channel}, "response_url": {"https://hooks.slack.com/commands/1/2"}}.Encode()
}

// dingTalk posts a DingTalk outgoing-robot message signed with secret at ts
// (moved on by a millisecond when an earlier message took that one, as two
// messages DingTalk sends differ in their timestamps).
func (n *notifyHarness) dingTalk(body, secret string, ts time.Time) *response {
	n.t.Helper()
	return n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(body), n.dingTalkHeader(secret, ts))
}

// dingTalkHeader signs a DingTalk outgoing-robot request at ts.
func (n *notifyHarness) dingTalkHeader(secret string, ts time.Time) http.Header {
	n.stamps.mu.Lock()
	ms := ts.UnixMilli()
	for n.stamps.used[ms] {
		ms++
	}
	n.stamps.used[ms] = true
	n.stamps.mu.Unlock()
	return http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Timestamp": {fmt.Sprint(ms)}, "Sign": {dingTalkSign(secret, ms)}}
}

// slack posts a slash command signed with secret at ts over signedBody.
func (n *notifyHarness) slack(body, signedBody, secret string, ts time.Time) *response {
	n.t.Helper()
	return n.do(http.MethodPost, "/bots/slack", strings.NewReader(body), http.Header{
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"X-Slack-Request-Timestamp": {fmt.Sprint(ts.Unix())},
		"X-Slack-Signature":         {slackSign(secret, ts.Unix(), signedBody)},
	})
}

var slackLink = regexp.MustCompile(`<([^|>]+)\|Download>`)

// commandText is the text a command's reply shows, and the link in it, if any.
func commandText(t *testing.T, platform string, res *response) (text, link string) {
	t.Helper()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("reply %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), res.body)
	}
	if platform == "dingtalk" {
		rec := robotfake.Recorded{Platform: "dingtalk", Body: res.body}
		return rec.Text(), rec.Link()
	}
	var reply map[string]string
	if err := json.Unmarshal(res.body, &reply); err != nil || reply["response_type"] != "ephemeral" {
		t.Fatalf("Slack reply %s: %v", res.body, err)
	}
	text = reply["text"]
	if m := slackLink.FindStringSubmatch(text); m != nil {
		link = html.UnescapeString(m[1])
	}
	return text, link
}

func TestCommandsReplyWithALink(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	cases := []struct {
		platform string
		text     string
		want     []string // in the reply's text
		link     bool
	}{
		{platform: "dingtalk", text: " export 5461234", want: []string{"DMS export ready", "**Ticket:** 5461234", "Link expires"}, link: true},
		{platform: "dingtalk", text: "@bot 导出 #5461234", link: true},
		{platform: "dingtalk", text: "5461235", want: []string{"Ticket 5461235 has no file yet: The export is still running."}},
		{platform: "dingtalk", text: "export 99", want: []string{"Sorry, no link for ticket 99", "DMS does not know this export ticket", "request id"}},
		{platform: "dingtalk", text: "delete 5461234", want: []string{"export 5461234"}},
		{platform: "dingtalk", text: "(picture)", want: []string{"export 5461234"}},
		{platform: "slack", text: "5461234", want: []string{"*DMS export ready: ticket 5461234*", "Link expires"}, link: true},
		{platform: "slack", text: "export 5461235", want: []string{"Ticket 5461235 has no file yet: The export is still running."}},
		{platform: "slack", text: "5461236", want: []string{"Sorry, no link for ticket 5461236", "The export task failed."}},
		{platform: "slack", text: "", want: []string{"export 5461234"}},
	}
	for _, tc := range cases {
		t.Run(tc.platform+" "+tc.text, func(t *testing.T) {
			var res *response
			if tc.platform == "dingtalk" && tc.text == "(picture)" {
				res = n.dingTalk(`{"msgtype":"picture","content":{"downloadCode":"x"},"conversationId":"`+dingConversation+`"}`, n.dingSecret, time.Now())
			} else if tc.platform == "dingtalk" {
				res = n.dingTalk(dingTalkBody(tc.text), n.dingSecret, time.Now())
			} else {
				body := slackBody(tc.text)
				res = n.slack(body, body, n.slackSecret, time.Now())
			}
			text, link := commandText(t, tc.platform, res)
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("reply lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, n.env.OSSURL) {
				t.Error("the reply reveals the OSS URL")
			}
			if got := link != ""; got != tc.link {
				t.Fatalf("reply has a link: %v, want %v:\n%s", got, tc.link, text)
			}
			if tc.link {
				n.download(link)
			}
		})
	}
}

func TestCommandsRefuseBadSignatures(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	unconfigured := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.DingTalkAppSecret, d.SlackSigningSecret = "", "" }})
	now := time.Now()
	dBody, sBody := dingTalkBody("export 5461234"), slackBody("5461234")
	dHeader := func(ts, sign string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		if ts != "" {
			h.Set("Timestamp", ts)
		}
		if sign != "" {
			h.Set("Sign", sign)
		}
		return h
	}
	ms := now.UnixMilli()
	cases := []struct {
		name   string
		send   func() *response
		status int
		code   string
	}{
		{name: "dingtalk wrong secret", send: func() *response { return n.dingTalk(dBody, n.dingSecret+"x", now) }, status: 401, code: "signature_invalid"},
		{name: "dingtalk stale timestamp", send: func() *response { return n.dingTalk(dBody, n.dingSecret, now.Add(-61*time.Minute)) }, status: 401, code: "signature_stale"},
		{name: "dingtalk future timestamp", send: func() *response { return n.dingTalk(dBody, n.dingSecret, now.Add(61*time.Minute)) }, status: 401, code: "signature_stale"},
		{name: "dingtalk six minutes old", send: func() *response { return n.dingTalk(dBody, n.dingSecret, now.Add(-6*time.Minute)) }, status: 401, code: "signature_stale"},
		{name: "dingtalk altered timestamp", send: func() *response {
			return n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dBody), dHeader(fmt.Sprint(ms+1), dingTalkSign(n.dingSecret, ms)))
		}, status: 401, code: "signature_invalid"},
		{name: "dingtalk altered sign", send: func() *response {
			s := []byte(dingTalkSign(n.dingSecret, ms))
			s[3] ^= 1
			return n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dBody), dHeader(fmt.Sprint(ms), string(s)))
		}, status: 401, code: "signature_invalid"},
		{name: "dingtalk no sign", send: func() *response {
			return n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dBody), dHeader(fmt.Sprint(ms), ""))
		}, status: 401, code: "signature_invalid"},
		{name: "dingtalk no timestamp", send: func() *response {
			return n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dBody), dHeader("", dingTalkSign(n.dingSecret, ms)))
		}, status: 401, code: "signature_invalid"},
		{name: "dingtalk not configured", send: func() *response { return unconfigured.dingTalk(dBody, "any", now) }, status: 503, code: "bot_secret_missing"},
		{name: "dingtalk not JSON", send: func() *response { return n.dingTalk(`{"msgtype":`, n.dingSecret, now) }, status: 400, code: "bad_json"},
		{name: "dingtalk text without content", send: func() *response { return n.dingTalk(`{"msgtype":"text"}`, n.dingSecret, now) }, status: 400, code: "bad_request"},
		{name: "dingtalk oversized", send: func() *response {
			return n.dingTalk(dingTalkBody(strings.Repeat("5", 100<<10)), n.dingSecret, now)
		}, status: 413, code: "body_too_large"},

		{name: "slack wrong secret", send: func() *response { return n.slack(sBody, sBody, n.slackSecret+"x", now) }, status: 401, code: "signature_invalid"},
		{name: "slack stale timestamp", send: func() *response { return n.slack(sBody, sBody, n.slackSecret, now.Add(-6*time.Minute)) }, status: 401, code: "signature_stale"},
		{name: "slack altered body", send: func() *response { return n.slack(slackBody("5461235"), sBody, n.slackSecret, now) }, status: 401, code: "signature_invalid"},
		{name: "slack extra field", send: func() *response { return n.slack(sBody+"&x=1", sBody, n.slackSecret, now) }, status: 401, code: "signature_invalid"},
		{name: "slack no signature", send: func() *response {
			return n.do(http.MethodPost, "/bots/slack", strings.NewReader(sBody), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "X-Slack-Request-Timestamp": {fmt.Sprint(now.Unix())}})
		}, status: 401, code: "signature_invalid"},
		{name: "slack v1 signature", send: func() *response {
			return n.do(http.MethodPost, "/bots/slack", strings.NewReader(sBody), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "X-Slack-Request-Timestamp": {fmt.Sprint(now.Unix())},
				"X-Slack-Signature": {strings.Replace(slackSign(n.slackSecret, now.Unix(), sBody), "v0=", "v1=", 1)}})
		}, status: 401, code: "signature_invalid"},
		{name: "slack not configured", send: func() *response { return unconfigured.slack(sBody, sBody, "any", now) }, status: 503, code: "bot_secret_missing"},
		{name: "slack without command", send: func() *response { b := "text=5461234"; return n.slack(b, b, n.slackSecret, now) }, status: 400, code: "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.send()
			p := res.problem(t)
			if res.StatusCode != tc.status || p.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", res.StatusCode, p.Code, p.Detail, tc.status, tc.code)
			}
			if tc.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Signature ") {
				t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if got := n.env.Gateway.Calls() + unconfigured.env.Gateway.Calls(); got != 0 {
		t.Errorf("refused commands made %d DMS calls", got)
	}
}

// previewers are user agents of chat and social apps drawing link previews.
var previewers = []string{
	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	"Slack-ImgProxy (+https://api.slack.com/robots)",
	"DingTalkBot-LinkService/1.0 (+https://open-doc.dingtalk.com/microapp/faquestions/ftpfeu)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0 Safari/537.36 DingTalkBot-LinkService/1.0",
	"Mozilla/5.0 (compatible; LarkBot/1.0)",
	"Mozilla/5.0 (compatible; FeishuBot/1.0)",
	"TelegramBot (like TwitterBot)",
	"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
	"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
	"WhatsApp/2.23.20.0 A",
	"Twitterbot/1.0",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
}

func TestPreviewersNeverReachDMS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	exp := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	link := h.link(orderReady, exp)
	sig := h.secrets[len(h.secrets)-1]
	for _, ua := range previewers {
		t.Run(ua, func(t *testing.T) {
			res := h.get(link, http.Header{"User-Agent": {ua}})
			if res.StatusCode != http.StatusOK || res.Header.Get("Location") != "" {
				t.Fatalf("GET: %d, Location %q", res.StatusCode, res.Header.Get("Location"))
			}
			for name, want := range map[string]string{
				"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
				"Content-Security-Policy": previewCSP, "Referrer-Policy": "no-referrer",
			} {
				if got := res.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			page := string(res.body)
			for _, want := range []string{
				`<meta property="og:title" content="DMS export 5461234">`,
				`<meta property="og:description" content="DMS export 5461234, link valid until ` + notify.FormatExpiry(exp) + `">`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s:\n%s", want, page)
				}
			}
			for _, leak := range []string{h.env.OSSURL, sig, "<script", "http://", "https://"} {
				if strings.Contains(page, leak) {
					t.Errorf("page contains %q", leak)
				}
			}
			head := h.do(http.MethodHead, link, nil, http.Header{"User-Agent": {ua}})
			if head.StatusCode != http.StatusOK || head.Header.Get("Location") != "" {
				t.Errorf("HEAD: %d, Location %q", head.StatusCode, head.Header.Get("Location"))
			}
		})
	}
	if n := h.env.Gateway.Calls(); n != 0 {
		t.Fatalf("previewers made %d DMS calls", n)
	}
	// The signature is still checked first.
	tampered := strings.Replace(link, "/5461234/", "/5461235/", 1)
	if res := h.get(tampered, http.Header{"User-Agent": {previewers[0]}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a previewer with a tampered link got %d, want 403", res.StatusCode)
	}
	// People in the chat apps' own browsers are not previewers.
	for _, ua := range []string{
		"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 Mobile Safari/537.36 AliApp(DingTalk/7.0.40) com.alibaba.android.rimet",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Lark/7.1.0 LarkLocale/en_US",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
	} {
		if res := h.get(link, http.Header{"User-Agent": {ua}}); res.StatusCode != http.StatusFound {
			t.Errorf("%s: status %d, want the 302", ua, res.StatusCode)
		}
	}
	if n := h.env.Gateway.Calls(); n != 1 {
		t.Errorf("DMS calls = %d, want 1 for the three clicks (cached)", n)
	}
}
