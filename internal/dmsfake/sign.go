package dmsfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// canonicalQuery is step 2 of the RPC signature (docs/dms-sdk.md, "Wire format"):
// url.Values.Encode over every parameter but Signature, then the POP
// replacements, so that it matches sdk/auth/rpc_signature_composer.go byte for byte.
func canonicalQuery(params map[string]string) string {
	v := make(url.Values, len(params))
	for k, val := range params {
		if k == "Signature" {
			continue
		}
		v.Set(k, val)
	}
	s := v.Encode()
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	s = strings.ReplaceAll(s, "%7E", "~")
	return s
}

// rpcStringToSign is what the gateway signs: METHOD&%2F&escape(canonical).
func rpcStringToSign(method string, params map[string]string) string {
	return method + "&%2F&" + url.QueryEscape(canonicalQuery(params))
}

// rpcSignature is base64(HMAC-SHA1(secret+"&", stringToSign)).
func rpcSignature(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// maxNonces bounds the memory of the replay check; the oldest entries go first.
const maxNonces = 100_000

// nonceCache remembers signature nonces for as long as a request carrying
// them could still pass the timestamp window.
type nonceCache struct {
	seen  map[string]time.Time // nonce -> forget after
	order []nonceEntry         // insertion order, for pruning
}

type nonceEntry struct {
	nonce  string
	forget time.Time
}

// use reports whether nonce is fresh and remembers it until forget.
// The caller holds the gateway's lock.
func (c *nonceCache) use(nonce string, now, forget time.Time) bool {
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if until, ok := c.seen[nonce]; ok && now.Before(until) {
		return false
	}
	for len(c.order) > 0 && (!now.Before(c.order[0].forget) || len(c.order) >= maxNonces) {
		e := c.order[0]
		if c.seen[e.nonce].Equal(e.forget) {
			delete(c.seen, e.nonce)
		}
		c.order = c.order[1:]
	}
	c.seen[nonce] = forget
	c.order = append(c.order, nonceEntry{nonce, forget})
	return true
}
