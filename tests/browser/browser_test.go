// Package browser drives Debian's Chromium through the flows a person meets:
// a click on a signed link that downloads the export, and the pages shown
// when it cannot.
package browser

import (
	"bytes"
	"context"
	"flag"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
)

// chromium is Debian's package; no browser is downloaded.
const chromium = "/usr/bin/chromium"

var updateDocs = flag.Bool("update-docs", false, "write the screenshots of the not-ready and expired pages to docs/")

func TestMain(m *testing.M) {
	dms.Warm()
	os.Exit(m.Run())
}

// Sample tickets.
const (
	orderReady    = 5461234
	orderLater    = 5461235
	orderMarkup   = 5461236
	orderNoSuchID = 5461299
)

var exportFile = []byte("id,name,signup_date\n1,Alice,2026-11-01\n2,Bob,2026-11-02\n3,陈静,2026-11-03\n")

func TestBrowser(t *testing.T) {
	s := newStack(t)
	b := startBrowser(t, s.env.ChromiumFlags())
	week := time.Now().Add(7 * 24 * time.Hour)
	ready := dmsfake.Ticket{Tid: tenant, OrderID: orderReady, State: dmsfake.StateReady, FileName: "export_5461234.csv", File: exportFile}
	s.env.Gateway.PutTicket(ready)

	t.Run("click downloads the file", func(t *testing.T) {
		tb := b.open(t)
		link := s.link(orderReady, week, time.Now())
		msg := s.message(link)
		tb.do(chromedp.Navigate(msg))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		name, got := tb.download()
		if !bytes.Equal(got, exportFile) {
			t.Errorf("downloaded %q, want the ticket's file %q", got, exportFile)
		}
		if name != ready.FileName {
			t.Errorf("suggested file name %q, want %q", name, ready.FileName)
		}
		reqs := s.requests("/exports/5461234/download")
		if len(reqs) != 1 || reqs[0].status != 302 {
			t.Fatalf("the function answered %+v, want one 302", reqs)
		}
		// The browser does send referrers: the function saw the chat message.
		if reqs[0].referer != msg {
			t.Errorf("the function saw Referer %q, want the chat message %q", reqs[0].referer, msg)
		}
		checkOSS(t, s, ready.FileName, 1)
	})

	t.Run("not ready shows the tip, then downloads by itself", func(t *testing.T) {
		later := dmsfake.Ticket{Tid: tenant, OrderID: orderLater, State: dmsfake.StateNotReady, Tip: "The export is still running (37%)."}
		s.env.Gateway.PutTicket(later)
		tb := b.open(t)
		tb.do(chromedp.Navigate(s.message(s.link(orderLater, week, time.Now()))))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		tb.waitPage(409, "The export is not ready yet")
		if tip := tb.text(".tip p"); tip != later.Tip {
			t.Errorf("tip = %q, want DMS's %q", tip, later.Tip)
		}
		tb.screenshot("page-not-ready.png")

		later.State, later.FileName, later.File = dmsfake.StateReady, "export_5461235.csv", exportFile
		s.env.Gateway.PutTicket(later)
		name, got := tb.download()
		if !bytes.Equal(got, exportFile) || name != later.FileName {
			t.Errorf("downloaded %q as %q, want the ticket's file as %q", got, name, later.FileName)
		}
		reqs := s.requests("/exports/5461235/download")
		if len(reqs) < 2 || reqs[0].status != 409 || reqs[len(reqs)-1].status != 302 {
			t.Errorf("the function answered %+v, want 409s then one 302", reqs)
		}
		for _, r := range reqs[1:] {
			if r.referer != "" {
				t.Errorf("the page's reload sent Referer %q", r.referer)
			}
		}
		checkOSS(t, s, later.FileName, 1)
	})

	t.Run("markup from DMS is text", func(t *testing.T) {
		const tip = `<script>document.title="owned"</script><img src=x onerror="document.title='owned'"><b>bold</b>`
		s.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderMarkup, State: dmsfake.StateNotReady, Tip: tip})
		tb := b.open(t)
		tb.do(chromedp.Navigate(s.message(s.link(orderMarkup, week, time.Now()))))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		tb.waitPage(409, "The export is not ready yet")
		if got := tb.text(".tip p"); got != tip {
			t.Errorf("tip text = %q, want %q verbatim", got, tip)
		}
		n, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](`document.querySelectorAll("script, img, b").length`))
		if err != nil || n != 0 {
			t.Errorf("elements made from DMS's text: %d (%v)", n, err)
		}
	})

	t.Run("expired link", func(t *testing.T) {
		tb := b.open(t)
		now := time.Now()
		tb.do(chromedp.Navigate(s.message(s.link(orderReady, now.Add(-time.Hour), now.Add(-48*time.Hour)))))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		tb.waitPage(410, "This link has expired")
		tb.screenshot("page-expired.png")
	})

	t.Run("tampered link", func(t *testing.T) {
		tb := b.open(t)
		link := strings.Replace(s.link(orderReady, week, time.Now()), "/5461234/", "/5461235/", 1)
		tb.do(chromedp.Navigate(s.message(link)))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		tb.waitPage(403, "This link is not valid")
		tb.screenshot("page-invalid.png")
	})

	t.Run("unknown ticket in Chinese", func(t *testing.T) {
		tb := b.open(t)
		_, err := chromedp.Call(tb.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"},
		})
		if err != nil {
			t.Fatalf("set Accept-Language: %v", err)
		}
		tb.do(chromedp.Navigate(s.message(s.link(orderNoSuchID, week, time.Now()))))
		tb.do(chromedp.Click(chromedp.CSS("#link")))
		tb.waitPage(404, "DMS 中没有该导出工单")
		if lang, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.documentElement.lang`)); err != nil || lang != "zh-CN" {
			t.Errorf("<html lang> = %q (%v), want zh-CN", lang, err)
		}
		tb.screenshot("page-not-found-zh.png")
	})
}

// checkOSS checks that OSS served key n times, never with a Referer.
func checkOSS(t *testing.T, s *stack, key string, n int) {
	t.Helper()
	got := 0
	for _, r := range s.env.OSS.Requests() {
		if r.Key != key {
			continue
		}
		got++
		if r.Status != 200 {
			t.Errorf("OSS answered %d for %s", r.Status, key)
		}
		if r.Referer != "" {
			t.Errorf("the request that reached OSS carried Referer %q", r.Referer)
		}
	}
	if got != n {
		t.Errorf("OSS served %s %d times, want %d", key, got, n)
	}
}

// chrome is one headless Chromium for the whole test.
type chrome struct {
	ctx context.Context
}

// startBrowser starts Chromium with the extra command-line switches in flags.
func startBrowser(t *testing.T, flags map[string]string) *chrome {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		t.Fatalf("this test needs Debian's Chromium at %s: apt-get install -y chromium (.ci/run does): %v", chromium, err)
	}
	profile := t.TempDir()
	var output secrettest.Buffer
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(800, 500),
		chromedp.CombinedOutput(&output),
	}
	for name, value := range flags {
		opts = append(opts, chromedp.Flag(name, value))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the process, so the profile can be removed
		if t.Failed() {
			t.Logf("chromium's output:\n%s", output.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\n%s", chromium, err, output.String())
	}
	version, err := exec.Command(chromium, "--version").Output()
	if err == nil {
		t.Logf("browser: %s", strings.TrimSpace(string(version)))
	}
	return &chrome{ctx: ctx}
}

// tab is one browser tab with its downloads directory, the statuses of its
// documents and its finished downloads.
type tab struct {
	t   *testing.T
	ctx context.Context
	dir string

	mu    sync.Mutex
	docs  []int // status of each main-document response, in order
	names map[string]string
	done  chan string // GUIDs of completed downloads
}

// open makes a tab with an 800x500 viewport whose downloads go to a
// temporary directory. Every action on it is bounded by a minute.
func (c *chrome) open(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx)
	t.Cleanup(cancel)
	tb := &tab{t: t, dir: t.TempDir(), names: map[string]string{}, done: make(chan string, 4)}
	if err := chromedp.Do(ctx); err != nil { // opens the tab, with no deadline
		t.Fatalf("open a tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			if ev.Type == network.ResourceTypeDocument {
				tb.mu.Lock()
				tb.docs = append(tb.docs, int(ev.Response.Status))
				tb.mu.Unlock()
			}
		case *browser.EventDownloadWillBegin:
			tb.mu.Lock()
			tb.names[ev.GUID] = ev.SuggestedFilename
			tb.mu.Unlock()
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateCompleted {
				select {
				case tb.done <- ev.GUID:
				default:
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(tcancel)
	tb.ctx = tctx
	tb.do(
		chromedp.EmulateViewport(800, 500),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: tb.dir, EventsEnabled: new(true),
			})
			return err
		}),
	)
	return tb
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

func (tb *tab) text(css string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.TextContent(chromedp.CSS(css)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

// waitPage waits until the tab shows the function's page with this heading,
// then checks the document's status and that its stylesheet applied (the
// CSP hash matched).
func (tb *tab) waitPage(status int, heading string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS("main h1")))
	if got := tb.text("main h1"); got != heading {
		tb.t.Fatalf("heading = %q, want %q", got, heading)
	}
	tb.mu.Lock()
	docs := append([]int(nil), tb.docs...)
	tb.mu.Unlock()
	if len(docs) == 0 || docs[len(docs)-1] != status {
		tb.t.Errorf("document statuses %v, want the last to be %d", docs, status)
	}
	width, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main")).maxWidth`))
	if err != nil || width == "none" {
		tb.t.Errorf("the page's stylesheet did not apply (max-width %q, %v): is its CSP hash right?", width, err)
	}
}

// download waits for the next finished download and returns its suggested
// name and its bytes.
func (tb *tab) download() (string, []byte) {
	tb.t.Helper()
	select {
	case guid := <-tb.done:
		data, err := os.ReadFile(filepath.Join(tb.dir, guid))
		if err != nil {
			tb.t.Fatalf("read the download: %v", err)
		}
		tb.mu.Lock()
		defer tb.mu.Unlock()
		return tb.names[guid], data
	case <-tb.ctx.Done():
		tb.t.Fatalf("no download finished: %v", tb.ctx.Err())
	}
	return "", nil
}

// screenshot saves the viewport under the test's temporary directory, and
// to docs/ for the two pages the README shows when -update-docs is set.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(tb.t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if *updateDocs && (name == "page-not-ready.png" || name == "page-expired.png") {
		docs := filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, name), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}
