package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
)

// The demo's sample conversations, the ones its allow-lists admit.
const (
	demoConversation = "cidDemoGroup0000000000000000="
	demoSlackTeam    = "T0DEMO"
	demoSlackChannel = "C0DEMO"
)

// The demo's sample tickets.
const (
	demoTid      = 3000
	demoReady    = 5461234
	demoNotReady = 5461235
	demoFailed   = 5461236
)

// demoFile is the sample export the fake OSS serves.
var demoFile = []byte("id,name,signup_date\n1,Alice,2026-11-01\n2,Bob,2026-11-02\n3,Chen Jing,2026-11-03\n")

// demoEnv is the -demo mode: the DMS emulator and fake OSS on loopback, and
// the configuration that points the function at them.
type demoEnv struct {
	env     *dmsfake.Env
	vars    map[string]string
	base    func(string) string
	linkKey links.Key
	token   string
	robots  []*robotfake.Fake // the recording robots standing in for unset robot URLs
}

func startDemo(getenv func(string) string, stdout io.Writer, base string) (*demoEnv, error) {
	ak, secret, sts := "LTAI"+randHex(8), randHex(16), "CAIS"+randHex(24)
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID:     ak,
		AccessKeySecret: secret,
		SecurityToken:   sts,
		Logger:          slog.New(slog.NewJSONHandler(stdout, nil)),
		DefaultTid:      demoTid,
	}, dmsfake.OSSOptions{Bucket: "dms-idb-demo", AccessKeyID: "LTAI" + randHex(8), AccessKeySecret: randHex(16), PlainHTTP: true})
	if err != nil {
		return nil, fmt.Errorf("demo: start the DMS emulator: %w", err)
	}
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoReady, State: dmsfake.StateReady, FileName: fmt.Sprintf("export_%d.csv", demoReady), File: demoFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoNotReady, State: dmsfake.StateNotReady, Tip: "The export is still running (37%)."})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoFailed, State: dmsfake.StateFailed, ErrorCode: "UnknownError", ErrorMessage: "The export task failed: the SQL timed out."})

	key := links.Key{ID: "demo", Secret: randBytes(32)}
	d := &demoEnv{env: env, base: getenv, linkKey: key, token: "demo-" + randHex(16)}
	d.vars = map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     ak,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    sts,
		"DMS_ENDPOINT":                    env.DMSHost,
		"DMS_SCHEME":                      "http",
		"DMS_TID":                         fmt.Sprint(demoTid),
		"ALLOWED_DOWNLOAD_HOSTS":          hostOf(env.OSSURL),
		"ALLOW_HTTP_LOOPBACK_DOWNLOADS":   "true",
		"LINK_KEYS":                       key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
		"API_TOKENS":                      d.token,
		"FC_RUNTIME_API":                  "", // the demo always serves locally
	}
	for name, value := range map[string]string{
		"PUBLIC_BASE_URL":                base,
		"DINGTALK_ALLOWED_CONVERSATIONS": demoConversation,
		"SLACK_ALLOWED_CHANNELS":         demoSlackTeam + ":" + demoSlackChannel,
	} {
		if getenv(name) == "" {
			d.vars[name] = value
		}
	}
	if err := d.startRobots(stdout); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// startRobots stands in a recording robot, which checks the platform's
