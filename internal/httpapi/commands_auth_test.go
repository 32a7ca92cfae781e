package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// requestLines are the "request" log lines of operation op, decoded.
func (h *harness) requestLines(t *testing.T, op string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["operationId"] == op {
			out = append(out, m)
		}
	}
	return out
}

// A command from a conversation or channel that is not allowed gets a polite
// refusal that names no ticket, mints no link and costs no DMS call.
func TestCommandsFromElsewhereGetNoLink(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	cases := []struct {
		name, platform, body string
	}{
		{"dingtalk other group", "dingtalk", dingTalkBodyFrom("export 5461234", "cidOtherGroup==", "manager4711")},
		{"dingtalk no conversation", "dingtalk", dingTalkBodyFrom("export 5461234", "", "manager4711")},
		{"slack other channel", "slack", slackBodyFrom("5461234", slackTeam, "C0OTHER", "U2147483697")},
		{"slack same channel id in another workspace", "slack", slackBodyFrom("5461234", "T0EVIL", slackChannel, "U2147483697")},
		{"slack no team", "slack", slackBodyFrom("5461234", "", slackChannel, "U2147483697")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res *response
			if tc.platform == "dingtalk" {
				res = n.dingTalk(tc.body, n.dingSecret, time.Now())
			} else {
				res = n.slack(tc.body, tc.body, n.slackSecret, time.Now())
			}
			text, l := commandText(t, tc.platform, res)
			if l != "" || strings.Contains(text, "5461234") || !strings.Contains(text, "may not ask") {
				t.Errorf("reply %q, want a refusal without link or ticket", text)
			}
		})
	}
	if got := n.env.Gateway.Calls(); got != 0 {
		t.Errorf("refused commands made %d DMS calls", got)
	}
	for _, op := range []string{"dingtalkCommand", "slackCommand"} {
		for _, line := range n.requestLines(t, op) {
			if line["outcome"] != "command_refused" || line["orderId"] != float64(orderReady) {
				t.Errorf("log line %v, want outcome command_refused with the ticket asked for", line)
			}
		}
	}
}

// Unset allow-lists turn commands off, naming the setting; "*" allows all.
func TestCommandAllowListsUnsetAndStar(t *testing.T) {
	t.Parallel()
	off := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.DingTalkAllowed, d.SlackAllowed = notify.Allowlist{}, notify.Allowlist{} }})
	text, l := commandText(t, "dingtalk", off.dingTalk(dingTalkBody("export 5461234"), off.dingSecret, time.Now()))
	if l != "" || !strings.Contains(text, "DINGTALK\\_ALLOWED\\_CONVERSATIONS") || strings.Contains(text, "5461234") {
		t.Errorf("DingTalk reply %q, want no link and DINGTALK_ALLOWED_CONVERSATIONS named", text)
	}
	body := slackBody("5461234")
	text, l = commandText(t, "slack", off.slack(body, body, off.slackSecret, time.Now()))
	if l != "" || !strings.Contains(text, "SLACK_ALLOWED_CHANNELS") {
		t.Errorf("Slack reply %q, want no link and SLACK_ALLOWED_CHANNELS named", text)
	}
	if got := off.env.Gateway.Calls(); got != 0 {
		t.Errorf("commands that are off made %d DMS calls", got)
	}

	star := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) {
		d.DingTalkAllowed, d.SlackAllowed = notify.NewAllowlist([]string{"*"}), notify.NewAllowlist([]string{"*"})
	}})
	if _, l := commandText(t, "dingtalk", star.dingTalk(dingTalkBodyFrom("5461234", "cidAnyGroup", "x1"), star.dingSecret, time.Now())); l == "" {
		t.Error("* did not allow a DingTalk group")
	}
	body = slackBodyFrom("5461234", "T9", "C9", "U9")
	if _, l := commandText(t, "slack", star.slack(body, body, star.slackSecret, time.Now())); l == "" {
		t.Error("* did not allow a Slack channel")
	}
}

// Every command's log line says who asked, from where, and for which ticket.
func TestCommandLogRecordsTheAsker(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	commandText(t, "dingtalk", n.dingTalk(dingTalkBodyFrom("export 5461234", dingConversation, "staff0815"), n.dingSecret, time.Now()))
	body := slackBodyFrom("5461235", slackTeam, slackChannel, "U0815")
	commandText(t, "slack", n.slack(body, body, n.slackSecret, time.Now()))
	for _, tc := range []struct {
		op    string
		order int64
		asker map[string]any
	}{
		{"dingtalkCommand", orderReady, map[string]any{"platform": "dingtalk", "senderStaffId": "staff0815", "senderNick": "Zhang San",
			"conversationId": dingConversation, "senderCorpId": dingCorp}},
		{"slackCommand", orderNotYet, map[string]any{"platform": "slack", "user_id": "U0815", "team_id": slackTeam, "channel_id": slackChannel}},
	} {
		lines := n.requestLines(t, tc.op)
		if len(lines) != 1 {
			t.Fatalf("%s: %d request lines, want 1", tc.op, len(lines))
		}
		got, _ := lines[0]["asker"].(map[string]any)
		for k, want := range tc.asker {
			if got[k] != want {
				t.Errorf("%s: asker %s = %v, want %v (line %v)", tc.op, k, got[k], want, lines[0])
			}
		}
		if lines[0]["orderId"] != float64(tc.order) {
			t.Errorf("%s: orderId = %v, want %d", tc.op, lines[0]["orderId"], tc.order)
		}
	}
}

// COMMAND_RATE_LIMIT is per asker: a third command in a minute is refused
// without a DMS call, and another person in the same group is not affected.
func TestCommandBudgetPerAsker(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.CommandRate = 2 }})
	ask := func(staff, ticket string) (string, string) {
		return commandText(t, "dingtalk", n.dingTalk(dingTalkBodyFrom("export "+ticket, dingConversation, staff), n.dingSecret, time.Now()))
	}
	for i := range 2 {
		if _, l := ask("flooder", "5461234"); l == "" {
			t.Fatalf("command %d within budget got no link", i+1)
		}
	}
	text, l := ask("flooder", "5461236")
	if l != "" || !strings.Contains(text, "try again in") || strings.Contains(text, "5461236") {
		t.Errorf("over budget: reply %q, want a refusal without link or ticket", text)
	}
	if got := n.env.Gateway.CallsFor(orderFailed); got != 0 {
		t.Errorf("the command over budget made %d DMS calls", got)
	}
	if _, l := ask("colleague", "5461234"); l == "" {
		t.Error("another asker was refused by the flooder's budget")
	}
}
