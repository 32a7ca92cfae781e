package links

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// t0 is an arbitrary fixed instant; every test clock is derived from it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKey(id string, fill byte) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, 32)}
}

// clock returns a settable clock for Signer.Now.
func clock(t time.Time) (func() time.Time, func(time.Duration)) {
	now := t
	return func() time.Time { return now }, func(d time.Duration) { now = now.Add(d) }
}

func newSigner(keys ...Key) *Signer {
	now, _ := clock(t0)
	return &Signer{Keys: keys, MaxTTL: 30 * 24 * time.Hour, Now: now}
}

func mustSign(t *testing.T, s *Signer, c Claims) url.Values {
	t.Helper()
	q, err := s.Sign(c)
	if err != nil {
		t.Fatalf("Sign(%+v): %v", c, err)
	}
	return q
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11) // 33 bytes; encodings differ between std and url
	tests := []struct {
		name string
		in   string
		want []Key
	}{
		{"empty", "", nil},
		{"blank", "  ", nil},
		{"std padded", "k1:" + base64.StdEncoding.EncodeToString(secret), []Key{{"k1", secret}}},
		{"std raw", "k1:" + base64.RawStdEncoding.EncodeToString(secret), []Key{{"k1", secret}}},
		{"url padded", "k1:" + base64.URLEncoding.EncodeToString(secret), []Key{{"k1", secret}}},
		{"url raw", "k1:" + base64.RawURLEncoding.EncodeToString(secret), []Key{{"k1", secret}}},
		{"two with spaces", " new_2:" + base64.StdEncoding.EncodeToString(secret[:32]) + " , old-1:" + base64.StdEncoding.EncodeToString(secret),
			[]Key{{"new_2", secret[:32]}, {"old-1", secret}}},
		{"kid of 32", strings.Repeat("a", 32) + ":" + base64.StdEncoding.EncodeToString(secret), []Key{{strings.Repeat("a", 32), secret}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeys(tt.in)
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID || !bytes.Equal(got[i].Secret, tt.want[i].Secret) {
					t.Errorf("key %d = %q/%x, want %q/%x", i, got[i].ID, got[i].Secret, tt.want[i].ID, tt.want[i].Secret)
				}
			}
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	t.Parallel()
	// Each secret is distinctive so the test can check it is never echoed.
	good := base64.StdEncoding.EncodeToString([]byte("TOPSECRET-0123456789-abcdefghijk"))
	short := base64.StdEncoding.EncodeToString([]byte("TOPSECRET-short"))
	tests := []struct {
		name, in, secret string
	}{
		{"no colon", "TOPSECRETnocolonatall", "TOPSECRETnocolonatall"},
		{"empty kid", ":" + good, good},
		{"bad kid char", "k.1:" + good, good},
		{"kid too long", strings.Repeat("k", 33) + ":" + good, good},
		{"secret as kid", good + ":k1", good},
		{"short secret", "k1:" + short, short},
		{"not base64", "k1:TOPSECRET!!!", "TOPSECRET"},
		{"empty secret", "k1:", ""},
		{"duplicate kid", "k1:" + good + ",k1:" + good, good},
		{"empty entry", "k1:" + good + ",", good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := ParseKeys(tt.in)
			if err == nil {
				t.Fatalf("ParseKeys(%q) = %d keys, want an error", tt.in, len(keys))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "LINK_KEYS: ") {
				t.Errorf("error %q does not name LINK_KEYS", msg)
			}
			if strings.Contains(msg, "TOPSECRET") || (tt.secret != "" && strings.Contains(msg, tt.secret)) {
				t.Errorf("error %q echoes the secret", msg)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    Claims
	}{
		{"with tid", Claims{OrderID: 123456, Tid: 789, Expires: t0.Add(7 * 24 * time.Hour)}},
		{"without tid", Claims{OrderID: 1, Expires: t0.Add(time.Second)}},
		{"max ids", Claims{OrderID: 1<<63 - 1, Tid: 1<<63 - 1, Expires: t0.Add(30 * 24 * time.Hour)}},
		{"sub-second expiry", Claims{OrderID: 42, Expires: t0.Add(time.Hour + 900*time.Millisecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSigner(testKey("k1", 1))
			q := mustSign(t, s, tt.c)
			if _, ok := q[ParamTid]; ok != (tt.c.Tid != 0) {
				t.Errorf("tid present = %v, want %v", ok, tt.c.Tid != 0)
			}
			if got, want := len(q.Get(ParamSig)), 43; got != want {
				t.Errorf("len(sig) = %d, want %d", got, want)
			}
			got, err := s.Verify(strconv.FormatInt(tt.c.OrderID, 10), q)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Claims{OrderID: tt.c.OrderID, Tid: tt.c.Tid, Expires: time.Unix(tt.c.Expires.Unix(), 0)}
			if got.OrderID != want.OrderID || got.Tid != want.Tid || !got.Expires.Equal(want.Expires) {
				t.Errorf("Verify = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	ok := Claims{OrderID: 1, Expires: t0.Add(time.Hour)}
	tests := []struct {
		name    string
		keys    []Key
		c       Claims
		wantErr error // nil: any error
	}{
		{"no keys", nil, ok, ErrNoKeys},
		{"past", []Key{testKey("k", 1)}, Claims{OrderID: 1, Expires: t0.Add(-time.Second)}, nil},
		{"now", []Key{testKey("k", 1)}, Claims{OrderID: 1, Expires: t0}, nil},
		{"truncates to now", []Key{testKey("k", 1)}, Claims{OrderID: 1, Expires: t0.Add(500 * time.Millisecond)}, nil},
		{"zero time", []Key{testKey("k", 1)}, Claims{OrderID: 1}, nil},
		{"beyond max ttl", []Key{testKey("k", 1)}, Claims{OrderID: 1, Expires: t0.Add(30*24*time.Hour + time.Second)}, nil},
		{"zero order", []Key{testKey("k", 1)}, Claims{OrderID: 0, Expires: ok.Expires}, nil},
		{"negative order", []Key{testKey("k", 1)}, Claims{OrderID: -5, Expires: ok.Expires}, nil},
		{"negative tid", []Key{testKey("k", 1)}, Claims{OrderID: 1, Tid: -1, Expires: ok.Expires}, nil},
		{"short secret", []Key{{ID: "k", Secret: []byte("short")}}, ok, nil},
		{"bad kid", []Key{{ID: "k:1", Secret: bytes.Repeat([]byte{1}, 32)}}, ok, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := newSigner(tt.keys...).Sign(tt.c)
			if err == nil {
				t.Fatalf("Sign = %v, want an error", q)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Sign error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSignAtMaxTTL(t *testing.T) {
	t.Parallel()
	s := newSigner(testKey("k", 1))
	c := Claims{OrderID: 9, Expires: t0.Add(s.MaxTTL)}
	q := mustSign(t, s, c)
	if _, err := s.Verify("9", q); err != nil {
		t.Errorf("Verify at exactly MaxTTL: %v", err)
	}
}

// TestVerifyTampered changes one thing at a time in a genuine link.
func TestVerifyTampered(t *testing.T) {
	t.Parallel()
	s := newSigner(testKey("k1", 1), testKey("k2", 2))
	c := Claims{OrderID: 1001, Tid: 77, Expires: t0.Add(24 * time.Hour)}
	base := mustSign(t, s, c)
	if _, err := s.Verify("1001", base); err != nil {
		t.Fatalf("untouched link: %v", err)
	}
	flip := func(sig string) string {
		b := []byte(sig)
		if b[5] == 'A' {
			b[5] = 'B'
		} else {
			b[5] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		orderID string
		edit    func(q url.Values)
	}{
		{"order id", "1002", func(url.Values) {}},
		{"tid changed", "1001", func(q url.Values) { q.Set(ParamTid, "78") }},
		{"tid removed", "1001", func(q url.Values) { q.Del(ParamTid) }},
		{"exp later", "1001", func(q url.Values) { q.Set(ParamExp, strconv.FormatInt(c.Expires.Unix()+1, 10)) }},
		{"exp earlier", "1001", func(q url.Values) { q.Set(ParamExp, strconv.FormatInt(c.Expires.Unix()-1, 10)) }},
		{"kid to other known key", "1001", func(q url.Values) { q.Set(ParamKid, "k2") }},
		{"unknown kid", "1001", func(q url.Values) { q.Set(ParamKid, "k3") }},
		{"sig flipped", "1001", func(q url.Values) { q.Set(ParamSig, flip(q.Get(ParamSig))) }},
		{"sig truncated", "1001", func(q url.Values) { q.Set(ParamSig, q.Get(ParamSig)[:42]) }},
		{"sig extended", "1001", func(q url.Values) { q.Set(ParamSig, q.Get(ParamSig)+"A") }},
		{"sig padded", "1001", func(q url.Values) { q.Set(ParamSig, q.Get(ParamSig)+"=") }},
		{"sig std alphabet", "1001", func(q url.Values) {
			q.Set(ParamSig, strings.NewReplacer("-", "+", "_", "/").Replace(q.Get(ParamSig))+"x")
		}},
		{"sig empty", "1001", func(q url.Values) { q.Set(ParamSig, "") }},
		{"sig garbage", "1001", func(q url.Values) { q.Set(ParamSig, strings.Repeat("!", 43)) }},
		{"sig missing", "1001", func(q url.Values) { q.Del(ParamSig) }},
		{"kid missing", "1001", func(q url.Values) { q.Del(ParamKid) }},
		{"exp missing", "1001", func(q url.Values) { q.Del(ParamExp) }},
		{"sig repeated", "1001", func(q url.Values) { q.Add(ParamSig, q.Get(ParamSig)) }},
		{"kid repeated", "1001", func(q url.Values) { q.Add(ParamKid, q.Get(ParamKid)) }},
		{"exp repeated", "1001", func(q url.Values) { q.Add(ParamExp, q.Get(ParamExp)) }},
		{"tid repeated", "1001", func(q url.Values) { q.Add(ParamTid, q.Get(ParamTid)) }},
		{"tid empty", "1001", func(q url.Values) { q.Set(ParamTid, "") }},
		{"tid leading zero", "1001", func(q url.Values) { q.Set(ParamTid, "077") }},
		{"tid plus", "1001", func(q url.Values) { q.Set(ParamTid, "+77") }},
		{"exp leading zero", "1001", func(q url.Values) { q.Set(ParamExp, "0"+q.Get(ParamExp)) }},
		{"exp with space", "1001", func(q url.Values) { q.Set(ParamExp, q.Get(ParamExp)+" ") }},
		{"order leading zero", "01001", func(url.Values) {}},
		{"order plus", "+1001", func(url.Values) {}},
		{"order encoded", "10%301", func(url.Values) {}},
		{"order empty", "", func(url.Values) {}},
		{"order overflow", "99999999999999999999", func(url.Values) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{}
			for k, v := range base {
				q[k] = append([]string(nil), v...)
			}
			tt.edit(q)
			got, err := s.Verify(tt.orderID, q)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", got, err)
			}
		})
	}
}

func TestVerifyIgnoresOtherParams(t *testing.T) {
	t.Parallel()
	s := newSigner(testKey("k1", 1))
	q := mustSign(t, s, Claims{OrderID: 5, Expires: t0.Add(time.Hour)})
	q.Add("format", "json")
	q.Add("format", "html")
	if _, err := s.Verify("5", q); err != nil {
		t.Errorf("Verify with unrelated params: %v", err)
	}
}

func TestVerifyParse(t *testing.T) {
	t.Parallel()
	// Values that must be refused before any MAC is computed; a correct sig
	// is irrelevant, so a syntactically valid dummy is used.
	dummy := strings.Repeat("A", 43)
	tests := []struct {
		name    string
		orderID string
		q       url.Values
	}{
		{"exp zero", "1", url.Values{ParamExp: {"0"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"exp negative", "1", url.Values{ParamExp: {"-1"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"exp overflow", "1", url.Values{ParamExp: {"9223372036854775808"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"exp hex", "1", url.Values{ParamExp: {"0x10"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"exp huge", "1", url.Values{ParamExp: {strings.Repeat("9", 1<<20)}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"kid huge", "1", url.Values{ParamExp: {"1"}, ParamKid: {strings.Repeat("k", 1<<20)}, ParamSig: {dummy}}},
		{"sig huge", "1", url.Values{ParamExp: {"1"}, ParamKid: {"k1"}, ParamSig: {strings.Repeat("A", 1<<20)}}},
		{"tid zero", "1", url.Values{ParamTid: {"0"}, ParamExp: {"1"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"order zero", "0", url.Values{ParamExp: {"1"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"order negative", "-1", url.Values{ParamExp: {"1"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"order unicode digit", "١", url.Values{ParamExp: {"1"}, ParamKid: {"k1"}, ParamSig: {dummy}}},
		{"nil query", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := newSigner(testKey("k1", 1)).Verify(tt.orderID, tt.q); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifyNoKeys(t *testing.T) {
	t.Parallel()
	q := mustSign(t, newSigner(testKey("k1", 1)), Claims{OrderID: 1, Expires: t0.Add(time.Hour)})
	if _, err := newSigner().Verify("1", q); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Verify with no keys = %v, want ErrNoKeys", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old, next := testKey("2025", 1), testKey("2026", 2)
	c := Claims{OrderID: 3, Expires: t0.Add(time.Hour)}
	oldLink := mustSign(t, newSigner(old), c)

	rotated := newSigner(next, old)
	if _, err := rotated.Verify("3", oldLink); err != nil {
		t.Errorf("old link after rotation: %v", err)
	}
	newLink := mustSign(t, rotated, c)
	if got, want := newLink.Get(ParamKid), next.ID; got != want {
		t.Errorf("new link kid = %q, want %q", got, want)
	}
	if _, err := newSigner(old).Verify("3", newLink); !errors.Is(err, ErrInvalid) {
		t.Errorf("new link on a ring without the new key: %v, want ErrInvalid", err)
	}
	retired := newSigner(next)
	if _, err := retired.Verify("3", oldLink); !errors.Is(err, ErrInvalid) {
		t.Errorf("old link after retiring its key: %v, want ErrInvalid", err)
	}
	// Same kid, different secret (a key replaced under the same name).
	if _, err := newSigner(testKey("2025", 9)).Verify("3", oldLink); !errors.Is(err, ErrInvalid) {
		t.Errorf("old link under a replaced secret: %v, want ErrInvalid", err)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	now, advance := clock(t0)
	s := &Signer{Keys: []Key{testKey("k1", 1)}, MaxTTL: time.Hour, Now: now}
	q := mustSign(t, s, Claims{OrderID: 8, Expires: t0.Add(10 * time.Second)})

	advance(9 * time.Second)
	if _, err := s.Verify("8", q); err != nil {
		t.Fatalf("1s before expiry: %v", err)
	}
	advance(time.Second)
	if _, err := s.Verify("8", q); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
	// An expired link with a bad signature is invalid, not expired: only a
	// genuine link may learn that it expired.
	bad := url.Values{}
	for k, v := range q {
		bad[k] = v
	}
	bad.Set(ParamTid, "1")
	if _, err := s.Verify("8", bad); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrExpired) {
		t.Errorf("expired forged link: %v, want ErrInvalid only", err)
	}
	if _, err := s.Verify("9", q); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired link for another order: %v, want ErrInvalid", err)
	}
}

func TestVerifyMaxTTL(t *testing.T) {
	t.Parallel()
	now, _ := clock(t0)
	long := &Signer{Keys: []Key{testKey("k1", 1)}, MaxTTL: 48 * time.Hour, Now: now}
	strict := &Signer{Keys: long.Keys, MaxTTL: 24 * time.Hour, Now: now}
	tests := []struct {
		name    string
		life    time.Duration
		wantErr error
	}{
		{"within", 24 * time.Hour, nil},
		{"beyond", 24*time.Hour + time.Second, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := mustSign(t, long, Claims{OrderID: 2, Expires: t0.Add(tt.life)})
			_, err := strict.Verify("2", q)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestErrorsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	s := newSigner(testKey("k1", 1))
	q := mustSign(t, s, Claims{OrderID: 1, Expires: t0.Add(time.Hour)})
	sig := q.Get(ParamSig)
	q.Set(ParamTid, "5")
	_, err := s.Verify("1", q)
	if err == nil {
		t.Fatal("Verify accepted a tampered link")
	}
	if strings.Contains(err.Error(), sig) || strings.Contains(err.Error(), "5") {
		t.Errorf("error %q echoes input", err)
	}
}
