package dmsfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// The two query-signature formats of OSS presigned URLs, written from OSS's
// documentation and checked against the official Go SDK
// (alibabacloud-oss-go-sdk-v2, oss/signer) in the tests; docs/oss-urls.md
// describes both.

// v1SignedParams are the query parameters OSS signs in a V1 URL's
// canonicalized resource besides every "x-oss-" one: sub-resources,
// security-token and the response-* overrides. An extra parameter in this set
// that the signer did not sign changes what OSS computes, so it is refused.
var v1SignedParams = map[string]bool{
	"acl": true, "append": true, "bucketInfo": true, "callback": true, "callback-var": true,
	"cloudboxes": true, "continuation-token": true, "delete": true, "location": true,
	"objectMeta": true, "partNumber": true, "position": true, "regionList": true,
	"response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true, "response-content-language": true,
	"response-content-type": true, "response-expires": true, "restore": true,
	"security-token": true, "sequential": true, "stat": true, "symlink": true,
	"tagging": true, "uploadId": true, "uploads": true, "versionId": true,
	"versioning": true, "versions": true,
}

// v1CanonicalResource is "/bucket/key", then "?" and the signed parameters
// sorted by name, each "name=value" with the decoded value, or "name" when
// the value is empty.
func v1CanonicalResource(bucket, key string, q url.Values) string {
	var names []string
	for k := range q {
		if v1SignedParams[k] || strings.HasPrefix(k, "x-oss-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	res := "/" + bucket + "/" + key
	for i, k := range names {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		res += sep + k
		if v := q.Get(k); v != "" {
			res += "=" + v
		}
	}
	return res
}

// v1StringToSign is VERB, Content-MD5, Content-Type and Expires on their own
// lines, then the canonicalized x-oss- headers and resource.
func v1StringToSign(method string, h http.Header, expires, resource string) string {
	return method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + expires + "\n" +
		canonicalOSSHeaders(h) + resource
}

// canonicalOSSHeaders is the sorted "x-oss-name:value\n" lines of the
// request's x-oss- headers, repeated values joined by commas.
func canonicalOSSHeaders(h http.Header) string {
	var lines []string
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-oss-") {
			vals := make([]string, len(v))
			for i, s := range v {
				vals[i] = strings.TrimSpace(s)
			}
			lines = append(lines, lk+":"+strings.Join(vals, ",")+"\n")
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

// v1Signature is base64(HMAC-SHA1(secret, stringToSign)).
func v1Signature(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

const (
	v4Algorithm     = "OSS4-HMAC-SHA256"
	v4DateTime      = "20060102T150405Z"
	v4Date          = "20060102"
	v4Product       = "oss"
	v4Terminator    = "aliyun_v4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// v4MaxExpires is the longest x-oss-expires OSS takes: 7 days.
	v4MaxExpires = 7 * 24 * 3600
)

// v4Escape is RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~
// (and '/' when keepSlash) becomes %XX with upper-case hex.
func v4Escape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			const hexDigits = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// v4CanonicalRequest is the method, the escaped "/bucket/key", every query
// parameter but x-oss-signature (escaped, sorted, "name" alone when empty),
// the signed headers (x-oss-*, Content-Type, Content-MD5 and those named in
// additional, where "host" is the request's host), the additional header
// names, and the payload hash.
func v4CanonicalRequest(method, bucket, key string, q url.Values, h http.Header, host string, additional []string) string {
	var params []string
	for k, vs := range q {
		if k == "x-oss-signature" {
			continue
		}
		for _, v := range vs {
			p := v4Escape(k, false)
			if v != "" {
				p += "=" + v4Escape(v, false)
			}
			params = append(params, p)
		}
	}
	sort.Strings(params)

	extra := make(map[string]bool, len(additional))
	for _, a := range additional {
		extra[strings.ToLower(a)] = true
	}
	var names []string
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-oss-") || lk == "content-type" || lk == "content-md5" || extra[lk] {
			names = append(names, lk)
		}
	}
	if extra["host"] {
		names = append(names, "host") // net/http keeps Host out of the header map
	}
	sort.Strings(names)
	var headers strings.Builder
	for _, k := range names {
		var vals []string
		if k == "host" {
			vals = []string{host}
		}
		for _, v := range h.Values(k) {
			vals = append(vals, strings.TrimSpace(v))
		}
		headers.WriteString(k + ":" + strings.Join(vals, ",") + "\n")
	}
	payload := h.Get("x-oss-content-sha256")
	if payload == "" {
		payload = unsignedPayload
	}
	return method + "\n" + v4Escape("/"+bucket+"/"+key, true) + "\n" + strings.Join(params, "&") + "\n" +
		headers.String() + "\n" + strings.Join(additional, ";") + "\n" + payload
}

// v4Scope is "date/region/oss/aliyun_v4_request".
func v4Scope(date, region string) string {
	return date + "/" + region + "/" + v4Product + "/" + v4Terminator
}

// v4StringToSign is the algorithm, the request time, the scope and the hex
// SHA-256 of the canonical request, one per line.
func v4StringToSign(dateTime, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return v4Algorithm + "\n" + dateTime + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// v4Signature is hex HMAC-SHA256 under a key derived from the secret by
// chaining HMAC-SHA256 over the date, region, product and terminator,
// starting from "aliyun_v4"+secret.
func v4Signature(secret, date, region, stringToSign string) string {
	key := []byte("aliyun_v4" + secret)
	for _, part := range []string{date, region, v4Product, v4Terminator, stringToSign} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(part))
		key = m.Sum(nil)
	}
	return hex.EncodeToString(key)
}
