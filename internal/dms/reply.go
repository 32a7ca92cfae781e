package dms

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// reply is the body of a GetDataExportDownloadURL answer, the members this
// package reads.
//
// The SDK would decode it into dms_enterprise's response type with
// json-iterator, but json-iterator builds its decoder for that type on first
// use, and that type embeds the SDK's BaseResponse, whose unexported
// *http.Response field it describes too, down to TLS certificates: about
// 0.8 ms of every cold start (docs/performance.md). The call asks the SDK for
// a CommonResponse, which it does not decode, and decodeReply reads the body
// with the SDK's rules (docs/dms-sdk.md, "Answers and errors"): member names
// are case-sensitive, a string member accepts a number or a boolean, a
// boolean member accepts a number (non-zero is true) or the strings "true",
// "false" and "", and null is the zero value. TestReplyDecodesAsTheSDK
// holds it to the SDK's own decoder.
type reply struct {
	RequestID    string
	Success      bool
	ErrorCode    string
	ErrorMessage string
	HasResult    bool
	URL          string
	TipMessage   string
}

var errReply = errors.New("not a GetDataExportDownloadURL reply")

// decodeReply reads body as the SDK would.
func decodeReply(body []byte) (reply, error) {
	var r reply
	top, err := members(body)
	if err != nil {
		return reply{}, err
	}
	result, err := members(top["DownloadURLResult"])
	if err != nil {
		return reply{}, err
	}
	for _, f := range []struct {
		raw json.RawMessage
		str *string
		b   *bool
	}{
		{raw: top["RequestId"], str: &r.RequestID},
		{raw: top["Success"], b: &r.Success},
		{raw: top["ErrorCode"], str: &r.ErrorCode},
		{raw: top["ErrorMessage"], str: &r.ErrorMessage},
		{raw: result["HasResult"], b: &r.HasResult},
		{raw: result["URL"], str: &r.URL},
		{raw: result["TipMessage"], str: &r.TipMessage},
	} {
		if f.raw == nil {
			continue
		}
		if f.str != nil {
			err = lenientString(f.raw, f.str)
		} else {
			err = lenientBool(f.raw, f.b)
		}
		if err != nil {
			return reply{}, err
		}
	}
	return r, nil
}

// members splits a JSON object into its members, by exact name; null or
// absent (nil raw) is an object without members.
func members(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errReply
	}
	return m, nil
}

// scalar decodes one JSON value, numbers kept as written.
func scalar(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, errReply
	}
	return v, nil
}

func lenientString(raw json.RawMessage, dst *string) error {
	v, err := scalar(raw)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*dst = v
	case json.Number:
		*dst = v.String()
	case bool:
		*dst = strconv.FormatBool(v)
	case nil:
		*dst = ""
	default:
		return errReply
	}
	return nil
}

func lenientBool(raw json.RawMessage, dst *bool) error {
	v, err := scalar(raw)
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*dst = v
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return errReply
		}
		*dst = n != 0
	case string:
		switch strings.ToLower(v) {
		case "true":
			*dst = true
		case "false", "":
			*dst = false
		default:
			return errReply
		}
	case nil:
		*dst = false
	default:
		return errReply
	}
	return nil
}
