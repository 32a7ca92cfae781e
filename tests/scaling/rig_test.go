package scaling

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"github.com/dms-export-link/dms-export-link/tests/fcfake"
)

const (
	tenant = 3000
	// dmsLatency is how long the emulator takes to answer each DMS call, as in tests/load.
	dmsLatency = 50 * time.Millisecond
	// fcTimeout is s.yaml's function timeout.
	fcTimeout = 30 * time.Second
)

// rig is the DMS emulator and fake OSS, and what every function instance is configured with.
type rig struct {
	env     *dmsfake.Env
	signer  *links.Signer
	creds   fcfake.Credentials // the role's, sent by FC with every invocation
	vars    []string           // the function's environment
	secrets []string           // must never reach an instance's output
	nextID  int64
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	r := &rig{nextID: 8_000_000}
	r.creds = fcfake.Credentials{AccessKeyID: "STS." + secrettest.Random(12), AccessKeySecret: secrettest.Random(30), SecurityToken: "CAIS" + secrettest.Random(60)}
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID: r.creds.AccessKeyID, AccessKeySecret: r.creds.AccessKeySecret, SecurityToken: r.creds.SecurityToken,
		DefaultTid: tenant,
	}, dmsfake.OSSOptions{Bucket: "dms-idb-scaling", AccessKeyID: "LTAIoss" + secrettest.Random(8), AccessKeySecret: secrettest.Random(24)})
	if err != nil {
		tb.Fatalf("dmsfake.Start: %v", err)
	}
	tb.Cleanup(env.Close)
	env.Gateway.SetFault(dmsfake.Fault{Latency: dmsLatency})
	r.env = env

	key := links.Key{ID: "k1", Secret: []byte(secrettest.Random(40))}
	r.signer = &links.Signer{Keys: []links.Key{key}, MaxTTL: 30 * 24 * time.Hour}
	r.secrets = []string{r.creds.AccessKeySecret, r.creds.SecurityToken, string(key.Secret), base64.StdEncoding.EncodeToString(key.Secret)}
	// ALLOWED_DOWNLOAD_HOSTS keeps its production default, which the fake OSS's
	// https://<bucket>.oss-cn-hangzhou.aliyuncs.com URLs pass.
	r.vars = []string{
		"DMS_ENDPOINT=" + env.DMSHost,
		"DMS_SCHEME=http",
		"DMS_TID=" + strconv.Itoa(tenant),
		"LINK_KEYS=" + key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
		// The emulator shares this test's CPU with up to 100 instances starting at once; on a
		// loaded machine its answers can take longer than the default 10s.
		"DMS_TIMEOUT=25s",
	}
	return r
}

// poolOptions say how FC runs the function.
type poolOptions struct {
	custom       bool // s.custom.yaml's custom runtime instead of s.yaml's go1
	maxInstances int
	provisioned  int      // instances started before the first request
	env          []string // more NAME=value settings on top of the rig's
}

// customConcurrency is s.custom.yaml's default instanceConcurrency.
const customConcurrency = 50

// pool starts the function as FC 3.0 runs it, with the initializer the templates declare
// and requests beyond the instance limit waiting for a free instance: go1 as s.yaml says
// (one request per instance), or the custom runtime as s.custom.yaml says (its command and
// args, 50 requests per instance, preStop). It stops the pool at the end of the test,
// checking every instance's output for secrets.
func (r *rig) pool(tb testing.TB, o poolOptions) *fcfake.Pool {
	tb.Helper()
	po := fcfake.PoolOptions{
		Options:      fcfake.Options{Timeout: fcTimeout, Credentials: r.creds},
		Command:      []string{binary},
		Env:          append(slices.Clone(r.vars), o.env...),
		MaxInstances: o.maxInstances,
		Provisioned:  o.provisioned,
		Initializer:  true,
		LogDir:       tb.TempDir(),
	}
	if o.custom {
		po.Kind, po.Command, po.InstanceConcurrency, po.PreStop = fcfake.Custom, customCommand(tb), customConcurrency, true
	}
	p, err := fcfake.StartPool(po)
	if err != nil {
		tb.Fatalf("StartPool: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("closing the pool: %v", err)
		}
		out := output(tb, p)
		for _, leak := range secrettest.Leaks(out, r.secrets) {
			tb.Errorf("an instance's output: %s", leak)
		}
		if tb.Failed() {
			tb.Logf("instances' output:\n%s", out)
		}
	})
	return p
}

// customCommand is s.custom.yaml's customRuntimeConfig command and args, with the
// executable make build wrote and the instance's port in place of the template's.
func customCommand(tb testing.TB) []string {
	tb.Helper()
	c, err := fcfake.ReadCustomRuntimeConfig(filepath.Join("..", "..", "s.custom.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(c.Command) != 1 || filepath.Base(c.Command[0]) != filepath.Base(binary) {
		tb.Fatalf("s.custom.yaml command %q, want the executable make build writes", c.Command)
	}
	listen := "0.0.0.0:" + strconv.Itoa(c.Port)
	if !slices.Contains(c.Args, listen) {
		tb.Fatalf("s.custom.yaml args %q do not listen on %s", c.Args, listen)
	}
	args := slices.Clone(c.Args)
	args[slices.Index(args, listen)] = "0.0.0.0:{port}"
	return append([]string{binary}, args...)
}

// output is what every instance of p has written so far, instance by instance.
func output(tb testing.TB, p *fcfake.Pool) string {
	tb.Helper()
	var b strings.Builder
	for _, in := range p.Stats().Instances {
		out, err := os.ReadFile(in.LogPath)
		if err != nil && !os.IsNotExist(err) {
			tb.Fatalf("instance %d output: %v", in.ID, err)
		}
		b.Write(out)
	}
	return b.String()
}

// tickets puts n ready tickets nobody asked for before and returns a signed link (path and
// query) to each.
func (r *rig) tickets(tb testing.TB, n int) []string {
	tb.Helper()
	targets := make([]string, n)
	for i := range targets {
		r.nextID++
		id := r.nextID
		r.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: id, State: dmsfake.StateReady, File: []byte("id\n1\n")})
		q, err := r.signer.Sign(links.Claims{OrderID: id, Expires: time.Now().Add(24 * time.Hour)})
		if err != nil {
			tb.Fatalf("sign: %v", err)
		}
		r.secrets = append(r.secrets, q.Get(links.ParamSig))
		targets[i] = "/exports/" + strconv.FormatInt(id, 10) + "/download?" + q.Encode()
	}
	return targets
}

// click is one answered click.
type click struct {
	status   int
	location string
	elapsed  time.Duration // from the burst's start to the end of the answer
}

// outcome is what one burst did.
type outcome struct {
	clicks    []click
	dmsCalls  int
	instances int   // started by the burst
	requests  []int // answered per instance started so far
}

// locations counts the clicks per Location.
func (o outcome) locations() map[string]int {
	m := map[string]int{}
	for _, c := range o.clicks {
		m[c.location]++
	}
	return m
}

// percentile is the q-th latency (0 < q <= 1) of the burst, nearest rank.
func (o outcome) percentile(q float64) time.Duration {
	d := make([]time.Duration, len(o.clicks))
	for i, c := range o.clicks {
		d[i] = c.elapsed
	}
	slices.Sort(d)
	return d[max(0, int(q*float64(len(d))+0.999999)-1)]
}

// burst sends n clicks at once, round-robin over targets, through p's front door, and
// validates every answer against openapi.yaml; the function's own answers only, since a
// click answered by FC itself (X-Fc-Error-Type) is an error here.
func burst(tb testing.TB, r *rig, p *fcfake.Pool, targets []string, n int) outcome {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * fcTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	callsBefore, instancesBefore := r.env.Gateway.Calls(), len(p.Stats().Instances)
	clicks := make([]click, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var t0 time.Time
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, p.FrontURL()+targets[i%len(targets)], nil)
			if err != nil {
				errs[i] = err
				return
			}
			<-start
			res, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				errs[i] = err
				return
			}
			clicks[i] = click{status: res.StatusCode, location: res.Header.Get("Location"), elapsed: time.Since(t0)}
			if et := res.Header.Get("X-Fc-Error-Type"); et != "" {
				errs[i] = errFC(et, res.StatusCode, body)
			} else {
				errs[i] = contract.Check(req, nil, res, body)
			}
		})
	}
	t0 = time.Now()
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Errorf("click: %v", err)
		}
	}
	s := p.Stats()
	o := outcome{clicks: clicks, dmsCalls: r.env.Gateway.Calls() - callsBefore, instances: len(s.Instances) - instancesBefore}
	for _, in := range s.Instances {
		o.requests = append(o.requests, in.Requests)
	}
	return o
}
