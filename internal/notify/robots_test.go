package notify

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
)

const testSecret = "SECfake0123456789abcdef"

var testExpiry = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

func testMessage() Message {
	return Message{
		OrderID:   5461234,
		TaskName:  "orders *Q4* [x](http://evil)\n# heading",
		Submitter: "Zhang_San <admin>",
		Link:      "https://dl.example.com/exports/5461234/download?exp=1&kid=k1&sig=AbC-_d",
		ExpiresAt: testExpiry,
	}
}

// robotCase builds one platform's fake and robot, and extracts the text a
// reader would see from a recorded message.
type robotCase struct {
	name     string
	fake     func(t *testing.T, secret string) *robotfake.Fake
	robot    func(url, secret string, hc *http.Client) Robot
	signed   bool
	visible  func(t *testing.T, r robotfake.Recorded) string
	markdown bool // DMS text is escaped markdown (else plain text)
}

func robotCases() []robotCase {
	return []robotCase{
		{
			name:  "dingtalk",
			fake:  func(t *testing.T, s string) *robotfake.Fake { return robotfake.NewDingTalk(t, s) },
			robot: func(u, s string, hc *http.Client) Robot { return NewDingTalk(u, s, hc, nil) },
			visible: func(t *testing.T, r robotfake.Recorded) string {
				var b struct {
					MsgType  string `json:"msgtype"`
					Markdown struct{ Title, Text string }
				}
				decode(t, r, &b)
				if b.MsgType != "markdown" || b.Markdown.Title == "" {
					t.Errorf("msgtype %q title %q, want markdown with a title", b.MsgType, b.Markdown.Title)
				}
				return b.Markdown.Text
			},
			signed: true, markdown: true,
		},
		{
			name:  "lark",
			fake:  func(t *testing.T, s string) *robotfake.Fake { return robotfake.NewLark(t, s) },
			robot: func(u, s string, hc *http.Client) Robot { return NewLark(u, s, hc, nil) },
			visible: func(t *testing.T, r robotfake.Recorded) string {
				var b struct {
					MsgType string `json:"msg_type"`
					Card    struct {
						Elements []struct {
							Tag     string
							Text    struct{ Tag, Content string }
							Actions []struct {
								Tag, URL string
							}
						}
					}
				}
				decode(t, r, &b)
				if b.MsgType != "interactive" {
					t.Errorf("msg_type %q, want interactive", b.MsgType)
				}
				var out []string
				for _, e := range b.Card.Elements {
					out = append(out, e.Text.Content)
					for _, a := range e.Actions {
						out = append(out, a.URL)
					}
				}
				return strings.Join(out, "\n")
			},
			signed: true,
		},
		{
			name:  "wecom",
			fake:  func(t *testing.T, _ string) *robotfake.Fake { return robotfake.NewWeCom(t) },
			robot: func(u, _ string, hc *http.Client) Robot { return NewWeCom(u, hc) },
			visible: func(t *testing.T, r robotfake.Recorded) string {
				var b struct {
					MsgType  string `json:"msgtype"`
					Markdown struct{ Content string }
				}
				decode(t, r, &b)
				if b.MsgType != "markdown" {
					t.Errorf("msgtype %q, want markdown", b.MsgType)
				}
				return b.Markdown.Content
			},
			markdown: true,
		},
		{
			name:  "slack",
			fake:  func(t *testing.T, _ string) *robotfake.Fake { return robotfake.NewSlack(t) },
			robot: func(u, _ string, hc *http.Client) Robot { return NewSlack(u, hc) },
			visible: func(t *testing.T, r robotfake.Recorded) string {
				var b struct {
					Text        string
					UnfurlLinks *bool `json:"unfurl_links"`
					UnfurlMedia *bool `json:"unfurl_media"`
					Blocks      []struct {
						Type     string
						Text     struct{ Type, Text string }
						Fields   []struct{ Type, Text string }
						Elements []struct {
							Type, URL string
						}
					}
				}
				decode(t, r, &b)
				if b.UnfurlLinks == nil || *b.UnfurlLinks || b.UnfurlMedia == nil || *b.UnfurlMedia {
					t.Errorf("unfurl_links/unfurl_media not false")
				}
				if b.Text == "" {
					t.Errorf("no fallback text")
				}
				var out []string
				for _, blk := range b.Blocks {
					out = append(out, blk.Text.Text)
					for _, f := range blk.Fields {
						if f.Type != "plain_text" {
							t.Errorf("field type %q, want plain_text", f.Type)
						}
						out = append(out, f.Text)
					}
					for _, e := range blk.Elements {
						out = append(out, e.URL)
					}
				}
				return strings.Join(out, "\n")
			},
		},
	}
}

func decode(t *testing.T, r robotfake.Recorded, v any) {
	t.Helper()
	if err := r.Decode(v); err != nil {
		t.Fatalf("decoding recorded body: %v", err)
	}
}

func TestRobotsDeliverToTheirPlatform(t *testing.T) {
	for _, tc := range robotCases() {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake(t, testSecret)
			robot := tc.robot(fake.URL(), testSecret, newClient(t))
			if err := robot.Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := fake.Messages()
			if got, want := len(msgs), 1; got != want {
				t.Fatalf("fake accepted %d messages, want %d", got, want)
			}
			if got, want := robot.Name(), tc.name; got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
			text := tc.visible(t, msgs[0])
			if got, want := msgs[0].Link(), testMessage().Link; got != want {
				t.Errorf("robotfake found the link %q, want %q", got, want)
			}
			if got := msgs[0].Text(); !strings.Contains(got, "5461234") || !strings.Contains(got, "2026-01-02 03:04 UTC") {
				t.Errorf("robotfake's Text() = %q, want the ticket and the expiry", got)
			}
			wants := []string{"5461234", "2026-01-02 11:04 CST (Asia/Shanghai)", "2026-01-02 03:04 UTC"}
			if tc.markdown {
				wants = append(wants, `orders \*Q4\* \[x\]\(http\[:\]//evil\) \# heading`, `Zhang\_San \<admin\>`)
			} else {
				wants = append(wants, "orders *Q4* [x](http[:]//evil) # heading", "Zhang_San <admin>")
			}
			if tc.name == "dingtalk" {
				wants = append(wants, "dingtalk://dingtalkclient/page/link?pc_slide=false&url="+url.QueryEscape(testMessage().Link))
			} else {
				wants = append(wants, testMessage().Link)
			}
			for _, want := range wants {
				if !strings.Contains(text, want) {
					t.Errorf("message text lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "\n# heading") {
				t.Errorf("newline in the task name reached the message:\n%s", text)
			}
		})
	}
}

func TestRobotsRejectedByFakeOnWrongCredential(t *testing.T) {
	for _, tc := range robotCases() {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake(t, testSecret)
			target := fake.URL()
			secret := testSecret
			if tc.signed {
				secret = "SECwrong-secret-value"
			} else {
				target = strings.Replace(target, fake.Token(), "0000"+fake.Token()[4:], 1)
			}
			err := tc.robot(target, secret, newClient(t)).Send(context.Background(), testMessage())
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send error = %v, want *SendError", err)
			}
			if !se.Permanent {
				t.Errorf("credential error not marked permanent: %v", err)
			}
			if got, want := fake.Rejected(), 1; got != want {
				t.Errorf("fake rejected %d requests, want %d", got, want)
			}
			if got := len(fake.Messages()); got != 0 {
				t.Errorf("fake accepted %d messages, want 0", got)
			}
			assertNoSecret(t, err.Error(), fake.Token(), fake.Token()[4:], testSecret, secret)
		})
	}
}

func TestDingTalkStaleTimestampRejected(t *testing.T) {
	fake := robotfake.NewDingTalk(t, testSecret)
	old := func() time.Time { return time.Now().Add(-61 * time.Minute) }
	err := NewDingTalk(fake.URL(), testSecret, newClient(t), old).Send(context.Background(), testMessage())
	if err == nil || fake.Rejected() != 1 {
		t.Fatalf("Send with an hour-old timestamp: err %v, rejected %d; want an error and 1 rejection", err, fake.Rejected())
	}
}

func TestLarkStaleTimestampRejected(t *testing.T) {
	fake := robotfake.NewLark(t, testSecret)
	old := func() time.Time { return time.Now().Add(61 * time.Minute) }
	err := NewLark(fake.URL(), testSecret, newClient(t), old).Send(context.Background(), testMessage())
	if err == nil || fake.Rejected() != 1 {
		t.Fatalf("Send with a timestamp an hour ahead: err %v, rejected %d; want an error and 1 rejection", err, fake.Rejected())
	}
}

func TestRobotsReportPlatformFailures(t *testing.T) {
	for _, tc := range robotCases() {
		t.Run(tc.name, func(t *testing.T) {
			tests := []struct {
				name          string
				inject        func(f *robotfake.Fake)
				wantPermanent bool
			}{
				{"http 500", func(f *robotfake.Fake) { f.FailNext(1, http.StatusInternalServerError) }, false},
				{"http 429", func(f *robotfake.Fake) { f.FailNext(1, http.StatusTooManyRequests) }, false},
				{"http 403", func(f *robotfake.Fake) { f.FailNext(1, http.StatusForbidden) }, true},
				{"platform code", func(f *robotfake.Fake) { f.FailNextCode(1, 503) }, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					fake := tc.fake(t, testSecret)
					tt.inject(fake)
					err := tc.robot(fake.URL(), testSecret, newClient(t)).Send(context.Background(), testMessage())
					var se *SendError
					if !errors.As(err, &se) {
						t.Fatalf("Send error = %v, want *SendError", err)
					}
					if got, want := se.Permanent, tt.wantPermanent; got != want {
						t.Errorf("Permanent = %v, want %v (%v)", got, want, err)
					}
					assertNoSecret(t, err.Error(), fake.Token(), testSecret)
				})
			}
		})
	}
}

func TestRobotTransportErrorIsRedacted(t *testing.T) {
	fake := robotfake.NewDingTalk(t, testSecret)
	target := fake.URL()
	fake.Close() // nothing listens any more: the client fails with a *url.Error
	err := NewDingTalk(target, testSecret, newClient(t), nil).Send(context.Background(), testMessage())
	if err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("error %v does not wrap *url.Error", err)
	}
	assertNoSecret(t, err.Error(), fake.Token(), testSecret)
	if !strings.Contains(err.Error(), "access_token=REDACTED") {
		t.Errorf("error %q does not say which robot URL failed", err)
	}
}

