// Package config turns the function's environment into a typed Config.
//
// Every variable is described once, in the table returned by Variables, and
// Load reads exactly those variables. Load reports every bad value at once,
// one line per problem, each naming its variable; secret values never appear
// in an error.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// Config is the validated configuration. Zero-valued optional strings mean
// "feature off".
type Config struct {
	DMSTid          int64         // DMS_TID: tenant used when a link has none; 0 = DMS's default for the role
	DMSRegion       string        // DMS_REGION, else FC_REGION, else "cn-hangzhou"
	DMSEndpoint     string        // DMS_ENDPOINT: host[:port] override; "" = the regional endpoint of DMSRegion
	DMSEndpointType string        // DMS_ENDPOINT_TYPE: "public" or "vpc" regional endpoint
	DMSScheme       string        // DMS_SCHEME: "https" (default) or "http"
	DMSTimeout      time.Duration // DMS_TIMEOUT: bound of one DMS call

	LinkKeys   []links.Key   // LINK_KEYS: first signs, all verify; empty = downloads refused
	LinkTTL    time.Duration // LINK_TTL: lifetime of minted links
	LinkMaxTTL time.Duration // LINK_MAX_TTL: longest lifetime accepted; >= LinkTTL

	APITokens [][]byte // API_TOKENS: bearer tokens for the JSON API; empty = those operations refused

	PublicBaseURL *url.URL // PUBLIC_BASE_URL: absolute http(s) base of minted links; nil = links are not minted

	AllowedDownloadHosts []string // ALLOWED_DOWNLOAD_HOSTS: exact hosts or "*.suffix" patterns, lower-case
	AllowHTTPLoopback    bool     // ALLOW_HTTP_LOOPBACK_DOWNLOADS: plain http to loopback hosts (demo and tests only)

	URLCacheSize        int           // URL_CACHE_SIZE: cached tickets per instance
	URLCacheMargin      time.Duration // URL_CACHE_MARGIN: drop a cached OSS URL this long before it expires
	URLCacheFallbackTTL time.Duration // URL_CACHE_FALLBACK_TTL: cache life when the OSS URL's expiry is unreadable
	NotReadyTTL         time.Duration // NOT_READY_CACHE_TTL: reuse of a "not ready yet" answer
	ErrorTTL            time.Duration // ERROR_CACHE_TTL: reuse of DMS's "unknown ticket", "export failed", "forbidden"

	DMSMaxAttempts int           // DMS_MAX_ATTEMPTS: tries per resolve, 1..10
	DMSRetryBase   time.Duration // DMS_RETRY_BASE: first backoff bound
	DMSRetryMax    time.Duration // DMS_RETRY_MAX: largest backoff bound; >= DMSRetryBase
	DMSRateLimit   float64       // DMS_RATE_LIMIT: DMS calls per second per instance; 0 = unlimited
	DMSRateBurst   int           // DMS_RATE_BURST: limiter burst
	DMSRateShares  RateShares    // DMS_RATE_SHARES: how the DMS budget is split between callers

	DMSWebhookToken string        // DMS_WEBHOOK_TOKEN: shared token of the DMS message hook; "" = hook refused
	AnnounceWindow  time.Duration // ANNOUNCE_WINDOW: a ticket is announced at most once per window
	WebhookMaxAge   time.Duration // WEBHOOK_MAX_EVENT_AGE: older DMS events announce nothing
	AnnounceRate    int           // ANNOUNCE_RATE_LIMIT: announcements per minute, all instances together; 0 = unlimited
	AnnounceDedupe  int           // ANNOUNCE_DEDUPE_CAPACITY: tickets remembered per instance for announce-once

	RedisURL       string        // REDIS_URL (secret: may hold a password); "" = state in each instance's memory
	RedisKeyPrefix string        // REDIS_KEY_PREFIX: put in front of every Redis key
	RedisTimeout   time.Duration // REDIS_TIMEOUT: bound of one Redis operation

	DingTalkRobotURL    string // DINGTALK_ROBOT_URL (secret: holds the access token)
	DingTalkRobotSecret string // DINGTALK_ROBOT_SECRET: "SEC..." signing secret
	LarkRobotURL        string // LARK_ROBOT_URL (secret: the hook id is the credential)
	LarkRobotSecret     string // LARK_ROBOT_SECRET: signing secret
	WeComRobotURL       string // WECOM_ROBOT_URL (secret: holds the key)
	SlackWebhookURL     string // SLACK_WEBHOOK_URL (secret: the path is the credential)

	DingTalkAppSecret  string // DINGTALK_APP_SECRET: verifies the DingTalk outgoing robot
	SlackSigningSecret string // SLACK_SIGNING_SECRET: verifies Slack slash commands

	DingTalkWindow   time.Duration // DINGTALK_SIGNATURE_WINDOW: how old a DingTalk command's timestamp may be
	DingTalkAllowed  []string      // DINGTALK_ALLOWED_CONVERSATIONS: "*", "cid", "corpId:cid", "corpId:*"; empty = commands refused
	SlackAllowed     []string      // SLACK_ALLOWED_CHANNELS: "*", "TEAM:CHANNEL", "TEAM:*"; empty = commands refused
	CommandRateLimit int           // COMMAND_RATE_LIMIT: chat commands per minute per asker; 0 = unlimited

	LogLevel slog.Level // LOG_LEVEL: debug, info, warn or error
}

