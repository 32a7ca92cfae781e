package fcfake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is the FC 3.0 runtime a Pool runs its function in.
type Kind int

const (
	// Go1 is the standard runtime: the program polls its own runtime API (FC_RUNTIME_API)
	// through fc-runtime-go-sdk, and an instance serves one request at a time, because FC 3.0
	// standard runtimes have no instance concurrency.
	Go1 Kind = iota
	// Custom is the custom runtime: the program is an HTTP server listening on
	// 0.0.0.0:<port>, serving up to InstanceConcurrency requests at a time, each forwarded
	// as is with FC's x-fc-* context headers added.
	Custom
)

// Errors a Pool returns or answers with.
var (
	// ErrThrottled means every instance was busy and the pool was at MaxInstances, with
	// Throttle set: FC answers 429 then.
	ErrThrottled = errors.New("fcfake: instance limit reached")
	// ErrInstanceStart means a new instance did not start (or its initializer failed).
	ErrInstanceStart = errors.New("fcfake: instance did not start")
)

// startTimeout bounds a custom-runtime instance's wait for its port, as FC bounds a cold start.
const startTimeout = 30 * time.Second

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Options apply to every instance: timeout, credentials and function metadata.
	Options
	Kind Kind
	// Command is the program and its arguments, one process per instance. With Custom, each
	// "{port}" in an argument becomes the instance's port: on FC every instance listens on
	// the template's port in a network of its own; here they share one host.
	Command []string
	// Env is the function's environment. The pool adds FC_INSTANCE_ID, and FC_RUNTIME_API
	// (Go1) or FC_CUSTOM_LISTEN_PORT (Custom).
	Env []string
	// MaxInstances is the function's instance limit (FC's default account limit is 100 per
	// region); default 1.
	MaxInstances int
	// Provisioned instances are started, and initialized, by StartPool, as FC's provisioned
	// instances are before any request.
	Provisioned int
	// InstanceConcurrency is how many requests a Custom instance serves at once (FC allows
	// 1-200); default 1. Go1 instances always serve one.
	InstanceConcurrency int
	// Initializer runs the function's initializer on every new instance before its first
	// request: a Go1 invocation of type 1, a Custom POST /initialize.
	Initializer bool
	// PreStop calls a Custom instance's GET /pre-stop before it is stopped, as FC does when
	// the function declares a preStop hook.
	PreStop bool
	// Throttle answers a request that finds every instance busy at MaxInstances with FC's
	// 429 ResourceExhausted, as FC does ("Limits and rules of instance scaling"). Without
	// it such a request waits for a free instance, which is what a client retrying its 429
	// would see, minus the retries.
	Throttle bool
	// LogDir receives each instance's stdout and stderr as instance-<n>.log; required.
	LogDir string
}

// Pool runs a function as FC 3.0 scales it: a front door spreads HTTP requests over
// instances, each its own process; a request that finds every instance busy starts a new
// one (initializer first) up to MaxInstances. It records what it did for Stats.
type Pool struct {
	opts     PoolOptions
	log      *slog.Logger
	front    *http.Server
	frontURL string
	client   *http.Client // to Custom instances
	serving  sync.WaitGroup
	starting sync.WaitGroup // goroutines starting instances
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	mu        sync.Mutex
	closed    bool
	instances []*instance
	freed     chan struct{} // closed and replaced whenever a slot frees
	latencies []time.Duration
	throttled int
	closeOnce sync.Once
	closeErr  error
}

// instance is one process of the function.
type instance struct {
	id      int
	logPath string
	ready   chan struct{} // closed when the instance can serve, or failed to start (err set)
	err     error

	// Set by the goroutine starting the instance, before ready closes.
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	rt     *Runtime      // Go1
	base   string        // Custom: "http://127.0.0.1:port"
	port   int

	// Guarded by Pool.mu.
	pid            int
	active, served int
	failed         bool
}

// InstanceStats describe one instance a Pool started.
type InstanceStats struct {
	ID       int
	Requests int    // requests it answered
	Active   int    // requests it holds now, waiting for it to start included
	LogPath  string // its stdout and stderr
	Failed   bool   // it did not start
	Pid      int    // its process, 0 before it started
}

