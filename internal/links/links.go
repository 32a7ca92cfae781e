// Package links signs and verifies download links for export tickets.
//
// A link is /exports/{orderId}/download?tid=&exp=&kid=&sig= where sig is an
// HMAC-SHA256, under the key named by kid, over a canonical string that holds
// a purpose/version prefix and every parameter that changes the answer. The
// key ring lets operators rotate keys without downtime: the first key signs,
// every key verifies. Verification follows gorilla/securecookie: cap lengths,
// parse strictly, compare the MAC in constant time, and only then look at the
// expiry, so "expired" is never reported for a forged link.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query parameter names of a signed link.
const (
	ParamTid = "tid"
	ParamExp = "exp"
	ParamKid = "kid"
	ParamSig = "sig"
)

// purpose binds a signature to this use and format, so a MAC computed for
// anything else under the same key can never pass as a download link.
const purpose = "dms-export-link/download/v1"

const (
	// MinSecretLen is the shortest secret accepted: as long as the HMAC-SHA256 output.
	MinSecretLen = 32
	maxKidLen    = 32
	maxIntLen    = 19 // digits of math.MaxInt64
	sigLen       = 43 // base64url without padding of a 32-byte MAC
)

var (
	// ErrInvalid means the link is not one this service signed: tampered,
	// malformed, repeated parameters, unknown key id, or a lifetime beyond the
	// maximum. Callers answer 403.
	ErrInvalid = errors.New("links: invalid link")
	// ErrExpired means the signature is valid but the link is past its
	// expiry. Callers answer 410.
	ErrExpired = errors.New("links: link expired")
	// ErrNoKeys means no signing key is configured, so no link can be signed
	// or accepted.
	ErrNoKeys = errors.New("links: no signing keys configured")
)

// Key is one entry of the key ring. ID is public (it travels in the link);
// Secret must never be logged.
type Key struct {
	ID     string
	Secret []byte
}

// ParseKeys parses "kid:base64secret,kid2:base64secret" (the LINK_KEYS
// format). A kid is 1-32 of [A-Za-z0-9_-]; a secret is standard or URL-safe
// base64, padded or not, of at least MinSecretLen bytes. An empty string
// yields no keys and no error. Errors name LINK_KEYS and the entry's position
// but never echo a secret (nor a malformed kid, which may be a misplaced secret).
func ParseKeys(s string) ([]Key, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys []Key
	seen := make(map[string]bool)
	for i, entry := range strings.Split(s, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		kid, secret, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("LINK_KEYS: entry %d: want kid:base64secret", n)
		}
		if !validKid(kid) {
			return nil, fmt.Errorf("LINK_KEYS: entry %d: key id must be 1-%d characters of A-Z a-z 0-9 _ -", n, maxKidLen)
		}
		if seen[kid] {
			return nil, fmt.Errorf("LINK_KEYS: entry %d: duplicate key id %q", n, kid)
		}
		seen[kid] = true
		raw, err := decodeSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("LINK_KEYS: key %q: secret is not valid base64", kid)
		}
		if len(raw) < MinSecretLen {
			return nil, fmt.Errorf("LINK_KEYS: key %q: secret must decode to at least %d bytes, got %d", kid, MinSecretLen, len(raw))
		}
		keys = append(keys, Key{ID: kid, Secret: raw})
	}
	return keys, nil
}

func decodeSecret(s string) ([]byte, error) {
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	var err error
	for _, enc := range encs {
		var b []byte
		if b, err = enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func validKid(s string) bool {
	if len(s) == 0 || len(s) > maxKidLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Claims is what a link grants: the ticket, its tenant, and until when.
type Claims struct {
	OrderID int64
	Tid     int64 // 0 means none: the function's configured tenant applies
	Expires time.Time
}

// Signer signs and verifies links. Keys[0] signs; every key verifies.
// MaxTTL bounds a link's remaining lifetime both when signing and when
// verifying, so a leaked key id with an old, very long link stays useless.
// Now is the clock; nil means time.Now.
type Signer struct {
	Keys   []Key
	MaxTTL time.Duration
	Now    func() time.Time
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sign returns the query parameters of a link granting c: tid (omitted when
// 0), exp (unix seconds; Expires is truncated to the second), kid and sig.
// It returns ErrNoKeys when the ring is empty, and an error when the claims
// could not verify: OrderID not positive, Tid negative, Expires not in the
// future or beyond now+MaxTTL, or a signing key that is malformed.
func (s *Signer) Sign(c Claims) (url.Values, error) {
	if len(s.Keys) == 0 {
		return nil, ErrNoKeys
	}
	k := s.Keys[0]
	if !validKid(k.ID) || len(k.Secret) < MinSecretLen {
		return nil, errors.New("links: signing key is malformed")
	}
	if c.OrderID <= 0 {
		return nil, errors.New("links: order id must be positive")
	}
	if c.Tid < 0 {
		return nil, errors.New("links: tid must not be negative")
	}
	exp := c.Expires.Unix()
	if exp <= 0 {
		return nil, errors.New("links: expiry must be after 1970")
	}
	now := s.now()
	life := time.Unix(exp, 0).Sub(now)
	if life <= 0 {
		return nil, errors.New("links: expiry must be in the future")
	}
	if life > s.MaxTTL {
		return nil, fmt.Errorf("links: lifetime %s exceeds the maximum %s", life.Round(time.Second), s.MaxTTL)
	}
	q := url.Values{}
	if c.Tid != 0 {
		q.Set(ParamTid, strconv.FormatInt(c.Tid, 10))
	}
	q.Set(ParamExp, strconv.FormatInt(exp, 10))
	q.Set(ParamKid, k.ID)
	q.Set(ParamSig, base64.RawURLEncoding.EncodeToString(mac(k.Secret, k.ID, c.OrderID, c.Tid, exp)))
	return q, nil
}

// Verify checks a link for the ticket orderID (the raw path value) with the
// given query, and returns its claims. Parameters other than tid, exp, kid
// and sig are ignored. Errors: ErrNoKeys when the ring is empty, ErrExpired
// for a genuine link past its expiry, otherwise ErrInvalid (possibly wrapped
// with a reason that holds no input values).
func (s *Signer) Verify(orderID string, query url.Values) (Claims, error) {
	if len(s.Keys) == 0 {
		return Claims{}, ErrNoKeys
	}
	// Cap sizes before any parsing or hashing, so huge inputs are cheap to reject.
	sig, ok := single(query, ParamSig, sigLen)
	if !ok || len(sig) != sigLen {
		return Claims{}, invalid("bad sig")
	}
	kid, ok := single(query, ParamKid, maxKidLen)
	if !ok || !validKid(kid) {
		return Claims{}, invalid("bad kid")
	}
	expStr, ok := single(query, ParamExp, maxIntLen)
	if !ok {
		return Claims{}, invalid("bad exp")
	}
	var tid int64
	switch v := query[ParamTid]; len(v) {
	case 0:
	case 1:
		if tid, ok = parsePositive(v[0]); !ok {
			return Claims{}, invalid("bad tid")
		}
	default:
		return Claims{}, invalid("repeated tid")
	}
	exp, ok := parsePositive(expStr)
	if !ok {
		return Claims{}, invalid("bad exp")
	}
	order, ok := parsePositive(orderID)
	if !ok {
		return Claims{}, invalid("bad order id")
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return Claims{}, invalid("bad sig")
	}
	var key *Key
	for i := range s.Keys {
		if s.Keys[i].ID == kid {
			key = &s.Keys[i]
			break
		}
	}
	if key == nil {
		return Claims{}, invalid("unknown kid")
	}
	if !hmac.Equal(got, mac(key.Secret, kid, order, tid, exp)) {
		return Claims{}, invalid("signature mismatch")
	}
	expires := time.Unix(exp, 0)
	life := expires.Sub(s.now())
	if life <= 0 {
		return Claims{}, ErrExpired
	}
	if life > s.MaxTTL {
		return Claims{}, invalid("lifetime beyond maximum")
	}
	return Claims{OrderID: order, Tid: tid, Expires: expires}, nil
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalid, reason)
}

// single returns the only value of name, refusing absence, repetition and
// values longer than maxLen.
func single(q url.Values, name string, maxLen int) (string, bool) {
	v := q[name]
	if len(v) != 1 || len(v[0]) > maxLen {
		return "", false
	}
	return v[0], true
}

// parsePositive accepts exactly the decimal form strconv.FormatInt produces
// for a positive int64: digits only, no sign, no leading zero. Anything else
// would let one link be spelled several ways.
// ParseID reads an id (order, tenant) as strictly as Verify does: decimal
// digits, no sign, no leading zero, within int64. Callers that take ids
// outside a link use it so the same id is never spelled two ways.
func ParseID(s string) (int64, bool) { return parsePositive(s) }

func parsePositive(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxIntLen || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// mac computes the link signature. Fields are newline-separated; none can
// contain a newline (kid charset, decimal numbers), so the string is
// unambiguous.
func mac(secret []byte, kid string, orderID, tid, exp int64) []byte {
	h := hmac.New(sha256.New, secret)
	var b []byte
	b = append(b, purpose...)
	b = append(b, '\n')
	b = append(b, kid...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, orderID, 10)
	b = append(b, '\n')
	b = strconv.AppendInt(b, tid, 10)
	b = append(b, '\n')
	b = strconv.AppendInt(b, exp, 10)
	h.Write(b)
	return h.Sum(nil)
}
