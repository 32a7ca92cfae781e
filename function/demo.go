package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
)

// The demo's sample tickets.
const (
	demoTid      = 3000
	demoReady    = 5461234
	demoNotReady = 5461235
	demoFailed   = 5461236
)

// demoFile is the sample export the fake OSS serves.
var demoFile = []byte("id,name,signup_date\n1,Alice,2026-11-01\n2,Bob,2026-11-02\n3,Chen Jing,2026-11-03\n")

// demoEnv is the -demo mode: the DMS emulator and fake OSS on loopback, and
// the configuration that points the function at them.
type demoEnv struct {
	env     *dmsfake.Env
	vars    map[string]string
	base    func(string) string
	linkKey links.Key
	token   string
}

func startDemo(getenv func(string) string, stdout io.Writer) (*demoEnv, error) {
	ak, secret, sts := "LTAI"+randHex(8), randHex(16), "CAIS"+randHex(24)
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID:     ak,
		AccessKeySecret: secret,
		SecurityToken:   sts,
		Logger:          slog.New(slog.NewJSONHandler(stdout, nil)),
		DefaultTid:      demoTid,
	}, dmsfake.OSSOptions{Bucket: "dms-idb-demo", AccessKeyID: "LTAI" + randHex(8), AccessKeySecret: randHex(16)})
	if err != nil {
		return nil, fmt.Errorf("demo: start the DMS emulator: %w", err)
	}
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoReady, State: dmsfake.StateReady, FileName: fmt.Sprintf("export_%d.csv", demoReady), File: demoFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoNotReady, State: dmsfake.StateNotReady, Tip: "The export is still running (37%)."})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: demoTid, OrderID: demoFailed, State: dmsfake.StateFailed, ErrorCode: "UnknownError", ErrorMessage: "The export task failed: the SQL timed out."})

	key := links.Key{ID: "demo", Secret: randBytes(32)}
	d := &demoEnv{env: env, base: getenv, linkKey: key, token: "demo-" + randHex(16)}
	d.vars = map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     ak,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    sts,
		"DMS_ENDPOINT":                    env.DMSHost,
		"DMS_SCHEME":                      "http",
		"DMS_TID":                         fmt.Sprint(demoTid),
		"ALLOWED_DOWNLOAD_HOSTS":          hostOf(env.OSSURL),
		"ALLOW_HTTP_LOOPBACK_DOWNLOADS":   "true",
		"LINK_KEYS":                       key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
		"API_TOKENS":                      d.token,
		"FC_RUNTIME_API":                  "", // the demo always serves locally
	}
	return d, nil
}

// getenv overlays the demo's settings on the real environment.
func (d *demoEnv) getenv(name string) string {
	if v, ok := d.vars[name]; ok {
		return v
	}
	return d.base(name)
}

func (d *demoEnv) Close() { d.env.Close() }

// printGuide prints ready-to-click links and sample curl commands.
func (d *demoEnv) printGuide(w io.Writer, base string) {
	now := time.Now()
	signer := &links.Signer{Keys: []links.Key{d.linkKey}, MaxTTL: 30 * 24 * time.Hour}
	mint := func(s *links.Signer, order int64, exp time.Time) string {
		q, err := s.Sign(links.Claims{OrderID: order, Expires: exp})
		if err != nil {
			return "(cannot sign: " + err.Error() + ")"
		}
		return base + "/exports/" + fmt.Sprint(order) + "/download?" + q.Encode()
	}
	week := now.Add(7 * 24 * time.Hour)
	ready := mint(signer, demoReady, week)
	past := &links.Signer{Keys: signer.Keys, MaxTTL: signer.MaxTTL, Now: func() time.Time { return now.Add(-48 * time.Hour) }}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ndms-export-link demo: the function, a DMS emulator and a fake OSS on loopback.")
	fmt.Fprintln(tw, "Open these in a browser or with curl -i:")
	fmt.Fprintf(tw, "  ready (302 to the file)\t%s\n", ready)
	fmt.Fprintf(tw, "  not ready yet (409)\t%s\n", mint(signer, demoNotReady, week))
	fmt.Fprintf(tw, "  export failed (502)\t%s\n", mint(signer, demoFailed, week))
	fmt.Fprintf(tw, "  tampered (403)\t%s\n", tamper(ready))
	fmt.Fprintf(tw, "  expired (410)\t%s\n", mint(past, demoReady, now.Add(-24*time.Hour)))
	_ = tw.Flush()
	fmt.Fprintf(w, "\nDownload the sample file:\n  curl -L -OJ '%s'\n", ready)
	fmt.Fprintf(w, "\nAs a bot (JSON status and a fresh link):\n  curl -H 'Authorization: Bearer %s' %s/exports/%d\n", d.token, base, demoReady)
	fmt.Fprintf(w, "  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"orderId\":%d,\"ttlSeconds\":3600}' %s/links\n", d.token, demoReady, base)
	fmt.Fprintf(w, "\nThe contract: %s/openapi.yaml   Each DMS call the emulator serves logs a line with \"msg\":\"dms call\".\n\n", base)
}

// tamper changes one character of a link's signature.
func tamper(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	sig := q.Get("sig")
	if sig == "" {
		return link
	}
	repl := "A"
	if strings.HasPrefix(sig, "A") {
		repl = "B"
	}
	q.Set("sig", repl+sig[1:])
	u.RawQuery = q.Encode()
	return u.String()
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }
