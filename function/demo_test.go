package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runDemo starts `-demo` on a free loopback port and returns its output once
// the guide has been printed.
func runDemo(t *testing.T, flags ...string) *secrettest.Buffer {
	t.Helper()
	return runDemoEnv(t, func(string) string { return "" }, flags...)
}

// runDemoEnv is runDemo with an environment.
func runDemoEnv(t *testing.T, getenv func(string) string, flags ...string) *secrettest.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &secrettest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-demo", "-addr", "127.0.0.1:0"}, flags...), getenv, out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	waitFor(t, out, "The contract:")
	return out
}

// waitFor polls the demo's output for text.
func waitFor(t *testing.T, out *secrettest.Buffer, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not print %q in time:\n%s", text, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The README's notification walkthrough: the printed webhook reaches every
// recording robot once; the printed secrets sign working chat commands.
func TestDemoNotifications(t *testing.T) {
	out := runDemo(t)
	guide := out.String()
	m := regexp.MustCompile(`-d '(\{"messageEvent".*?\})' '(http://\S+/webhooks/dms\?token=[^']+)'`).FindStringSubmatch(guide)
	if m == nil {
		t.Fatalf("the guide has no webhook curl line:\n%s", guide)
	}
	body, hook := m[1], m[2]
	post := func(target, body string, header http.Header) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.Header = header
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}, "Dms-Event": {"Message Hook"}}
	if status, b := post(hook, body, jsonHeader); status != http.StatusOK {
		t.Fatalf("webhook: %d %s", status, b)
	}
	for _, robot := range []string{"dingtalk", "lark", "wecom", "slack"} {
		waitFor(t, out, "[demo "+robot+" robot] accepted a signed message")
	}
	if status, b := post(hook, body, jsonHeader); status != http.StatusAccepted || !strings.Contains(string(b), `"duplicate"`) {
		t.Errorf("repeated webhook: %d %s, want 202 duplicate", status, b)
	}
	if n := strings.Count(out.String(), "accepted a signed message"); n != 4 {
		t.Errorf("the robots accepted %d messages, want 4", n)
	}

	secrets := regexp.MustCompile(`secret='([0-9a-f]+)'`).FindAllStringSubmatch(guide, -1)
	base := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/bots/dingtalk`).FindStringSubmatch(guide)
	if len(secrets) != 2 || base == nil {
		t.Fatalf("the guide does not show the DingTalk and Slack secrets and address:\n%s", guide)
	}
	// The printed bodies, as the guide's curl lines send them, twice each:
	// the first works, the replay is refused.
	dingBody := regexp.MustCompile(`-d '(\{"msgtype".*?\})' http`).FindStringSubmatch(guide)
	slackForm := regexp.MustCompile(`body='(command=[^']+)'`).FindStringSubmatch(guide)
	if dingBody == nil || slackForm == nil || !strings.Contains(dingBody[1], `"conversationId":"cid`) || !strings.Contains(slackForm[1], "channel_id=") {
		t.Fatalf("the guide's command lines lack their conversation:\n%s", guide)
	}
	ms := time.Now().UnixMilli()
	mac := hmac.New(sha256.New, []byte(secrets[0][1]))
	fmt.Fprintf(mac, "%d\n%s", ms, secrets[0][1])
	dingHeader := func() http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Timestamp": {fmt.Sprint(ms)}, "Sign": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
	}
	status, b := post(base[1]+"/bots/dingtalk", dingBody[1], dingHeader())
	if status != http.StatusOK || !strings.Contains(string(b), "%2Fexports%2F5461234%2Fdownload") {
		t.Errorf("DingTalk command: %d %s", status, b)
	}
	if status, b := post(base[1]+"/bots/dingtalk", dingBody[1], dingHeader()); status != http.StatusUnauthorized || !strings.Contains(string(b), "signature_replayed") {
		t.Errorf("DingTalk replay: %d %s, want 401 signature_replayed", status, b)
	}
	form := slackForm[1]
	sec := time.Now().Unix()
	mac = hmac.New(sha256.New, []byte(secrets[1][1]))
	fmt.Fprintf(mac, "v0:%d:%s", sec, form)
	slackHeader := func() http.Header {
		return http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"X-Slack-Request-Timestamp": {fmt.Sprint(sec)}, "X-Slack-Signature": {"v0=" + hex.EncodeToString(mac.Sum(nil))}}
	}
	status, b = post(base[1]+"/bots/slack", form, slackHeader())
	var reply map[string]string
	if status != http.StatusOK || json.Unmarshal(b, &reply) != nil || !strings.Contains(reply["text"], base[1]+"/exports/5461234/download") {
		t.Errorf("Slack command: %d %s", status, b)
	}
	if status, b := post(base[1]+"/bots/slack", form, slackHeader()); status != http.StatusUnauthorized {
		t.Errorf("Slack replay: %d %s, want 401", status, b)
	}
	// Another conversation gets no link.
	other := strings.Replace(dingBody[1], `"conversationId":"cid`, `"conversationId":"cidOther`, 1)
	ms++
	mac = hmac.New(sha256.New, []byte(secrets[0][1]))
	fmt.Fprintf(mac, "%d\n%s", ms, secrets[0][1])
	if status, b := post(base[1]+"/bots/dingtalk", other, dingHeader()); status != http.StatusOK || strings.Contains(string(b), "download") {
		t.Errorf("DingTalk from another group: %d %s, want a refusal", status, b)
	}
}