// Variable describes one environment variable, for documentation.
type Variable struct {
	Name        string
	Default     string // as written in the environment; "" = unset
	Description string
	Secret      bool // its value must never be shown
}

// field is one variable with its parser. parse gets the value, or the
// default when the variable is unset or blank; it writes into ld.c. When
// derived is set, Default only describes a fallback that parse computes, and
// parse gets "" for an unset variable.
type field struct {
	Variable
	parse   func(ld *loader, v string) error
	derived bool
}

type loader struct {
	c      *Config
	getenv func(string) string
	// raw robot URLs, checked after ALLOW_HTTP_LOOPBACK_DOWNLOADS is known
	robots []robotURL
}

type robotURL struct {
	name string
	dst  *string
	v    string
}

// Limits shared by the table and the tests.
const (
	minTokenLen = 16
	maxDuration = 100 * 365 * 24 * time.Hour
)

func fields() []field {
	return []field{
		{Variable: Variable{"DMS_TID", "", "DMS tenant id used when a link carries none; unset = DMS's default tenant for the function's role", false},
			parse: func(ld *loader, v string) error {
				if v == "" {
					return nil
				}
				n, err := parsePositiveInt(v)
				ld.c.DMSTid = n
				return err
			}},
		{Variable: Variable{"DMS_REGION", "FC_REGION, else cn-hangzhou", "RegionId sent to DMS", false}, derived: true,
			parse: func(ld *loader, v string) error {
				if v == "" {
					v = strings.TrimSpace(ld.getenv("FC_REGION"))
				}
				if v == "" {
					v = "cn-hangzhou"
				}
				if !validRegion(v) {
					return fmt.Errorf("%q is not a region id (letters, digits, '-' and '_')", v)
				}
				ld.c.DMSRegion = v
				return nil
			}},
		{Variable: Variable{"DMS_ENDPOINT", "", "host[:port] of the DMS API, overriding the regional endpoint (the central dms-enterprise.aliyuncs.com, tests)", false},
			parse: func(ld *loader, v string) error {
				if v == "" {
					return nil
				}
				if err := checkHostPort(v); err != nil {
					return err
				}
				ld.c.DMSEndpoint = strings.ToLower(v)
				return nil
			}},
		choiceField("DMS_ENDPOINT_TYPE", "which regional endpoint of DMS_REGION to call: public (dms-enterprise.<region>.aliyuncs.com) or vpc (dms-enterprise-vpc.<region>.aliyuncs.com)",
			[]string{"public", "vpc"}, func(c *Config) *string { return &c.DMSEndpointType }),
		choiceField("DMS_SCHEME", "scheme of DMS API calls: https, or http for tests against an emulator",
			[]string{"https", "http"}, func(c *Config) *string { return &c.DMSScheme }),
		durationField("DMS_TIMEOUT", "10s", "upper bound of one DMS call, including retries", time.Second, time.Hour, func(c *Config) *time.Duration { return &c.DMSTimeout }),
		{Variable: Variable{"LINK_KEYS", "", "signing keys of download links, kid:base64secret,... (first signs, all verify; secrets of at least 32 bytes); unset = download links refused", true},
			parse: func(ld *loader, v string) error {
				keys, err := links.ParseKeys(v)
				if err != nil {
					// ParseKeys already names LINK_KEYS; keep one prefix.
					return errors.New(strings.TrimPrefix(err.Error(), "LINK_KEYS: "))
				}
				ld.c.LinkKeys = keys
				return nil
			}},
		durationField("LINK_TTL", "168h", "lifetime of links minted by the function", time.Minute, maxDuration, func(c *Config) *time.Duration { return &c.LinkTTL }),
		durationField("LINK_MAX_TTL", "720h", "longest link lifetime accepted when verifying; at least LINK_TTL", time.Minute, maxDuration, func(c *Config) *time.Duration { return &c.LinkMaxTTL }),
		{Variable: Variable{"API_TOKENS", "", fmt.Sprintf("bearer tokens for the JSON API, comma-separated, each at least %d characters; unset = those operations refused", minTokenLen), true},
			parse: func(ld *loader, v string) error {
				if v == "" {
					return nil
				}
				var tokens [][]byte
				for i, t := range strings.Split(v, ",") {
					t = strings.TrimSpace(t)
					if len(t) < minTokenLen {
						return fmt.Errorf("token %d is shorter than %d characters", i+1, minTokenLen)
					}
					if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
						return fmt.Errorf("token %d contains whitespace or control characters", i+1)
					}
					tokens = append(tokens, []byte(t))
				}
				ld.c.APITokens = tokens
				return nil
			}},
		{Variable: Variable{"PUBLIC_BASE_URL", "", "absolute http(s) URL that minted links start with (a custom domain or the trigger's address); required by every feature that mints links (API_TOKENS, DMS_WEBHOOK_TOKEN, DINGTALK_APP_SECRET, SLACK_SIGNING_SECRET)", false},
			parse: func(ld *loader, v string) error {
				if v == "" {
					return nil
				}
				u, err := parsePublicURL(v)
				ld.c.PublicBaseURL = u
				return err
			}},
		{Variable: Variable{"ALLOWED_DOWNLOAD_HOSTS", "*.aliyuncs.com", "hosts the function may redirect to: exact hosts or *.suffix patterns, comma-separated", false},
			parse: func(ld *loader, v string) error {
				hosts, err := parseHostPatterns(v)
				ld.c.AllowedDownloadHosts = hosts
				return err
			}},
		{Variable: Variable{"ALLOW_HTTP_LOOPBACK_DOWNLOADS", "false", "true allows plain-http redirects and robot URLs to loopback hosts (demo and tests only)", false},
			parse: func(ld *loader, v string) error {
				b, err := parseBool(v)
				ld.c.AllowHTTPLoopback = b
				return err
			}},
		intField("URL_CACHE_SIZE", "10000", "tickets whose OSS URL is cached per instance", 1, 1_000_000, func(c *Config) *int { return &c.URLCacheSize }),
		durationField("URL_CACHE_MARGIN", "2m", "a cached OSS URL is dropped this long before it expires", time.Second, 24*time.Hour, func(c *Config) *time.Duration { return &c.URLCacheMargin }),
		durationField("URL_CACHE_FALLBACK_TTL", "30s", "cache life of an OSS URL whose expiry cannot be read", time.Second, 24*time.Hour, func(c *Config) *time.Duration { return &c.URLCacheFallbackTTL }),
		durationField("NOT_READY_CACHE_TTL", "5s", "how long a \"not ready yet\" answer from DMS is reused", time.Second, time.Hour, func(c *Config) *time.Duration { return &c.NotReadyTTL }),
		durationField("ERROR_CACHE_TTL", "30s", "how long DMS's \"unknown ticket\", \"export failed\" and \"forbidden\" answers are reused", time.Second, time.Hour, func(c *Config) *time.Duration { return &c.ErrorTTL }),
		intField("DMS_MAX_ATTEMPTS", "4", "DMS tries per ticket resolution (1-10)", 1, 10, func(c *Config) *int { return &c.DMSMaxAttempts }),
		durationField("DMS_RETRY_BASE", "100ms", "first backoff bound between DMS tries (full jitter, doubling)", time.Millisecond, time.Minute, func(c *Config) *time.Duration { return &c.DMSRetryBase }),
		durationField("DMS_RETRY_MAX", "2s", "largest backoff bound between DMS tries; at least DMS_RETRY_BASE", time.Millisecond, time.Minute, func(c *Config) *time.Duration { return &c.DMSRetryMax }),
		{Variable: Variable{"DMS_RATE_LIMIT", "20", "DMS calls per second per instance; 0 = unlimited", false},
			parse: func(ld *loader, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e6 {
					return fmt.Errorf("%q is not a number from 0 to 1000000", v)
				}
				ld.c.DMSRateLimit = f
				return nil
			}},
		intField("DMS_RATE_BURST", "20", "DMS calls allowed at once above the rate", 1, 100_000, func(c *Config) *int { return &c.DMSRateBurst }),
		{Variable: Variable{"DMS_RATE_SHARES", DefaultRateShares, "weights splitting DMS_RATE_LIMIT and DMS_RATE_BURST between clicks, webhooks and commands (chat and bearer API), so no class starves the others", false},
			parse: func(ld *loader, v string) error {
				sh, err := ParseRateShares(v)
				ld.c.DMSRateShares = sh
				return err
			}},
		{Variable: Variable{"DMS_WEBHOOK_TOKEN", "", fmt.Sprintf("shared token of the DMS message hook, at least %d characters; unset = the hook is refused", minTokenLen), true},
			parse: secretParser(minTokenLen, func(c *Config) *string { return &c.DMSWebhookToken })},
		durationField("ANNOUNCE_WINDOW", "10m", "a ticket is announced to the robots at most once per window", time.Second, 7*24*time.Hour, func(c *Config) *time.Duration { return &c.AnnounceWindow }),
		durationField("WEBHOOK_MAX_EVENT_AGE", "1h", "a DMS event whose eventTime is older than this (or more than 5 minutes ahead) is answered 202 stale and announces nothing", time.Minute, 7*24*time.Hour, func(c *Config) *time.Duration { return &c.WebhookMaxAge }),
		intField("ANNOUNCE_RATE_LIMIT", "60", "announcements per minute, all instances together; more are answered 429 (0 = unlimited)", 0, 100000, func(c *Config) *int { return &c.AnnounceRate }),
		intField("ANNOUNCE_DEDUPE_CAPACITY", "10000", "tickets each instance remembers for announce-once (without Redis, or while it is unavailable)", 1, 1_000_000, func(c *Config) *int { return &c.AnnounceDedupe }),
		robotField("DINGTALK_ROBOT_URL", "DingTalk custom robot webhook (https://oapi.dingtalk.com/robot/send?access_token=...)", func(c *Config) *string { return &c.DingTalkRobotURL }),
		{Variable: Variable{"DINGTALK_ROBOT_SECRET", "", "DingTalk robot signing secret (SEC...); needs DINGTALK_ROBOT_URL", true},
			parse: secretParser(1, func(c *Config) *string { return &c.DingTalkRobotSecret })},
		robotField("LARK_ROBOT_URL", "Lark/Feishu custom bot webhook", func(c *Config) *string { return &c.LarkRobotURL }),
		{Variable: Variable{"LARK_ROBOT_SECRET", "", "Lark/Feishu bot signing secret; needs LARK_ROBOT_URL", true},
			parse: secretParser(1, func(c *Config) *string { return &c.LarkRobotSecret })},
		robotField("WECOM_ROBOT_URL", "WeCom group robot webhook", func(c *Config) *string { return &c.WeComRobotURL }),
		robotField("SLACK_WEBHOOK_URL", "Slack incoming webhook", func(c *Config) *string { return &c.SlackWebhookURL }),
		{Variable: Variable{"DINGTALK_APP_SECRET", "", "AppSecret verifying DingTalk outgoing-robot calls; unset = that endpoint is refused", true},
			parse: secretParser(1, func(c *Config) *string { return &c.DingTalkAppSecret })},
		{Variable: Variable{"SLACK_SIGNING_SECRET", "", "signing secret verifying Slack slash commands; unset = that endpoint is refused", true},
			parse: secretParser(1, func(c *Config) *string { return &c.SlackSigningSecret })},
		durationField("DINGTALK_SIGNATURE_WINDOW", "5m", "how far a DingTalk command's signed timestamp may be from now; DingTalk allows an hour, but its signature does not cover the body, so keep it tight", 10*time.Second, time.Hour, func(c *Config) *time.Duration { return &c.DingTalkWindow }),
		{Variable: Variable{"DINGTALK_ALLOWED_CONVERSATIONS", "", "DingTalk conversations whose commands are answered, comma-separated: conversationId, corpId:conversationId, corpId:* (every conversation of that organisation's members) or *; unset = commands refused", false},
			parse: func(ld *loader, v string) error {
				l, err := parseAllowlist(v, false)
				ld.c.DingTalkAllowed = l
				return err
			}},
		{Variable: Variable{"SLACK_ALLOWED_CHANNELS", "", "Slack channels whose slash commands are answered, comma-separated: TEAM_ID:CHANNEL_ID, TEAM_ID:* or *; unset = commands refused", false},
			parse: func(ld *loader, v string) error {
				l, err := parseAllowlist(v, true)
				ld.c.SlackAllowed = l
				return err
			}},
		intField("COMMAND_RATE_LIMIT", "10", "chat commands answered per minute per person (0 = unlimited)", 0, 10000, func(c *Config) *int { return &c.CommandRateLimit }),
		{Variable: Variable{"REDIS_URL", "", "redis://[user:password@]host[:port][/db] or rediss:// of a Redis or Tair instance all instances share (cache, coalescing, DMS budget, announce-once); unset = each instance's memory", true},
			parse: func(ld *loader, v string) error {
				if v == "" {
					return nil
				}
				if _, err := state.ParseRedisURL(v); err != nil {
					return err
				}
				ld.c.RedisURL = v
				return nil
			}},
		{Variable: Variable{"REDIS_KEY_PREFIX", "dms-export-link:", "put in front of every Redis key (no braces: they are Redis Cluster hash tags)", false},
			parse: func(ld *loader, v string) error {
				if len(v) > 64 || strings.ContainsAny(v, "{}") || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
					return fmt.Errorf("%q must be at most 64 characters without braces, spaces or control characters", v)
				}
				ld.c.RedisKeyPrefix = v
				return nil
			}},
		durationField("REDIS_TIMEOUT", "50ms", "bound of one Redis operation; past it the instance answers from its own memory", time.Millisecond, 10*time.Second, func(c *Config) *time.Duration { return &c.RedisTimeout }),
		{Variable: Variable{"LOG_LEVEL", "info", "debug, info, warn or error", false},
			parse: func(ld *loader, v string) error {
				switch strings.ToLower(v) {
				case "debug":
					ld.c.LogLevel = slog.LevelDebug
				case "info":
					ld.c.LogLevel = slog.LevelInfo
				case "warn", "warning":
					ld.c.LogLevel = slog.LevelWarn
				case "error":
					ld.c.LogLevel = slog.LevelError
				default:
					return fmt.Errorf("%q must be debug, info, warn or error", v)
				}
				return nil
			}},
	}
}

