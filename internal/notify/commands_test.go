package notify

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text   string
		want   int64
		wantOK bool
	}{
		{"export 5461234", 5461234, true},
		{"5461234", 5461234, true},
		{"@bot export #5461234", 5461234, true},
		{"  @DMS助手  Export   #5461234。", 5461234, true},
		{"导出 5461234", 5461234, true},
		{"导出5461234", 5461234, true},
		{"导出 ＃５４６１２３４", 5461234, true},
		{"/export 42", 42, true},
		{"download 42!", 42, true},
		{"9223372036854775807", 9223372036854775807, true},

		{"", 0, false},
		{"export", 0, false},
		{"export 0", 0, false},
		{"export -5", 0, false},
		{"export +5", 0, false},
		{"export 9223372036854775808", 0, false},
		{"export 1 2", 0, false},
		{"export 12ab", 0, false},
		{"delete 5461234", 0, false},
		{"export 1.5", 0, false},
		{"@bot", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseCommand(tt.text)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseCommand(%q) = %d, %v; want %d, %v", tt.text, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"export 5461234", "@bot export #5461234", "导出 5461234", "1 2", "-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		id, ok := ParseCommand(text)
		if !ok {
			if id != 0 {
				t.Fatalf("not ok but id %d", id)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("accepted id %d", id)
		}
		// The id must be spelled in the text (ASCII or full-width digits).
		if digits := strconv.FormatInt(id, 10); !mixedContains(text, digits) {
			t.Fatalf("ParseCommand(%q) = %d, which is not in the text", text, id)
		}
	})
}

// mixedContains reports whether text spells digits with any mix of ASCII and
// full-width characters.
func mixedContains(text, digits string) bool {
	norm := strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, text)
	return strings.Contains(norm, digits)
}

