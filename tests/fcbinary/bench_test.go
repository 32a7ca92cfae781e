package fcbinary

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
)

var (
	echoOnce sync.Once
	echoBin  string
	echoErr  error
)

// echoBinary builds tests/fcfake's echo function, about the smallest
// function the SDK allows, with make build's flags: the baseline of a cold
// start.
func echoBinary(b *testing.B) string {
	b.Helper()
	echoOnce.Do(func() {
		bin := filepath.Join(workDir, "echofn")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../fcfake/testdata/echofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = fmt.Errorf("building echofn: %v\n%s", err, out)
			return
		}
		echoBin = bin
	})
	if echoErr != nil {
		b.Fatal(echoErr)
	}
	return echoBin
}

var (
	bareOnce sync.Once
	bareBin  string
	bareErr  error
)

// bareBinary builds testdata/barefn, the bare SDK function (an empty
// initializer, a constant answer), with make build's flags.
func bareBinary(b *testing.B) string {
	b.Helper()
	bareOnce.Do(func() {
		bin := filepath.Join(workDir, "barefn")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./testdata/barefn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			bareErr = fmt.Errorf("building barefn: %v\n%s", err, out)
			return
		}
		bareBin = bin
	})
	if bareErr != nil {
		b.Fatal(bareErr)
	}
	return bareBin
}

// median of ds in milliseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return float64(m) / float64(time.Millisecond)
}

// BenchmarkColdStartProfiles measures one probe on three processes, started
// in turn in every iteration (the order rotates, so a busy moment of the
// machine does not favour one): from exec to the initializer's answer and
// then the answer to the first click on a download link.
//
//	bare-ms     testdata/barefn under the fake go1 runtime: the baseline
//	go1-ms      our binary under the fake go1 runtime (s.yaml); a 302, one DMS call
//	custom-ms   our binary started as s.custom.yaml says, FC's headers on the
//	            click; a 302, one DMS call
//	go1/bare, custom/bare   the ratios of the medians
//	*-cpu-ms    CPU time each process used until then, which depends far
//	            less than wall time on how busy the machine is
//
// All are medians over b.N iterations (use -benchtime=Nx).
func BenchmarkColdStartProfiles(b *testing.B) {
	bare := bareBinary(b)
	var bareT, goT, customT, bareCPU, goCPU, customCPU []time.Duration
	probes := []func(){
		func() {
			s := startStack(b, stackOptions{binary: bare})
			s.initialize()
			_, r := s.send(b, http.MethodGet, s.link(b, s.signer, orderReady, week()), nil, nil)
			if r.StatusCode != http.StatusOK {
				b.Fatalf("barefn answered %d", r.StatusCode)
			}
			bareT = append(bareT, r.done.Sub(s.started))
			bareCPU = append(bareCPU, cpuTime(b, s.cmd.Process.Pid))
			s.stop()
		},
		func() {
			s := startStack(b, stackOptions{})
			s.initialize()
			r := s.get(b, s.link(b, s.signer, orderReady, week()), nil)
			if r.StatusCode != http.StatusFound {
				b.Fatalf("go1 download answered %d", r.StatusCode)
			}
			goT = append(goT, r.done.Sub(s.started))
			goCPU = append(goCPU, cpuTime(b, s.cmd.Process.Pid))
			s.stop()
		},
		func() {
			s := startCustom(b, nil)
			if got := s.lifecycle(b, http.MethodPost, "/initialize", "init"); got != http.StatusNoContent {
				b.Fatalf("custom initializer answered %d", got)
			}
			r := s.do(b, http.MethodGet, s.link(b, orderReady), fcHeaders("click", s.creds))
			if r.StatusCode != http.StatusFound {
				b.Fatalf("custom download answered %d", r.StatusCode)
			}
			customT = append(customT, r.done.Sub(s.started))
			customCPU = append(customCPU, cpuTime(b, s.cmd.Process.Pid))
			s.stop()
		},
	}
	for i := 0; i < b.N; i++ {
		for j := range probes {
			probes[(i+j)%len(probes)]()
		}
	}
	b.ReportMetric(median(bareT), "bare-ms")
	b.ReportMetric(median(goT), "go1-ms")
	b.ReportMetric(median(customT), "custom-ms")
	b.ReportMetric(median(goT)/median(bareT), "go1/bare")
	b.ReportMetric(median(customT)/median(bareT), "custom/bare")
	b.ReportMetric(median(bareCPU), "bare-cpu-ms")
	b.ReportMetric(median(goCPU), "go1-cpu-ms")
	b.ReportMetric(median(customCPU), "custom-cpu-ms")
	b.ReportMetric(median(goCPU)/median(bareCPU), "go1/bare-cpu")
}