// Variables lists every variable Load reads (FC_REGION, set by the platform,
// appears as DMS_REGION's fallback), in a stable order.
func (c Config) Variables() []Variable {
	fs := fields()
	vs := make([]Variable, len(fs))
	for i, f := range fs {
		vs[i] = f.Variable
	}
	return vs
}

// Load reads and validates the configuration. Blank values count as unset.
// The error, if any, lists every problem, one per line, as "NAME: problem";
// it never contains the value of a secret variable.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	ld := &loader{c: &c, getenv: getenv}
	var problems []string
	report := func(f field, v string, err error) {
		msg := err.Error()
		// A last guard for secrets: the parsers never quote them, but a
		// message that contains the value anyway is replaced.
		if f.Secret && v != "" && strings.Contains(msg, v) {
			msg = "invalid value"
		}
		problems = append(problems, f.Name+": "+msg)
	}
	byName := make(map[string]field)
	for _, f := range fields() {
		byName[f.Name] = f
		raw := strings.TrimSpace(getenv(f.Name))
		v := raw
		if v == "" && !f.derived {
			v = f.Default
		}
		if err := f.parse(ld, v); err != nil {
			report(f, raw, err)
		}
	}
	for _, r := range ld.robots {
		if err := checkRobotURL(r.v, c.AllowHTTPLoopback); err != nil {
			report(byName[r.name], r.v, err)
			continue
		}
		*r.dst = r.v
	}

	// Relations between variables.
	if c.LinkTTL > 0 && c.LinkMaxTTL > 0 && c.LinkTTL > c.LinkMaxTTL {
		problems = append(problems, fmt.Sprintf("LINK_TTL: %s exceeds LINK_MAX_TTL (%s)", c.LinkTTL, c.LinkMaxTTL))
	}
	if c.DMSRetryBase > 0 && c.DMSRetryMax > 0 && c.DMSRetryBase > c.DMSRetryMax {
		problems = append(problems, fmt.Sprintf("DMS_RETRY_MAX: %s is below DMS_RETRY_BASE (%s)", c.DMSRetryMax, c.DMSRetryBase))
	}
	for _, pair := range [][2]string{{"DINGTALK_ROBOT_SECRET", "DINGTALK_ROBOT_URL"}, {"LARK_ROBOT_SECRET", "LARK_ROBOT_URL"}} {
		if strings.TrimSpace(getenv(pair[0])) != "" && strings.TrimSpace(getenv(pair[1])) == "" {
			problems = append(problems, fmt.Sprintf("%s: set without %s", pair[0], pair[1]))
		}
	}
	if c.PublicBaseURL == nil {
		var minting []string
		for name, set := range map[string]bool{
			"API_TOKENS": len(c.APITokens) > 0, "DMS_WEBHOOK_TOKEN": c.DMSWebhookToken != "",
			"DINGTALK_APP_SECRET": c.DingTalkAppSecret != "", "SLACK_SIGNING_SECRET": c.SlackSigningSecret != "",
		} {
			if set {
				minting = append(minting, name)
			}
		}
		slices.Sort(minting)
		if len(minting) > 0 {
			problems = append(problems, "PUBLIC_BASE_URL: required when "+strings.Join(minting, ", ")+
				" is set, because those mint links and a link never takes its host from the request")
		}
	}
	if c.RedisURL != "" && len(c.LinkKeys) == 0 {
		problems = append(problems, "REDIS_URL: needs LINK_KEYS (the OSS URLs kept in Redis are encrypted with a key derived from them)")
	}
	if c.DMSScheme == "http" && c.DMSEndpoint == "" {
		problems = append(problems, "DMS_SCHEME: http needs DMS_ENDPOINT (plain http to the public DMS endpoint would expose credentials)")
	}

	if len(problems) > 0 {
		return Config{}, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

func durationField(name, def, desc string, lo, hi time.Duration, dst func(*Config) *time.Duration) field {
	desc += fmt.Sprintf(" (%s to %s; Go duration, seconds, or days as 7d)", formatDuration(lo), formatDuration(hi))
	return field{Variable: Variable{name, def, desc, false}, parse: func(ld *loader, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s is outside %s to %s", formatDuration(d), formatDuration(lo), formatDuration(hi))
		}
		*dst(ld.c) = d
		return nil
	}}
}

