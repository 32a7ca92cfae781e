// Command function is dms-export-link: under Function Compute (FC_RUNTIME_API
// set) it serves HTTP-trigger events through fc.Start; elsewhere it is a
// local HTTP server, and with -demo it brings its own DMS emulator.
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
	"syscall"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"

	"github.com/dms-export-link/dms-export-link/internal/config"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/fcadapter"
	"github.com/dms-export-link/dms-export-link/internal/httpapi"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// maxEventBody bounds a request body carried in an FC event.
const maxEventBody = 1 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
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
	if err := fs.Parse(args); err != nil {
		return err
	}

	var d *demoEnv
	if *demo {
		var err error
		if d, err = startDemo(getenv, stdout); err != nil {
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
	handler, err := newHandler(cfg, getenv, logger)
	if err != nil {
		return err
	}

	if getenv("FC_RUNTIME_API") != "" {
		// One-time work already happened above; the initializer only makes
		// FC count it as initialisation rather than the first request's time.
		fc.RegisterInitializerFunction(func(context.Context) { dms.Warm() })
		fc.Start(fcadapter.Handler(handler, maxEventBody))
		return nil // fc.Start never returns
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on -addr %s: %w", *addr, err)
	}
	if d != nil {
		d.printGuide(stdout, "http://"+l.Addr().String())
	}
	logger.Info("listening", "addr", l.Addr().String(), "demo", *demo)
	return serve(ctx, l, handler)
}

// newHandler wires configuration into the HTTP handler.
func newHandler(cfg config.Config, getenv func(string) string, logger *slog.Logger) (http.Handler, error) {
	dms.Warm()
	client, err := dms.New(dms.Options{
		Region:   cfg.DMSRegion,
		Endpoint: cfg.DMSEndpoint,
		Scheme:   cfg.DMSScheme,
		Timeout:  cfg.DMSTimeout,
		Getenv:   getenv,
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
	})
	return httpapi.New(httpapi.Deps{
		Resolver:           resolver,
		Signer:             &links.Signer{Keys: cfg.LinkKeys, MaxTTL: cfg.LinkMaxTTL},
		APITokens:          cfg.APITokens,
		DefaultTid:         cfg.DMSTid,
		Region:             cfg.DMSRegion,
		PublicBaseURL:      cfg.PublicBaseURL,
		LinkTTL:            cfg.LinkTTL,
		NotReadyRetry:      cfg.NotReadyTTL,
		Logger:             logger,
		Announcer:          newAnnouncer(cfg, logger),
		WebhookToken:       cfg.DMSWebhookToken,
		DingTalkAppSecret:  cfg.DingTalkAppSecret,
		SlackSigningSecret: cfg.SlackSigningSecret,
	})
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
	return &notify.Announcer{Robots: robots, Window: cfg.AnnounceWindow, Logger: logger}
}

// serve runs the local HTTP server until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
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
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
