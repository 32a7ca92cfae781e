package robotfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// larkSign is Lark's documented custom-bot signature: base64 of
// HMAC-SHA256 keyed with timestamp+"\n"+secret over an empty message.
func larkSign(ts int64, secret string) string {
	m := hmac.New(sha256.New, []byte(strconv.FormatInt(ts, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestLarkTimestampForms(t *testing.T) {
	const secret = "lark-secret"
	f := NewLark(t, secret)
	now := time.Now().Unix()
	tests := []struct {
		name      string
		timestamp any // as it appears in the JSON body
		signedAt  int64
		code      int
	}{
		{"string", strconv.FormatInt(now, 10), now, 0},
		{"number", now, now, 0},
		{"number, signed for another second", now, now - 1, 19021},
		{"fractional number", float64(now) + 0.5, now, 19021},
		{"stale number", now - 2*3600, now - 2*3600, 19021},
		{"boolean", true, now, 19021},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{
				"timestamp": tt.timestamp, "sign": larkSign(tt.signedAt, secret),
				"msg_type": "text", "content": map[string]string{"text": "hi"},
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Post(f.URL(), "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out struct{ Code int }
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				t.Fatalf("answer: %v", err)
			}
			if res.StatusCode != http.StatusOK || out.Code != tt.code {
				t.Errorf("got %d code %d, want 200 code %d", res.StatusCode, out.Code, tt.code)
			}
		})
	}
}
