// Command function is dms-export-link: under Function Compute's go1 runtime
// (FC_RUNTIME_API set) it serves HTTP-trigger events through fc.Start; with
// -fc-custom-runtime it is an FC custom runtime's HTTP server; elsewhere it
// is a local HTTP server, and with -demo it brings its own DMS emulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/dms-export-link/dms-export-link/internal/config"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/fcadapter"
	"github.com/dms-export-link/dms-export-link/internal/httpapi"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/notify"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// maxEventBody bounds a request body carried in an FC event.
const maxEventBody = 1 << 20

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dms-export-link:", err)
		os.Exit(1)
	}
}

// run is the whole program, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dms-export-link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address of the local HTTP server")
	demo := fs.Bool("demo", false, "start an in-process DMS emulator and fake OSS with sample tickets")
	redisURL := fs.String("redis", "", "shared state on this Redis server (redis://host:port/db); the same as REDIS_URL")
	custom := fs.Bool("fc-custom-runtime", false, "serve as an FC custom runtime (s.custom.yaml): trust FC's x-fc-* request headers, answer its lifecycle calls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *custom && *demo {
		return errors.New("-fc-custom-runtime and -demo cannot be combined: the demo's clients are not FC")
	}
	if *redisURL != "" {
		base := getenv
		getenv = func(k string) string {
			if k == "REDIS_URL" {
				return *redisURL
			}
			return base(k)
		}
	}

	var d *demoEnv
	var l net.Listener
	if *demo {
		// The demo's links carry its own address, so it listens first.
		var err error
		if l, err = net.Listen("tcp", *addr); err != nil {
			return fmt.Errorf("listen on -addr %s: %w", *addr, err)
		}
		defer l.Close()
		if d, err = startDemo(getenv, stdout, "http://"+l.Addr().String()); err != nil {
			return err
		}
		defer d.Close()
		getenv = d.getenv
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	shared, err := newSharedState(cfg, logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	defer shared.close()
	// Under FC (go1 or custom runtime) a burst starts more instances; a local
	// server is the only instance there is.
	underFC := getenv("FC_RUNTIME_API") != "" || *custom
	build, err := newHandler(cfg, getenv, logger, shared, underFC)
	if err != nil {
		return err
	}

	if getenv("FC_RUNTIME_API") != "" && !*custom {
		// The runtime polls for work at once while the handler is built;
		// FC's initializer (s.yaml instanceLifecycleConfig) waits for the
		// build, before the instance's first request and outside its
		// timeout. SIGTERM keeps its default, ending the process: fc.Start
		// never returns, so there is nothing to drain.
		f := &fcFunction{build: build, log: logger}
		f.start()
		fc.RegisterInitializerFunction(f.initialize)
		fc.Start(f.invoke)
		return nil // fc.Start never returns
	}

	// The servers below drain their requests on SIGTERM or an interrupt.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *custom {
		f := &fcFunction{build: build, log: logger}
		f.start()
		return serveCustomRuntime(ctx, *addr, f, logger)
	}

	handler, err := build()
	if err != nil {
		return err
	}
	if l == nil {
		if l, err = net.Listen("tcp", *addr); err != nil {
			return fmt.Errorf("listen on -addr %s: %w", *addr, err)
		}
	}
	if d != nil {
		d.printGuide(stdout, "http://"+l.Addr().String())
	}
	logger.Info("listening", "addr", l.Addr().String(), "demo", *demo, "state", shared.label)
	return serve(ctx, l, handler)
}