// signature and prints what it accepts, for every robot URL the environment
// does not set, and makes up the inbound secrets the environment lacks.
func (d *demoEnv) startRobots(stdout io.Writer) error {
	robots := []struct{ platform, urlVar, secretVar, secret string }{
		{"dingtalk", "DINGTALK_ROBOT_URL", "DINGTALK_ROBOT_SECRET", "SEC" + randHex(32)},
		{"lark", "LARK_ROBOT_URL", "LARK_ROBOT_SECRET", randHex(16)},
		{"wecom", "WECOM_ROBOT_URL", "", ""},
		{"slack", "SLACK_WEBHOOK_URL", "", ""},
	}
	var printing sync.Mutex
	for _, r := range robots {
		if d.base(r.urlVar) != "" {
			continue
		}
		f, err := robotfake.Start(r.platform, r.secret)
		if err != nil {
			return fmt.Errorf("demo: start the %s robot: %w", r.platform, err)
		}
		f.OnMessage(func(m robotfake.Recorded) {
			printing.Lock()
			defer printing.Unlock()
			fmt.Fprintf(stdout, "\n[demo %s robot] accepted a signed message:\n  %s\n  link: %s\n\n",
				m.Platform, strings.ReplaceAll(m.Text(), "\n", "\n  "), m.Link())
		})
		d.robots = append(d.robots, f)
		d.vars[r.urlVar] = f.URL()
		if r.secretVar != "" {
			d.vars[r.secretVar] = r.secret
		}
	}
	for name, value := range map[string]string{
		"DMS_WEBHOOK_TOKEN":    "hook-" + randHex(16),
		"DINGTALK_APP_SECRET":  randHex(16),
		"SLACK_SIGNING_SECRET": randHex(16),
	} {
		if d.base(name) == "" {
			d.vars[name] = value
		}
	}
	return nil
}

// getenv overlays the demo's settings on the real environment.
func (d *demoEnv) getenv(name string) string {
	if v, ok := d.vars[name]; ok {
		return v
	}
	return d.base(name)
}

func (d *demoEnv) Close() {
	for _, f := range d.robots {
		f.Close()
	}
	d.env.Close()
}

// shellValue is how the guide's commands spell a setting: the demo's own
// value, or a reference to the variable the user set (never echoed).
func (d *demoEnv) shellValue(name string) string {
	if v, ok := d.vars[name]; ok {
		return "'" + v + "'"
	}
	return `"$` + name + `"`
}

// printGuide prints ready-to-click links and sample curl commands.
func (d *demoEnv) printGuide(w io.Writer, base string) {
	now := time.Now()
	signer := &links.Signer{Keys: []links.Key{d.linkKey}, MaxTTL: 30 * 24 * time.Hour}
	mint := func(s *links.Signer, order int64, exp time.Time) string {
		q, err := s.Sign(links.Claims{OrderID: order, Expires: exp})
		if err != nil {
			return "(cannot sign: " + err.Error() + ")"
		}
		return base + "/exports/" + fmt.Sprint(order) + "/download?" + q.Encode()
	}
	week := now.Add(7 * 24 * time.Hour)
	ready := mint(signer, demoReady, week)
	past := &links.Signer{Keys: signer.Keys, MaxTTL: signer.MaxTTL, Now: func() time.Time { return now.Add(-48 * time.Hour) }}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ndms-export-link demo: the function, a DMS emulator and a fake OSS on loopback.")
	fmt.Fprintln(tw, "Open these in a browser or with curl -i:")
	fmt.Fprintf(tw, "  ready (302 to the file)\t%s\n", ready)
	fmt.Fprintf(tw, "  not ready yet (409)\t%s\n", mint(signer, demoNotReady, week))
	fmt.Fprintf(tw, "  export failed (502)\t%s\n", mint(signer, demoFailed, week))
	fmt.Fprintf(tw, "  tampered (403)\t%s\n", tamper(ready))
	fmt.Fprintf(tw, "  expired (410)\t%s\n", mint(past, demoReady, now.Add(-24*time.Hour)))
	_ = tw.Flush()
	fmt.Fprintf(w, "\nDownload the sample file:\n  curl -L -OJ '%s'\n", ready)
	fmt.Fprintf(w, "\nAs a bot (JSON status and a fresh link):\n  curl -H 'Authorization: Bearer %s' %s/exports/%d\n", d.token, base, demoReady)
	fmt.Fprintf(w, "  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"orderId\":%d,\"ttlSeconds\":3600}' %s/links\n", d.token, demoReady, base)
	d.printNotifications(w, base, ready)
	fmt.Fprintf(w, "\nThe contract: %s/openapi.yaml   Each DMS call the emulator serves logs a line with \"msg\":\"dms call\".\n\n", base)
}