// choiceField accepts one of choices, case-insensitively; the first is the default.
func choiceField(name, desc string, choices []string, dst func(*Config) *string) field {
	return field{Variable: Variable{name, choices[0], desc, false}, parse: func(ld *loader, v string) error {
		v = strings.ToLower(v)
		if !slices.Contains(choices, v) {
			return fmt.Errorf("%q must be %s", v, strings.Join(choices, " or "))
		}
		*dst(ld.c) = v
		return nil
	}}
}

func intField(name, def, desc string, lo, hi int, dst func(*Config) *int) field {
	return field{Variable: Variable{name, def, desc, false}, parse: func(ld *loader, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		*dst(ld.c) = n
		return nil
	}}
}

// secretParser accepts any value of at least minLen characters; its errors
// never quote the value.
func secretParser(minLen int, dst func(*Config) *string) func(*loader, string) error {
	return func(ld *loader, v string) error {
		if v == "" {
			return nil
		}
		if len(v) < minLen {
			return fmt.Errorf("shorter than %d characters", minLen)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return errors.New("contains control characters")
		}
		*dst(ld.c) = v
		return nil
	}
}

// robotField defers the check until ALLOW_HTTP_LOOPBACK_DOWNLOADS is known.
func robotField(name, desc string, dst func(*Config) *string) field {
	desc += "; absolute https URL (secret: it carries the robot's credential)"
	return field{Variable: Variable{name, "", desc, true}, parse: func(ld *loader, v string) error {
		if v != "" {
			ld.robots = append(ld.robots, robotURL{name: name, dst: dst(ld.c), v: v})
		}
		return nil
	}}
}