// newHandler wires configuration into the HTTP handler. Configuration errors
// are returned at once; build does the one-time work (loading and validating
// openapi.yaml, building the router, warming the SDK) and returns the handler.
func newHandler(cfg config.Config, getenv func(string) string, logger *slog.Logger, shared sharedState, underFC bool) (build func() (http.Handler, error), err error) {
	client, err := dms.New(dms.Options{
		Region:       cfg.DMSRegion,
		Endpoint:     cfg.DMSEndpoint,
		EndpointType: cfg.DMSEndpointType,
		Scheme:       cfg.DMSScheme,
		Timeout:      cfg.DMSTimeout,
		Getenv:       getenv,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	resolver := exports.New(client, exports.Options{
		AllowedHosts:      cfg.AllowedDownloadHosts,
		AllowHTTPLoopback: cfg.AllowHTTPLoopback,
		CacheSize:         cfg.URLCacheSize,
		ExpiryMargin:      cfg.URLCacheMargin,
		FallbackTTL:       cfg.URLCacheFallbackTTL,
		NotReadyTTL:       cfg.NotReadyTTL,
		MaxAttempts:       cfg.DMSMaxAttempts,
		RetryBase:         cfg.DMSRetryBase,
		RetryMax:          cfg.DMSRetryMax,
		CallTimeout:       cfg.DMSTimeout,
		RateLimit:         cfg.DMSRateLimit,
		RateBurst:         cfg.DMSRateBurst,
		ErrorTTL:          cfg.ErrorTTL,
		Shares: map[exports.Class]int{
			exports.ClassClick:   cfg.DMSRateShares.Click,
			exports.ClassWebhook: cfg.DMSRateShares.Webhook,
			exports.ClassCommand: cfg.DMSRateShares.Command,
		},
		Store:  shared.cache,
		Sealer: shared.sealer,
	})
	announcer := newAnnouncer(cfg, logger)
	announcer.Store = shared.announce
	deps := httpapi.Deps{
		Resolver:           resolver,
		Signer:             &links.Signer{Keys: cfg.LinkKeys, MaxTTL: cfg.LinkMaxTTL},
		APITokens:          cfg.APITokens,
		DefaultTid:         cfg.DMSTid,
		Region:             cfg.DMSRegion,
		PublicBaseURL:      cfg.PublicBaseURL,
		LinkTTL:            cfg.LinkTTL,
		NotReadyRetry:      cfg.NotReadyTTL,
		Logger:             logger,
		Announcer:          announcer,
		StateLabel:         shared.label,
		WebhookToken:       cfg.DMSWebhookToken,
		DingTalkAppSecret:  cfg.DingTalkAppSecret,
		SlackSigningSecret: cfg.SlackSigningSecret,
		DingTalkWindow:     cfg.DingTalkWindow,
		DingTalkAllowed:    notify.NewAllowlist(cfg.DingTalkAllowed),
		SlackAllowed:       notify.NewAllowlist(cfg.SlackAllowed),
		CommandRate:        cfg.CommandRateLimit,
		WebhookMaxAge:      cfg.WebhookMaxAge,
		AnnounceRate:       cfg.AnnounceRate,
		State:              shared.handler,
		// Revocations must reach every instance: Redis, or a local server.
		StateShared: cfg.RedisURL != "" || !underFC,
	}
	return func() (http.Handler, error) {
		if underFC {
			// Beside the rest of the build, whose work hides the
			// handshake's round trips: a new instance's first click does
			// not wait for them.
			preconnect(client, cfg.DMSTimeout, logger)
		}
		if err := client.Prime(); err != nil {
			return nil, err
		}
		shared.connect()
		return httpapi.New(deps)
	}, nil
}

// preconnect starts opening the connection to DMS the first call will use,
// and says so if it cannot: the call then dials as usual.
func preconnect(c *dms.Client, timeout time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	done := c.Preconnect(ctx)
	go func() {
		defer cancel()
		if err := <-done; err != nil {
			logger.Warn("could not connect to DMS ahead of the first call", "err", err.Error())
		}
	}()
}

// fcFunction is the function under FC: the handler is built once, from
// start, or else by whichever of the initializer and the first request
// comes first.
type fcFunction struct {
	build  func() (http.Handler, error)
	log    *slog.Logger
	once   sync.Once
	h      http.Handler // the built handler
	handle func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error)
	err    error

	answered  sync.Once
	gcPaused  bool // by start, until the first answer
	gcPercent int  // what start found, to restore
}

// start begins building the handler in the background, so that the build
// overlaps FC's first round trips with the instance (the runtime API's first
// poll, or the custom runtime's port check and initializer call), and holds
// garbage collection back until the first request has been answered.
//
// A cold start allocates several times the heap it keeps (package init,
// reading the contract, the first DMS call); collecting it would cost the
// first request about a millisecond and a half (docs/performance.md). Left
// to after the first answer, one collection frees it all, while the
// instance waits for its next request. The heap grows by a few MB until
// then; GOMEMLIMIT, if set, still applies.
func (f *fcFunction) start() {
	f.gcPercent = debug.SetGCPercent(-1)
	f.gcPaused = true
	go func() { _ = f.ready() }()
}

// gcResumeDelay is how long after the first answer collection resumes. The
// answer is still on its way when the handler returns (the SDK posts it to
// the runtime API, net/http flushes it), and a collection started then
// slowed it by 0.6 ms; sending it takes well under a millisecond.
const gcResumeDelay = 10 * time.Millisecond

// firstAnswered resumes garbage collection shortly after the first answer.
func (f *fcFunction) firstAnswered() {
	f.answered.Do(func() {
		if f.gcPaused {
			time.AfterFunc(gcResumeDelay, func() { debug.SetGCPercent(f.gcPercent) })
		}
	})
}

// ready builds the handler the first time it is called; later calls wait
// for that build and return its error.
func (f *fcFunction) ready() error {
	f.once.Do(func() {
		start := time.Now()
		// The build may run in start's goroutine, where a panic would end
		// the process; it fails the initializer instead, as it did when the
		// initializer itself built the handler.
		defer func() {
			if p := recover(); p != nil {
				f.err = fmt.Errorf("building the handler: %v", p)
				f.log.Error("initialization failed", "err", f.err.Error())
			}
		}()
		h, err := f.build()
		if err != nil {
			f.log.Error("initialization failed", "err", err.Error())
			f.err = err
			return
		}
		f.h = h
		f.handle = fcadapter.Handler(h, maxEventBody)
		f.log.Info("initialized", "ms", float64(time.Since(start).Microseconds())/1000)
	})
	return f.err
}

// initialize is the FC initializer. Lifecycle hooks return nothing; a panic
// is how the SDK itself reports a failed hook (posted to /error), so FC fails
// the instance instead of sending it requests.
func (f *fcFunction) initialize(context.Context) {
	if err := f.ready(); err != nil {
		panic(err)
	}
}

// invoke serves one HTTP-trigger event. If building the handler failed, the
// invocation fails as an unhandled error, as the initializer did.
func (f *fcFunction) invoke(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	defer f.firstAnswered()
	if err := f.ready(); err != nil {
		return nil, err
	}
	return f.handle(ctx, ev)
}

// robotTimeout bounds one send to a chat robot; the Announcer retries twice
// more, all within the invocation's deadline.
const robotTimeout = 5 * time.Second

// newAnnouncer builds a robot for every configured robot URL.
func newAnnouncer(cfg config.Config, logger *slog.Logger) *notify.Announcer {
	hc := &http.Client{
		Timeout: robotTimeout,
		// A robot URL carries its credential; never follow it elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var robots []notify.Robot
	if cfg.DingTalkRobotURL != "" {
		robots = append(robots, notify.NewDingTalk(cfg.DingTalkRobotURL, cfg.DingTalkRobotSecret, hc, nil))
	}
	if cfg.LarkRobotURL != "" {
		robots = append(robots, notify.NewLark(cfg.LarkRobotURL, cfg.LarkRobotSecret, hc, nil))
	}
	if cfg.WeComRobotURL != "" {
		robots = append(robots, notify.NewWeCom(cfg.WeComRobotURL, hc))
	}
	if cfg.SlackWebhookURL != "" {
		robots = append(robots, notify.NewSlack(cfg.SlackWebhookURL, hc))
	}
	names := make([]string, len(robots))
	for i, r := range robots {
		names[i] = r.Name()
	}
	logger.Info("notifications", "robots", names, "dmsWebhook", cfg.DMSWebhookToken != "",
		"dingtalkCommand", cfg.DingTalkAppSecret != "", "slackCommand", cfg.SlackSigningSecret != "")
	return &notify.Announcer{Robots: robots, Window: cfg.AnnounceWindow, Capacity: cfg.AnnounceDedupe, Logger: logger}
}

// sharedState is what the instances share, for each user: nil Stores mean
// each user's own memory (no REDIS_URL).
type sharedState struct {
	label    string          // state.LabelRedis or state.LabelMemory, logged per request
	cache    state.Store     // exports: answers, leases, DMS budgets
	announce state.Store     // the Announcer's marks
	handler  state.Store     // httpapi: replay memory, command and announcement budgets, revocations
	sealer   *exports.Sealer // seals answers bound for Redis
	connect  func()          // opens a first connection, so no click pays for dialing
	close    func()
}

// newSharedState connects to REDIS_URL when set. Each user falls back to its
// own Memory, sized as without Redis, when Redis fails at run time; a server
// that is down at start-up is such a failure, not a start-up error.
func newSharedState(cfg config.Config, logger *slog.Logger) (sharedState, error) {
	if cfg.RedisURL == "" {
		return sharedState{label: state.LabelMemory, connect: func() {}, close: func() {}}, nil
	}
	r, err := state.NewRedis(state.RedisOptions{URL: cfg.RedisURL, Prefix: cfg.RedisKeyPrefix, Timeout: cfg.RedisTimeout})
	if err != nil {
		return sharedState{}, err
	}
	keys := make([]exports.SealKey, len(cfg.LinkKeys))
	for i, k := range cfg.LinkKeys {
		keys[i] = exports.SealKey{ID: k.ID, Secret: k.Secret}
	}
	sealer, err := exports.NewSealer(keys)
	if err != nil {
		_ = r.Close()
		return sharedState{}, fmt.Errorf("LINK_KEYS: %w", err)
	}
	cache := state.NewFallback(r, state.NewMemory(cfg.URLCacheSize, nil), logger)
	return sharedState{
		label:    state.LabelRedis,
		cache:    cache,
		announce: cache.WithBackup(state.NewMemory(cfg.AnnounceDedupe, nil)),
		handler:  cache.WithBackup(state.NewMemory(0, nil)),
		sealer:   sealer,
		connect: func() {
			// Under go1 the initializer runs this before the first request;
			// a failure here is logged and the requests degrade as usual.
			if err := r.Ping(context.Background()); err != nil {
				logger.Warn("Redis did not answer at start-up; the first requests use this instance's memory", "err", err.Error())
			}
		},
		close: func() { _ = r.Close() },
	}, nil
}

// localShutdownGrace bounds how long the local server waits for requests in
// flight once asked to stop.
const localShutdownGrace = 10 * time.Second

// serve runs the local HTTP server until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	return serveUntil(ctx, l, h, localShutdownGrace)
}

// serveUntil runs an HTTP server on l until ctx ends, then stops accepting
// and waits up to grace for the requests in flight.
func serveUntil(ctx context.Context, l net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