// Stats is what a Pool did so far.
type Stats struct {
	Instances []InstanceStats // in the order they were started
	// Latencies of the requests the front door answered, from arrival to the end of the
	// answer, in the order they finished; throttled requests included.
	Latencies []time.Duration
	Throttled int
}

// StartPool starts the front door and the provisioned instances.
func StartPool(opts PoolOptions) (*Pool, error) {
	opts.Options = opts.Options.withDefaults()
	if len(opts.Command) == 0 || opts.LogDir == "" {
		return nil, errors.New("fcfake: PoolOptions need Command and LogDir")
	}
	opts.MaxInstances = max(opts.MaxInstances, 1, opts.Provisioned)
	if opts.Kind == Go1 || opts.InstanceConcurrency < 1 {
		opts.InstanceConcurrency = 1
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fcfake: front door listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		opts: opts, log: logger, frontURL: "http://" + ln.Addr().String(),
		client: &http.Client{
			Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ctx: ctx, cancel: cancel, done: make(chan struct{}), freed: make(chan struct{}),
	}
	var h http.Handler = http.HandlerFunc(p.serveCustom)
	if opts.Kind == Go1 {
		h = &trigger{accountID: opts.AccountID, timeout: opts.Timeout, now: time.Now, log: logger, invoke: p.invokeGo1}
	}
	// No ReadHeaderTimeout: on a loaded machine a burst's clients can take longer than any
	// fixed bound to send their headers, and a loopback test server needs no protection.
	p.front = &http.Server{Handler: p.measure(h)}
	p.serving.Go(func() {
		if err := p.front.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("fcfake: pool front door stopped", "err", err)
		}
	})

	provisioned := make([]*instance, opts.Provisioned)
	p.mu.Lock()
	for i := range provisioned {
		provisioned[i] = p.launch() // reserved until ready, then released below
	}
	p.mu.Unlock()
	for _, in := range provisioned {
		<-in.ready
		p.release(in, false)
		if in.err != nil {
			return nil, errors.Join(in.err, p.Close())
		}
	}
	return p, nil
}

// FrontURL is the base URL ("http://127.0.0.1:port") of the HTTP-trigger front door.
func (p *Pool) FrontURL() string { return p.frontURL }

// Stats reports the instances started so far and the latencies of answered requests.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Latencies: slices.Clone(p.latencies), Throttled: p.throttled}
	for _, in := range p.instances {
		s.Instances = append(s.Instances, InstanceStats{ID: in.id, Requests: in.served, Active: in.active, LogPath: in.logPath, Failed: in.failed, Pid: in.pid})
	}
	return s
}

// measure records the latency of every request h answers.
func (p *Pool) measure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, req)
		elapsed := time.Since(start)
		p.mu.Lock()
		p.latencies = append(p.latencies, elapsed)
		p.mu.Unlock()
	})
}

// acquire takes a slot on an instance for one request: a free slot on an existing (or
// starting) instance, else a new instance while under MaxInstances, else it throttles or
// waits for a slot. It returns once the instance is ready.
func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if in := p.freeSlot(); in != nil {
			in.active++
			p.mu.Unlock()
			return p.await(ctx, in)
		}
		if p.live() < p.opts.MaxInstances {
			in := p.launch()
			p.mu.Unlock()
			return p.await(ctx, in)
		}
		if p.opts.Throttle {
			p.throttled++
			p.mu.Unlock()
			return nil, ErrThrottled
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			return nil, ErrClosed
		}
	}
}

// freeSlot is the instance with a free slot that has served fewest requests, so that load
// spreads over idle instances (FC does not document which idle instance it picks). p.mu is held.
func (p *Pool) freeSlot() *instance {
	var best *instance
	for _, in := range p.instances {
		if in.failed || in.active >= p.opts.InstanceConcurrency {
			continue
		}
		if best == nil || in.served < best.served {
			best = in
		}
	}
	return best
}

// live counts the instances running or starting. p.mu is held.
func (p *Pool) live() int {
	n := 0
	for _, in := range p.instances {
		if !in.failed {
			n++
		}
	}
	return n
}