// checkRobotURL never quotes the URL: its path or query is the credential.
func checkRobotURL(v string, allowHTTPLoopback bool) error {
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	if u.Fragment != "" {
		return errors.New("must not contain a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTPLoopback || !isLoopback(u.Hostname()) {
			return errors.New("must use https (http only to loopback hosts with ALLOW_HTTP_LOOPBACK_DOWNLOADS=true)")
		}
	default:
		return errors.New("must use https")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseDuration accepts Go duration syntax ("90s", "1h30m"), a plain
// non-negative number of seconds ("600"), or a whole number of days ("7d"),
// which Go's syntax lacks.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || !isDigits(days) || n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("%q is not a whole number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > int64(math.MaxInt64/time.Second) {
			return 0, fmt.Errorf("%q seconds is too long", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 15m, 168h, 7d, or seconds)", s)
	}
	return d, nil
}

// formatDuration prints whole days as "7d" for readable messages.
func formatDuration(d time.Duration) string {
	if day := 24 * time.Hour; d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q must be true or false", v)
}

// parsePositiveInt accepts plain decimal digits without sign or leading
// zeros, like the ids in links.
func parsePositiveInt(v string) (int64, error) {
	if !isDigits(v) || v[0] == '0' || len(v) > 19 {
		return 0, fmt.Errorf("%q is not a positive whole number", v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a positive whole number", v)
	}
	return n, nil
}

func validRegion(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkHostPort accepts "host" or "host:port" (IPv6 in brackets), nothing else.
func checkHostPort(v string) error {
	bad := fmt.Errorf("%q must be host[:port], without scheme or path", v)
	host, port := v, ""
	if strings.HasPrefix(v, "[") || strings.Count(v, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(v); err != nil {
			return bad
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || !isDigits(port) {
			return bad
		}
	}
	if net.ParseIP(host) != nil {
		if strings.Contains(host, ":") != strings.HasPrefix(v, "[") {
			return bad // a bare IPv6 address is ambiguous with a port
		}
		return nil
	}
	if !validDNSName(strings.ToLower(host)) {
		return bad
	}
	return nil
}

func parsePublicURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", v)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%q must use https or http", v)
	}
	if u.User != nil {
		return nil, errors.New("must not contain user information")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#") {
		return nil, fmt.Errorf("%q must not have a query or fragment", v)
	}
	if err := checkHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("%q has an invalid host", v)
	}
	return u, nil
}