func ms(d time.Duration, n int) float64 { return float64(d) / float64(n) / float64(time.Millisecond) }

// BenchmarkColdStart starts fresh processes in every iteration and reports,
// in milliseconds from the process start (exec):
//
//	echo-first-ms   the echo function's first answer (the baseline)
//	init-ms         our initializer answered (the first invocation FC sends)
//	first-ms        then our first download answered (a DMS call)
//	lazy-first-ms   without an initializer, the first download answered
//	first-req-ms    latency of that first download, after the initializer
//	warm-req-ms     latency of a second download (another ticket: a DMS call too)
//	first/echo      first-ms as a multiple of echo-first-ms
//	echo-cpu-ms     CPU time the echo function used until its first answer
//	first-cpu-ms    CPU time our function used until its first download answered
//
// Wall-clock times depend on how busy the machine is; CPU times much less.
//
// The front door, the runtime API and DMS are all loopback fakes, so these
// are the function's own costs, without FC's scheduling or network.
func BenchmarkColdStart(b *testing.B) {
	echo := echoBinary(b)
	var echoFirst, initDone, first, lazyFirst, firstReq, warmReq, echoCPU, firstCPU time.Duration
	for i := 0; i < b.N; i++ {
		s := startStack(b, stackOptions{binary: echo})
		_, r := s.send(b, http.MethodGet, "/", nil, nil)
		if r.StatusCode != http.StatusOK {
			b.Fatalf("echofn answered %d", r.StatusCode)
		}
		echoFirst += r.done.Sub(s.started)
		echoCPU += cpuTime(b, s.cmd.Process.Pid)
		s.stop()

		s = startStack(b, stackOptions{})
		s.initialize()
		initDone += time.Since(s.started)
		r1 := s.get(b, s.link(b, s.signer, orderReady, week()), nil)
		r2 := s.get(b, s.link(b, s.signer, orderReady2, week()), nil)
		if r1.StatusCode != http.StatusFound || r2.StatusCode != http.StatusFound {
			b.Fatalf("downloads answered %d and %d, want 302", r1.StatusCode, r2.StatusCode)
		}
		first += r1.done.Sub(s.started)
		firstCPU += cpuTime(b, s.cmd.Process.Pid)
		firstReq += r1.elapsed
		warmReq += r2.elapsed
		s.stop()

		s = startStack(b, stackOptions{})
		r = s.get(b, s.link(b, s.signer, orderReady, week()), nil)
		if r.StatusCode != http.StatusFound {
			b.Fatalf("download without initializer answered %d", r.StatusCode)
		}
		lazyFirst += r.done.Sub(s.started)
		s.stop()
	}
	b.ReportMetric(ms(echoFirst, b.N), "echo-first-ms")
	b.ReportMetric(ms(initDone, b.N), "init-ms")
	b.ReportMetric(ms(first, b.N), "first-ms")
	b.ReportMetric(ms(lazyFirst, b.N), "lazy-first-ms")
	b.ReportMetric(ms(firstReq, b.N), "first-req-ms")
	b.ReportMetric(ms(warmReq, b.N), "warm-req-ms")
	b.ReportMetric(float64(first)/float64(echoFirst), "first/echo")
	b.ReportMetric(ms(echoCPU, b.N), "echo-cpu-ms")
	b.ReportMetric(ms(firstCPU, b.N), "first-cpu-ms")
}

