package exports

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxUnix is 9999-12-31T23:59:59Z; a later V1 Expires is garbage.
	maxUnix = 253402300799
	// maxPresign is the longest validity OSS V4 and S3 SigV4 accept (7 days).
	maxPresign = 7 * 24 * 60 * 60
	// signDateLayout is the x-oss-date / X-Amz-Date format.
	signDateLayout = "20060102T150405Z"
)

// ParseExpiry reads when a presigned OSS or S3 URL stops working, from its
// query: OSS V1 `Expires` (unix seconds), OSS V4 `x-oss-date` plus
// `x-oss-expires` (seconds), or S3 SigV4 `X-Amz-Date` plus `X-Amz-Expires`.
// Parameter names match case-insensitively; a name repeated with different
// values is ignored. When several forms parse, the earliest time wins. It
// returns false when none parses or the values are absurd (signs, overflow,
// zero, validity over 7 days, years past 9999).
func ParseExpiry(rawURL string) (time.Time, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return time.Time{}, false
	}
	q := u.Query()
	var best time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	if v, ok := param(q, "Expires"); ok {
		if s, ok := parseDigits(v, maxUnix); ok && s > 0 {
			consider(time.Unix(s, 0).UTC())
		}
	}
	if t, ok := signedUntil(q, "x-oss-date", "x-oss-expires"); ok {
		consider(t)
	}
	if t, ok := signedUntil(q, "X-Amz-Date", "X-Amz-Expires"); ok {
		consider(t)
	}
	return best, found
}

// signedUntil is date + expires for the V4-style signatures.
func signedUntil(q url.Values, dateName, expiresName string) (time.Time, bool) {
	d, ok := param(q, dateName)
	if !ok {
		return time.Time{}, false
	}
	e, ok := param(q, expiresName)
	if !ok {
		return time.Time{}, false
	}
	signed, err := time.Parse(signDateLayout, d)
	if err != nil {
		return time.Time{}, false
	}
	secs, ok := parseDigits(e, maxPresign)
	if !ok || secs == 0 {
		return time.Time{}, false
	}
	t := signed.Add(time.Duration(secs) * time.Second)
	if t.Unix() > maxUnix {
		return time.Time{}, false
	}
	return t, true
}

// param returns the single value of a query parameter named name in any
// case; ok is false when it is missing or has conflicting values.
func param(q url.Values, name string) (string, bool) {
	var val string
	found := false
	for k, vs := range q {
		if !strings.EqualFold(k, name) {
			continue
		}
		for _, v := range vs {
			if found && v != val {
				return "", false
			}
			val, found = v, true
		}
	}
	return val, found
}

// parseDigits parses a plain decimal (no sign, no spaces) no larger than max.
func parseDigits(s string, max int64) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}