// printNotifications shows the webhook, the chat commands and the preview
// card as curl commands. The signatures are computed with openssl exactly as
// the platforms compute them.
func (d *demoEnv) printNotifications(w io.Writer, base, ready string) {
	var names []string
	for _, f := range d.robots {
		names = append(names, f.Platform())
	}
	lines := []string{
		"",
		"Notifications. Recording robots stand in for " + strings.Join(names, ", ") + " (unset *_ROBOT_URL / SLACK_WEBHOOK_URL);",
		"they check each platform's signature and print every message they accept.",
		"A DMS webhook for a finished export (200, one message per robot; repeat it: 202 duplicate):",
		"  curl -i -H 'Content-Type: application/json' -H 'DMS-Event: Message Hook' -d '" + demoWebhookBody(demoReady) + "' " +
			d.webhookURL(base),
		"The same for an export still running (202 not_ready, no message): use taskId " + fmt.Sprint(demoNotReady) + ".",
		"Ask the DingTalk outgoing robot from the demo group (reply with a fresh link; run the curl line again: 401 signature_replayed):",
		"  secret=" + d.shellValue("DINGTALK_APP_SECRET") + "; ts=$(($(date +%s)*1000)); " +
			`sign=$(printf '%s\n%s' "$ts" "$secret" | openssl dgst -sha256 -hmac "$secret" -binary | base64)`,
		`  curl -i -H "timestamp: $ts" -H "sign: $sign" -H 'Content-Type: application/json' ` +
			`-d '` + demoDingTalkBody(demoReady) + `' ` + base + "/bots/dingtalk",
		"Ask the Slack slash command from the demo channel (again: run the curl line twice):",
		"  secret=" + d.shellValue("SLACK_SIGNING_SECRET") + "; ts=$(date +%s); body='" + demoSlackBody(demoReady) + "'; " +
			`sig=$(printf 'v0:%s:%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')`,
		`  curl -i -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: v0=$sig" --data "$body" ` + base + "/bots/slack",
		"A link-preview bot gets a card and never a download (no DMS call):",
		"  curl -i -A 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' '" + ready + "'",
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// webhookURL is the hook address to configure in DMS, token included.
func (d *demoEnv) webhookURL(base string) string {
	if v, ok := d.vars["DMS_WEBHOOK_TOKEN"]; ok {
		return "'" + base + "/webhooks/dms?token=" + url.QueryEscape(v) + "'"
	}
	return `"` + base + `/webhooks/dms?token=$DMS_WEBHOOK_TOKEN"`
}

// demoWebhookBody is a DMS Message Hook for order, as DMS sends it.
func demoWebhookBody(order int64) string {
	return fmt.Sprintf(`{"messageEvent":{"submitterName":"Zhang San","category":"Tickets","module":"Data Export",`+
		`"event":"Succeeded","taskId":%d,"taskName":"orders Q4","eventTime":%d}}`, order, time.Now().UnixMilli())
}

// demoDingTalkBody is a DingTalk outgoing-robot message from the demo group.
func demoDingTalkBody(order int64) string {
	return fmt.Sprintf(`{"msgtype":"text","text":{"content":"export %d"},"senderNick":"Demo User","senderStaffId":"demo01",`+
		`"conversationId":"%s","conversationType":"2"}`, order, demoConversation)
}

// demoSlackBody is a slash command from the demo channel.
func demoSlackBody(order int64) string {
	return fmt.Sprintf("command=%%2Fexport&text=%d&user_name=demo&user_id=U0DEMO&team_id=%s&channel_id=%s", order, demoSlackTeam, demoSlackChannel)
}

// tamper changes one character of a link's signature.
func tamper(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	sig := q.Get("sig")
	if sig == "" {
		return link
	}
	repl := "A"
	if strings.HasPrefix(sig, "A") {
		repl = "B"
	}
	q.Set("sig", repl+sig[1:])
	u.RawQuery = q.Encode()
	return u.String()
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }
