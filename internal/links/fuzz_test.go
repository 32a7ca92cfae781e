package links

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// fuzzSigner has fixed keys and a fixed clock so the committed seed corpus
// (testdata/fuzz/FuzzVerify) holds links that stay genuine and unexpired.
func fuzzSigner() *Signer {
	return &Signer{
		Keys:   []Key{testKey("k1", 1), testKey("k0", 2)},
		MaxTTL: 30 * 24 * time.Hour,
		Now:    func() time.Time { return t0 },
	}
}

// FuzzVerify checks that Verify never panics and accepts only what Sign
// produces: whenever it accepts, signing the returned claims under the same
// key must give back exactly the parameters that were presented.
func FuzzVerify(f *testing.F) {
	s := fuzzSigner()
	q, err := s.Sign(Claims{OrderID: 1001, Tid: 77, Expires: t0.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("1001", q.Encode())
	f.Add("1001", q.Encode()+"&tid=77")
	f.Add("", "")
	f.Add("1", "exp=1&kid=k1&sig=AAAA")

	f.Fuzz(func(t *testing.T, orderID, rawQuery string) {
		query, _ := url.ParseQuery(rawQuery) // keep what parsed, as net/http does
		c, err := s.Verify(orderID, query)
		if err != nil {
			return
		}
		if got, want := orderID, strconv.FormatInt(c.OrderID, 10); got != want {
			t.Fatalf("accepted order id %q, claims say %q", got, want)
		}
		kid := query.Get(ParamKid)
		var signer *Signer
		for _, k := range s.Keys {
			if k.ID == kid {
				signer = &Signer{Keys: []Key{k}, MaxTTL: s.MaxTTL, Now: s.Now}
			}
		}
		if signer == nil {
			t.Fatalf("accepted unknown kid %q", kid)
		}
		want, err := signer.Sign(c)
		if err != nil {
			t.Fatalf("accepted claims %+v that Sign refuses: %v", c, err)
		}
		for _, p := range []string{ParamTid, ParamExp, ParamKid, ParamSig} {
			if got, w := query[p], want[p]; len(got) != len(w) || (len(w) == 1 && got[0] != w[0]) {
				t.Fatalf("accepted %s=%q, Sign gives %q", p, got, w)
			}
		}
	})
}
