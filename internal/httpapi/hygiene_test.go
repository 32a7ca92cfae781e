package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// DMS-provided names reach the chat as plain text: bidi and zero-width
// characters are gone, URLs and domains cannot be clicked on any platform,
// and overlong names are cut; the message's only link is the function's own.
func TestAnnouncementsShowDMSTextPlain(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	event := map[string]any{"messageEvent": map[string]any{
		"taskId":        orderReady,
		"taskName":      "Q4\u202e gpj.exe \u202c see https://evil.example/login" + strings.Repeat("x", 400),
		"submitterName": "Zhang\u200b San www.phish.example",
	}}
	body, _ := json.Marshal(event)
	if res := n.webhook(string(body)); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, res.body)
	}
	for _, f := range n.fakes {
		for _, m := range f.Messages() {
			text := m.Text()
			for _, bad := range []string{"\u202e", "\u202c", "\u200b", "https://evil", "evil.example", "phish.example", strings.Repeat("x", 300)} {
				if strings.Contains(text, bad) || strings.Contains(string(m.Body), bad) {
					t.Errorf("%s message contains %q:\n%s", m.Platform, bad, text)
				}
			}
			if !strings.Contains(text, "evil") || !strings.Contains(text, "Zhang San") {
				t.Errorf("%s message lost the names:\n%s", m.Platform, text)
			}
			n.download(m.Link())
		}
	}
}

// openapi.yaml caps DMS-provided text; longer is a 400 naming the field.
func TestWebhookCapsTextLengths(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	body, _ := json.Marshal(map[string]any{"messageEvent": map[string]any{"taskId": orderReady, "taskName": strings.Repeat("a", 2000)}})
	res := n.webhook(string(body))
	if p := res.problem(t); res.StatusCode != http.StatusBadRequest || !strings.Contains(p.Detail, "taskName") {
		t.Errorf("got %d %+v, want 400 naming taskName", res.StatusCode, p)
	}
	n.wantMessages(0)
}