func TestParseDingTalkMessage(t *testing.T) {
	tests := []struct {
		name                 string
		body                 string
		wantText, wantSender string
		wantErr              bool
	}{
		{"text", `{"msgtype":"text","text":{"content":" export 5461234 "},"senderNick":"Alice","senderStaffId":"x","conversationType":"2","atUsers":[{"dingtalkId":"y"}],"chatbotUserId":"z","msgId":"m","createAt":1700000000000}`, "export 5461234", "Alice", false},
		{"not text", `{"msgtype":"picture","content":{}}`, "", "", true},
		{"missing text", `{"msgtype":"text"}`, "", "", true},
		{"malformed", `{"msgtype":`, "", "", true},
		{"wrong type", `{"msgtype":"text","text":"x"}`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseDingTalkMessage([]byte(tt.body))
			text, sender := m.Text, m.SenderNick
			var ie *InputError
			if tt.wantErr {
				if !errors.As(err, &ie) {
					t.Fatalf("error = %v, want *InputError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if text != tt.wantText || sender != tt.wantSender {
				t.Errorf("got %q, %q; want %q, %q", text, sender, tt.wantText, tt.wantSender)
			}
		})
	}
}

func TestParseDingTalkAsker(t *testing.T) {
	m, err := ParseDingTalkMessage([]byte(`{"msgtype":"text","text":{"content":"5461234"},"senderNick":"Alice","senderStaffId":"manager4711",` +
		`"senderId":"$:LWCP_v1:$abc","senderCorpId":"dingcorp1","conversationId":"cidAbC+/1==","conversationType":"2"}`))
	want := DingTalkMessage{Text: "5461234", SenderNick: "Alice", SenderStaffID: "manager4711", SenderID: "$:LWCP_v1:$abc",
		SenderCorpID: "dingcorp1", ConversationID: "cidAbC+/1==", ConversationType: "2"}
	if err != nil || m != want {
		t.Fatalf("got %+v, %v; want %+v", m, err, want)
	}
	if m.Asker() != "manager4711" {
		t.Errorf("Asker = %q, want the staff id", m.Asker())
	}
	m.SenderStaffID = ""
	if m.Asker() != "$:LWCP_v1:$abc" {
		t.Errorf("Asker of an outsider = %q, want the sender id", m.Asker())
	}
	pic, err := ParseDingTalkMessage([]byte(`{"msgtype":"picture","conversationId":"cid1","senderStaffId":"s1"}`))
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "msgtype" || pic.ConversationID != "cid1" || pic.SenderStaffID != "s1" {
		t.Errorf("a picture: %+v, %v; want its sender and conversation with a msgtype error", pic, err)
	}
}

func TestParseSlackAsker(t *testing.T) {
	c, err := ParseSlackCommand([]byte("team_id=T0001&channel_id=C2147483705&user_id=U2147483697&user_name=Steve&command=%2Fexport&text=1"))
	want := SlackCommand{Text: "1", UserName: "Steve", UserID: "U2147483697", TeamID: "T0001", ChannelID: "C2147483705"}
	if err != nil || c != want {
		t.Fatalf("got %+v, %v; want %+v", c, err, want)
	}
}

func TestParseRevoke(t *testing.T) {
	tests := []struct {
		text   string
		want   int64
		wantOK bool
	}{
		{"revoke 5461234", 5461234, true},
		{"@bot Withdraw #5461234", 5461234, true},
		{"撤回 ５４６１２３４", 5461234, true},
		{"5461234", 0, false},
		{"export 5461234", 0, false},
		{"revoke", 0, false},
		{"revoke 1 2", 0, false},
		{"revoke export 1", 0, false},
		{"revoke 0", 0, false},
		{"please revoke 1", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRevoke(tt.text)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRevoke(%q) = %d, %v; want %d, %v", tt.text, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAllowlist(t *testing.T) {
	l := NewAllowlist([]string{"cidOpen==", "dingcorp1:cidCorp==", "T0001:C1", "T0002:*"})
	tests := []struct {
		scope, id string
		want      bool
	}{
		{"", "cidOpen==", true},
		{"anycorp", "cidOpen==", true},
		{"dingcorp1", "cidCorp==", true},
		{"dingcorp2", "cidCorp==", false},
		{"", "cidCorp==", false},
		{"T0001", "C1", true},
		{"T0009", "C1", false},
		{"T0001", "C2", false},
		{"T0002", "C77", true},
		{"T0002", "", false},
		{"", "", false},
		{"", "cidOther", false},
	}
	for _, tt := range tests {
		if got := l.Allows(tt.scope, tt.id); got != tt.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tt.scope, tt.id, got, tt.want)
		}
	}
	if (Allowlist{}).Allows("T1", "C1") || !(Allowlist{}).Empty() {
		t.Error("the zero Allowlist allows something")
	}
	if !NewAllowlist([]string{"*"}).Allows("", "") {
		t.Error("* does not allow everyone")
	}
}

func TestParseSlackCommand(t *testing.T) {
	tests := []struct {
		name               string
		body               string
		wantText, wantUser string
		wantErr            bool
	}{
		{"slash command", "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&channel_id=C2147483705&user_id=U2147483697&user_name=Steve&command=%2Fexport&text=+5461234+&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678&trigger_id=13345224609.738474920.8088930838d88f008e0", "5461234", "Steve", false},
		{"no text", "command=%2Fexport&user_name=a", "", "a", false},
		{"no command", "text=1&user_name=a", "", "", true},
		{"bad escape", "command=%zz", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseSlackCommand([]byte(tt.body))
			text, user := c.Text, c.UserName
			var ie *InputError
			if tt.wantErr {
				if !errors.As(err, &ie) {
					t.Fatalf("error = %v, want *InputError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if text != tt.wantText || user != tt.wantUser {
				t.Errorf("got %q, %q; want %q, %q", text, user, tt.wantText, tt.wantUser)
			}
		})
	}
}

func TestDingTalkReply(t *testing.T) {
	var got struct {
		MsgType  string `json:"msgtype"`
		Markdown struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
	}
	if err := json.Unmarshal(DingTalkReply("T \"q\"", "line1\n[x](y)"), &got); err != nil {
		t.Fatal(err)
	}
	if got.MsgType != "markdown" || got.Markdown.Title != "T \"q\"" || got.Markdown.Text != "line1\n[x](y)" {
		t.Errorf("DingTalkReply decoded to %+v", got)
	}
}

func TestSlackReply(t *testing.T) {
	var got map[string]string
	if err := json.Unmarshal(SlackReply("hi <&>"), &got); err != nil {
		t.Fatal(err)
	}
	if got["response_type"] != "ephemeral" || got["text"] != "hi <&>" || len(got) != 2 {
		t.Errorf("SlackReply decoded to %v", got)
	}
}

func TestMessageReplies(t *testing.T) {
	m := testMessage()
	var ding struct {
		Markdown struct{ Title, Text string } `json:"markdown"`
	}
	if err := json.Unmarshal(DingTalkMessageReply(m), &ding); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5461234", `orders \*Q4\*`, "dingtalk://dingtalkclient/page/link?pc_slide=false&url=" + url.QueryEscape(m.Link), "2026-01-02 03:04 UTC"} {
		if !strings.Contains(ding.Markdown.Text, want) {
			t.Errorf("DingTalk reply lacks %q:\n%s", want, ding.Markdown.Text)
		}
	}
	if ding.Markdown.Title != m.title() {
		t.Errorf("DingTalk title = %q", ding.Markdown.Title)
	}

	var slack map[string]string
	if err := json.Unmarshal(SlackMessageReply(m), &slack); err != nil {
		t.Fatal(err)
	}
	text := slack["text"]
	if slack["response_type"] != "ephemeral" {
		t.Errorf("response_type = %q", slack["response_type"])
	}
	for _, want := range []string{"*DMS export ready: ticket 5461234*", "<" + EscapeSlack(m.Link) + "|Download>", "Zhang_San &lt;admin&gt;"} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack reply lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "<") != 1 {
		t.Errorf("untrusted text formed a Slack link or mention:\n%s", text)
	}
}

func TestIsLinkPreviewer(t *testing.T) {
	tests := []struct {
		ua   string
		want bool
	}{
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
		{"Slackbot 1.0 (+https://api.slack.com/robots)", true},
		{"Slack-ImgProxy (+https://api.slack.com/robots)", true},
		{"DingTalkBot-LinkService/1.0 (+https://open-doc.dingtalk.com/microapp/faquestions/ftpfeu)", true},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/76.0.3809.100 Safari/537.36 DingTalkBot-LinkService/1.0", true},
		{"Mozilla/5.0 (compatible; LarkBot/1.0)", true},
		{"Mozilla/5.0 (compatible; FeishuBot/1.0)", true},
		{"TelegramBot (like TwitterBot)", true},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true},
		{"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com", true},
		{"Mozilla/5.0 (compatible; TeamsBot-LinkPreview/1.0)", true},
		{"WhatsApp/2.23.20.0 A", true},
		{"Twitterbot/1.0", true},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true},
		{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true},
		{"SLACKBOT-LINKEXPANDING 1.0", true},

		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", false},
		{"curl/8.7.1", false},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 AliApp(DingTalk/7.6.0) com.laiwang.DingTalk/35083316 Channel/201200 language/zh-Hans-CN", false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Lark/7.14.5 LarkLocale/zh_CN ChannelName/Feishu", false},
		{"Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) wxwork/4.1.22 Chrome/100.0 Safari/537.36", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsLinkPreviewer(tt.ua); got != tt.want {
			t.Errorf("IsLinkPreviewer(%q) = %v, want %v", tt.ua, got, tt.want)
		}
	}
}