// cpuTime is the CPU time process pid has used so far: the sum over its
// threads of the first field of /proc/<pid>/task/<tid>/schedstat (ns).
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no schedstat for pid %d: %v", pid, err)
	}
	var total time.Duration
	for _, path := range tasks {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatalf("reading %s: %v", path, err)
		}
		var ns int64
		if _, err := fmt.Sscan(string(raw), &ns); err != nil {
			b.Fatalf("parsing %s: %v", path, err)
		}
		total += time.Duration(ns)
	}
	return total
}

// BenchmarkWarmInstance sends b.N requests to one initialized instance and
// reports their mean latency and the process's peak RSS (VmHWM) after them:
// downloads that each call DMS (b.N distinct tickets), against /healthz as
// the baseline measured in the same run. DMS_RATE_LIMIT is off, or the
// function's own limiter (20 calls/s by default) would set the pace.
func BenchmarkWarmInstance(b *testing.B) {
	for _, tc := range []struct {
		name     string
		download bool
	}{{"healthz", false}, {"download", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startStack(b, stackOptions{initialize: true, env: []string{"DMS_RATE_LIMIT=0"}})
			initRSS := vmHWM(b, s.cmd.Process.Pid)
			targets := make([]string, b.N)
			for i := range targets {
				targets[i] = "/healthz"
				if tc.download {
					order := int64(7_000_000 + i)
					s.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: order, State: dmsfake.StateReady, File: readyFile})
					targets[i] = s.link(b, s.signer, order, week())
				}
			}
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := s.get(b, targets[i], nil)
				if want := map[bool]int{false: http.StatusOK, true: http.StatusFound}[tc.download]; r.StatusCode != want {
					b.Fatalf("status %d, want %d", r.StatusCode, want)
				}
				total += r.elapsed
			}
			b.StopTimer()
			b.ReportMetric(ms(total, b.N), "req-ms")
			b.ReportMetric(initRSS, "VmHWM-init-MB")
			b.ReportMetric(vmHWM(b, s.cmd.Process.Pid), "VmHWM-MB")
		})
	}
}

// vmHWM is the peak resident set size of process pid, in MB.
func vmHWM(b *testing.B, pid int) float64 {
	b.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatalf("reading the function's status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		var kb float64
		if _, err := fmt.Sscanf(sc.Text(), "VmHWM: %g kB", &kb); err == nil {
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// BenchmarkCustomRuntimeBurst sends, in every iteration, a burst of 200
// concurrent clicks on one new link to one initialized custom-runtime
// instance (started as s.custom.yaml says), as a chat group's members
// clicking the same notification, and reports:
//
//	dms-calls/burst   DMS calls per burst (coalesced: 1 is the promise)
//	p50-ms, p99-ms    click latencies over all bursts
//	VmHWM-MB          the instance's peak RSS after all bursts
//
// The DMS emulator answers at once, so the latencies are the function's own.
func BenchmarkCustomRuntimeBurst(b *testing.B) {
	const clicks = 200
	s := startCustom(b, nil)
	if got := s.lifecycle(b, http.MethodPost, "/initialize", "init"); got != http.StatusNoContent {
		b.Fatalf("initializer answered %d", got)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		order := int64(8_000_000 + i)
		s.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: order, State: dmsfake.StateReady, File: readyFile})
		link := s.link(b, order)
		start := make(chan struct{})
		results := make([]*response, clicks)
		var wg sync.WaitGroup
		for j := range clicks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[j] = s.do(b, http.MethodGet, link, fcHeaders(fmt.Sprintf("burst-%d-%d", i, j), s.creds))
			}()
		}
		b.StartTimer()
		close(start)
		wg.Wait()
		for _, r := range results {
			if r == nil || r.StatusCode != http.StatusFound {
				b.Fatal("a click of the burst was not a 302")
			}
			lat = append(lat, r.elapsed)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(s.env.Gateway.Calls())/float64(b.N), "dms-calls/burst")
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
	b.ReportMetric(vmHWM(b, s.cmd.Process.Pid), "VmHWM-MB")
}