// parseAllowlist validates a chat allow-list: "*", or entries "id",
// "scope:id" or "scope:*" of printable characters without spaces or commas.
// Slack entries must name their workspace (team id), so a channel id from
// another workspace never matches; its ids are upper-case letters and digits.
func parseAllowlist(v string, needScope bool) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for i, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "*" {
			out = append(out, e)
			continue
		}
		scope, id, scoped := strings.Cut(e, ":")
		if !scoped {
			scope, id = "", e
		}
		switch {
		case e == "":
			return nil, fmt.Errorf("entry %d is empty", i+1)
		case strings.ContainsFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return nil, fmt.Errorf("entry %d contains spaces or control characters", i+1)
		case scoped && (scope == "" || id == ""):
			return nil, fmt.Errorf("entry %d: write scope:id, scope:* or id", i+1)
		case needScope && !scoped:
			return nil, fmt.Errorf("entry %q: write TEAM_ID:CHANNEL_ID (or TEAM_ID:*), so the workspace is checked too", e)
		case needScope && (!slackID(scope) || id != "*" && !slackID(id)):
			return nil, fmt.Errorf("entry %q: Slack ids are upper-case letters and digits", e)
		case !scoped && id == "*":
			return nil, fmt.Errorf("entry %d: * stands alone", i+1)
		}
		out = append(out, e)
	}
	return out, nil
}