// launch adds an instance with one slot taken by the caller and starts it in the
// background, so that a caller giving up does not abandon a half-started process. p.mu is held.
func (p *Pool) launch() *instance {
	in := &instance{
		id:      len(p.instances) + 1,
		ready:   make(chan struct{}),
		active:  1,
		logPath: filepath.Join(p.opts.LogDir, fmt.Sprintf("instance-%d.log", len(p.instances)+1)),
	}
	p.instances = append(p.instances, in)
	p.starting.Go(func() {
		err := p.start(in)
		if err != nil {
			err = fmt.Errorf("%w: instance %d: %w", ErrInstanceStart, in.id, err)
			p.log.Warn("fcfake: instance did not start", "instance", in.id, "err", err)
			p.stop(in)
			p.mu.Lock()
			in.failed = true
			p.mu.Unlock()
		}
		in.err = err
		close(in.ready)
	})
	return in
}

// await waits for in to be ready; on failure or when ctx ends first it gives the slot back.
func (p *Pool) await(ctx context.Context, in *instance) (*instance, error) {
	select {
	case <-in.ready:
		if in.err != nil {
			p.release(in, false)
			return nil, in.err
		}
		return in, nil
	case <-ctx.Done():
		p.release(in, false)
		return nil, ctx.Err()
	case <-p.done:
		return nil, ErrClosed
	}
}

// release gives back a slot taken by acquire; served says the request was answered.
func (p *Pool) release(in *instance, served bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in.active--
	if served {
		in.served++
	}
	close(p.freed)
	p.freed = make(chan struct{})
}

// invokeGo1 runs one HTTP trigger event on a Go1 instance.
func (p *Pool) invokeGo1(ctx context.Context, payload []byte, id string) (Result, error) {
	in, err := p.acquire(ctx)
	if err != nil {
		return Result{RequestID: id}, err
	}
	// A client that goes away does not end the invocation: the instance stays busy until
	// the function answers or times out, as on FC.
	res, err := in.rt.invoke(context.WithoutCancel(ctx), payload, funcTypeInvoke, id)
	p.release(in, err == nil)
	return res, err
}

// start runs one instance's process and, if configured, its initializer.
func (p *Pool) start(in *instance) error {
	logFile, err := os.Create(in.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	env := append(slices.Clone(p.opts.Env), "FC_INSTANCE_ID="+strconv.Itoa(in.id))
	args := slices.Clone(p.opts.Command)

	if p.opts.Kind == Go1 {
		if in.rt, err = Start(p.opts.Options); err != nil {
			return err
		}
		env = append(env, "FC_RUNTIME_API="+in.rt.APIAddr())
	} else {
		if in.port, err = freePort(); err != nil {
			return err
		}
		in.base = "http://127.0.0.1:" + strconv.Itoa(in.port)
		env = append(env, "FC_CUSTOM_LISTEN_PORT="+strconv.Itoa(in.port))
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "{port}", strconv.Itoa(in.port))
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	p.mu.Lock()
	in.pid = cmd.Process.Pid
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(in.exited)
	}()

	ctx, cancel := context.WithTimeout(p.ctx, startTimeout)
	defer cancel()
	if p.opts.Kind == Custom {
		if err := p.waitListening(ctx, in); err != nil {
			return err
		}
	}
	if !p.opts.Initializer {
		return nil
	}
	if p.opts.Kind == Go1 {
		return in.rt.Initialize(ctx)
	}
	return p.initializeCustom(ctx, in)
}

// stop ends an instance's process and its runtime API. Go1 processes are killed: the SDK
// has no shutdown, and it spins once its runtime API is gone. Custom ones get SIGTERM and
// a grace period first, as FC gives them.
func (p *Pool) stop(in *instance) {
	if in.cmd != nil {
		if p.opts.Kind == Custom {
			if p.opts.PreStop {
				p.preStopCustom(in)
			}
			_ = in.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-in.exited:
			case <-time.After(3 * time.Second):
			}
		}
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
	if in.rt != nil {
		_ = in.rt.Close()
	}
}

// Close stops every instance and the front door. Requests still waiting fail with ErrClosed;
// every goroutine of the pool has returned when Close does.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.done)
		p.mu.Unlock()
		p.cancel()
		p.starting.Wait()
		var wg sync.WaitGroup
		for _, in := range p.instances {
			if !in.failed {
				wg.Go(func() { p.stop(in) })
			}
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.closeErr = shutdown(ctx, p.front)
		p.serving.Wait()
		p.client.CloseIdleConnections()
	})
	return p.closeErr
}