func TestRobotNon200WithoutCodeFails(t *testing.T) {
	// A 200 from something that is not the platform must not count as delivered.
	srv := newStaticServer(t, http.StatusOK, "<html>captive portal</html>")
	for _, r := range []Robot{
		NewDingTalk(srv+"/robot/send?access_token=x", "", newClient(t), nil),
		NewLark(srv+"/open-apis/bot/v2/hook/x", "", newClient(t), nil),
		NewWeCom(srv+"/cgi-bin/webhook/send?key=x", newClient(t)),
		NewSlack(srv+"/services/T/B/x", newClient(t)),
	} {
		if err := r.Send(context.Background(), testMessage()); err == nil {
			t.Errorf("%s: Send accepted a non-platform 200 answer", r.Name())
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string
	}{
		{"dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=abc123def&timestamp=1700000000000&sign=xy%2Bz%3D",
			"https://oapi.dingtalk.com/robot/send?access_token=REDACTED&sign=REDACTED&timestamp=REDACTED", []string{"abc123def", "xy", "1700000000000"}},
		{"lark", "https://open.feishu.cn/open-apis/bot/v2/hook/0b1c2d3e-aaaa-bbbb-cccc-123456789012",
			"https://open.feishu.cn/open-apis/bot/v2/hook/REDACTED", []string{"0b1c2d3e"}},
		{"wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
			"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REDACTED", []string{"693a91f6"}},
		{"slack", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
			"https://hooks.slack.com/services/REDACTED/REDACTED/REDACTED", []string{"T00000000", "XXXX"}},
		{"user info and fragment", "https://user:pw@example.com/a?k=v#frag",
			"https://example.com/a?k=REDACTED", []string{"pw", "frag", "=v"}},
		{"long path token", "https://example.com/x/abcdefghijklmnopqrstuvwxyz0123/send",
			"https://example.com/x/REDACTED/send", []string{"abcdefghijklmnopqrstuvwxyz0123"}},
		{"bare query", "https://example.com/a?secretvalue", "https://example.com/a?REDACTED", []string{"secretvalue"}},
		{"unparseable", "https://exa mple.com/%zz?access_token=tok", "REDACTED", []string{"tok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redactURL(tt.in)
			if got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertNoSecret(t, got, tt.secrets...)
		})
	}
}

func TestEscapeMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain 名字 123", "plain 名字 123"},
		{"*a*_b_`c`", `\*a\*\_b\_\` + "`" + `c\` + "`"},
		{"[t](u) ![i](j)", `\[t\]\(u\) \!\[i\]\(j\)`},
		{"<font color=red>x</font>", `\<font color=red\>x\</font\>`},
		{`back\slash # | ~`, `back\\slash \# \| \~`},
	}
	for _, tt := range tests {
		if got := EscapeMarkdown(tt.in); got != tt.want {
			t.Errorf("EscapeMarkdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEscapeSlack(t *testing.T) {
	got, want := EscapeSlack("a <@U123> & <https://x|y>"), "a &lt;@U123&gt; &amp; &lt;https://x|y&gt;"
	if got != want {
		t.Errorf("EscapeSlack = %q, want %q", got, want)
	}
}

func TestCleanCapsAndFlattens(t *testing.T) {
	long := strings.Repeat("名", maxFieldRunes+10)
	got := clean(long)
	if n := len([]rune(got)); n != maxFieldRunes+1 {
		t.Errorf("clean kept %d runes, want %d (cap plus ellipsis)", n, maxFieldRunes+1)
	}
	if got, want := clean(" a\nb\r\tc\u2028d "), "a b  c d"; got != want {
		t.Errorf("clean = %q, want %q", got, want)
	}
}

// assertNoSecret fails if s contains any of the non-empty secrets.
func assertNoSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%q contains secret %q", s, secret)
		}
	}
}

func TestDMSTextIsPlain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"orders Q4", "orders Q4"},
		{"see https://evil.example/login now", "see https[:]//evil[.]example/login now"},
		{"www.evil.example", "www[.]evil[.]example"},
		{"mail boss@corp.example", "mail boss@corp[.]example"},
		{"HTTP://EVIL.EXAMPLE", "HTTP[:]//EVIL[.]EXAMPLE"},
		{"javascript:alert(1)", "javascript:alert(1)"},
		{"v1.2 at 3.14", "v1.2 at 3.14"},
		{"abc\u202edcba", "abcdcba"},
		{"zero\u200bwidth\u2060join\ufeff", "zerowidthjoin"},
		{"soft\u00adhyphen", "softhyphen"},
		{"\u2066isolate\u2069", "isolate"},
		{"例子.中国", "例子[.]中国"},
	}
	for _, tt := range tests {
		if got := dmsText(tt.in); got != tt.want {
			t.Errorf("dmsText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := dmsText(strings.Repeat("名", 500)); utf8.RuneCountInString(got) != maxFieldRunes+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("a 500-rune name is %d runes, want capped at %d plus an ellipsis", utf8.RuneCountInString(got), maxFieldRunes)
	}
}