func slackID(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !('A' <= r && r <= 'Z' || '0' <= r && r <= '9') })
}

// parseHostPatterns validates ALLOWED_DOWNLOAD_HOSTS: exact DNS names or IP
// literals, or "*." plus a DNS suffix of at least two labels (so "*.com" is
// refused). Patterns are lower-cased.
func parseHostPatterns(v string) ([]string, error) {
	var out []string
	for i, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			return nil, fmt.Errorf("entry %d is empty", i+1)
		}
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if !validDNSName(suffix) || !strings.Contains(suffix, ".") || net.ParseIP(suffix) != nil {
				return nil, fmt.Errorf("%q: a pattern must be *. followed by a domain of at least two labels", p)
			}
		} else if net.ParseIP(p) == nil && !validDNSName(p) {
			return nil, fmt.Errorf("%q is neither a host name, an IP address nor a *.domain pattern", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// validDNSName accepts lower-case LDH names: labels of 1-63 characters of
// a-z, 0-9 and '-', not starting or ending with '-', at most 253 in total.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// DefaultRateShares gives clicks, which people wait for, most of the budget.
const DefaultRateShares = "click:6,webhook:2,command:2"

// RateShares are the weights of the caller classes in the DMS budget.
type RateShares struct {
	Click   int // people clicking download links
	Webhook int // DMS message hooks
	Command int // chat commands and the bearer-token API
}

// ParseRateShares reads "click:W,webhook:W,command:W", each class once, in
// any order, with whole weights of 1 to 100.
func ParseRateShares(v string) (RateShares, error) {
	var out RateShares
	for _, part := range strings.Split(v, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 1 || n > 100 {
			return RateShares{}, fmt.Errorf("%q must be class:weight with a weight of 1 to 100, e.g. %s", part, DefaultRateShares)
		}
		var dst *int
		switch name {
		case "click":
			dst = &out.Click
		case "webhook":
			dst = &out.Webhook
		case "command":
			dst = &out.Command
		default:
			return RateShares{}, fmt.Errorf("unknown class %q (click, webhook or command)", name)
		}
		if *dst != 0 {
			return RateShares{}, fmt.Errorf("class %q given twice", name)
		}
		*dst = n
	}
	if out.Click == 0 || out.Webhook == 0 || out.Command == 0 {
		return RateShares{}, fmt.Errorf("%q must give a weight to each of click, webhook and command", v)
	}
	return out, nil
}
