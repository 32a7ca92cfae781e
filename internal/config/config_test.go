package config

import (
	"encoding/base64"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustLoad(t *testing.T, m map[string]string) Config {
	t.Helper()
	c, err := Load(env(m))
	if err != nil {
		t.Fatalf("Load(%v): %v", m, err)
	}
	return c
}

func key(fill byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(fill)), 32)))
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, nil)
	want := Config{
		DMSRegion:            "cn-hangzhou",
		DMSEndpointType:      "public",
		DMSScheme:            "https",
		DMSTimeout:           10 * time.Second,
		LinkTTL:              168 * time.Hour,
		LinkMaxTTL:           720 * time.Hour,
		AllowedDownloadHosts: []string{"*.aliyuncs.com"},
		URLCacheSize:         10000,
		URLCacheMargin:       2 * time.Minute,
		URLCacheFallbackTTL:  30 * time.Second,
		NotReadyTTL:          5 * time.Second,
		ErrorTTL:             30 * time.Second,
		DMSMaxAttempts:       4,
		DMSRetryBase:         100 * time.Millisecond,
		DMSRetryMax:          2 * time.Second,
		DMSRateLimit:         20,
		DMSRateBurst:         20,
		DMSRateShares:        RateShares{Click: 6, Webhook: 2, Command: 2},
		AnnounceWindow:       10 * time.Minute,
		WebhookMaxAge:        time.Hour,
		AnnounceRate:         60,
		DingTalkWindow:       5 * time.Minute,
		CommandRateLimit:     10,
		AnnounceDedupe:       10000,
		RedisKeyPrefix:       "dms-export-link:",
		RedisTimeout:         50 * time.Millisecond,
		LogLevel:             slog.LevelInfo,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

// TestVariablesDescribeLoad checks the documentation table against what Load
// really reads and what it really defaults to.
func TestVariablesDescribeLoad(t *testing.T) {
	t.Parallel()
	var read []string
	if _, err := Load(func(k string) string { read = append(read, k); return "" }); err != nil {
		t.Fatalf("Load: %v", err)
	}
	vars := Config{}.Variables()
	var names []string
	for _, v := range vars {
		names = append(names, v.Name)
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
	}
	slices.Sort(names)
	if i, ok := slices.BinarySearch(names, "FC_REGION"); ok {
		t.Errorf("FC_REGION is the platform's, not documented as ours (index %d)", i)
	}
	read = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(read))), func(s string) bool { return s == "FC_REGION" })
	if !slices.Equal(read, names) {
		t.Errorf("Load reads %v\nVariables lists %v", read, names)
	}

	// Writing each documented default explicitly must change nothing.
	defaults := mustLoad(t, nil)
	explicit := map[string]string{}
	for _, v := range vars {
		if v.Default != "" && v.Name != "DMS_REGION" {
			explicit[v.Name] = v.Default
		}
	}
	if got := mustLoad(t, explicit); !reflect.DeepEqual(got, defaults) {
		t.Errorf("explicit defaults give\n%+v\nimplicit give\n%+v", got, defaults)
	}
}

func TestRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "cn-hangzhou"},
		{"FC_REGION fallback", map[string]string{"FC_REGION": "ap-southeast-1"}, "ap-southeast-1"},
		{"DMS_REGION wins", map[string]string{"FC_REGION": "ap-southeast-1", "DMS_REGION": "cn-shanghai"}, "cn-shanghai"},
		{"blank DMS_REGION", map[string]string{"FC_REGION": "cn-beijing", "DMS_REGION": "  "}, "cn-beijing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustLoad(t, tt.env).DMSRegion; got != tt.want {
				t.Errorf("DMSRegion = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		check func(c Config) (got, want any)
	}{
		{"duration go syntax", map[string]string{"DMS_TIMEOUT": "1m30s"}, func(c Config) (any, any) { return c.DMSTimeout, 90 * time.Second }},
		{"duration seconds", map[string]string{"DMS_TIMEOUT": "600"}, func(c Config) (any, any) { return c.DMSTimeout, 10 * time.Minute }},
		{"duration days", map[string]string{"LINK_TTL": "7d", "LINK_MAX_TTL": "30d"}, func(c Config) (any, any) { return c.LinkMaxTTL, 30 * 24 * time.Hour }},
		{"redis", map[string]string{"REDIS_URL": "rediss://app:pw@r-bp1.redis.rds.aliyuncs.com:6380/3", "LINK_KEYS": "k1:" + key('a')}, func(c Config) (any, any) {
			return c.RedisURL, "rediss://app:pw@r-bp1.redis.rds.aliyuncs.com:6380/3"
		}},
		{"redis prefix", map[string]string{"REDIS_KEY_PREFIX": "prod:dl:"}, func(c Config) (any, any) { return c.RedisKeyPrefix, "prod:dl:" }},
		{"redis timeout", map[string]string{"REDIS_TIMEOUT": "200ms"}, func(c Config) (any, any) { return c.RedisTimeout, 200 * time.Millisecond }},
		{"rate shares", map[string]string{"DMS_RATE_SHARES": "webhook:1, command:3,click:96"}, func(c Config) (any, any) {
			return c.DMSRateShares, RateShares{Click: 96, Webhook: 1, Command: 3}
		}},
		{"announce dedupe", map[string]string{"ANNOUNCE_DEDUPE_CAPACITY": "500"}, func(c Config) (any, any) { return c.AnnounceDedupe, 500 }},
		{"error ttl", map[string]string{"ERROR_CACHE_TTL": "2m"}, func(c Config) (any, any) { return c.ErrorTTL, 2 * time.Minute }},
		{"duration spaces", map[string]string{"ANNOUNCE_WINDOW": " 2m "}, func(c Config) (any, any) { return c.AnnounceWindow, 2 * time.Minute }},
		{"ttl equal max", map[string]string{"LINK_TTL": "24h", "LINK_MAX_TTL": "1d"}, func(c Config) (any, any) { return c.LinkTTL, 24 * time.Hour }},
		{"tid", map[string]string{"DMS_TID": "1234567"}, func(c Config) (any, any) { return c.DMSTid, int64(1234567) }},
		{"endpoint", map[string]string{"DMS_ENDPOINT": "DMS-Enterprise-VPC.cn-hangzhou.aliyuncs.com"}, func(c Config) (any, any) {
			return c.DMSEndpoint, "dms-enterprise-vpc.cn-hangzhou.aliyuncs.com"
		}},
		{"endpoint with port", map[string]string{"DMS_ENDPOINT": "127.0.0.1:8080", "DMS_SCHEME": "HTTP"}, func(c Config) (any, any) {
			return c.DMSEndpoint + " " + c.DMSScheme, "127.0.0.1:8080 http"
		}},
		{"endpoint ipv6", map[string]string{"DMS_ENDPOINT": "[::1]:8080"}, func(c Config) (any, any) { return c.DMSEndpoint, "[::1]:8080" }},
		{"endpoint type default", map[string]string{}, func(c Config) (any, any) { return c.DMSEndpointType, "public" }},
		{"endpoint type vpc", map[string]string{"DMS_ENDPOINT_TYPE": " VPC "}, func(c Config) (any, any) { return c.DMSEndpointType, "vpc" }},
		{"link keys", map[string]string{"LINK_KEYS": "new:" + key('b') + ", old:" + key('a')}, func(c Config) (any, any) {
			return len(c.LinkKeys), 2
		}},
		{"api tokens", map[string]string{"API_TOKENS": "0123456789abcdef, fedcba9876543210xyz", "PUBLIC_BASE_URL": "https://dl.example.com"}, func(c Config) (any, any) {
			return c.APITokens, [][]byte{[]byte("0123456789abcdef"), []byte("fedcba9876543210xyz")}
		}},
		{"public base url", map[string]string{"PUBLIC_BASE_URL": "https://dl.example.com/base"}, func(c Config) (any, any) {
			return c.PublicBaseURL.String(), "https://dl.example.com/base"
		}},
		{"hosts lower-cased", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "*.OSS-cn-hangzhou.aliyuncs.com, dms.example.com,127.0.0.1"}, func(c Config) (any, any) {
			return c.AllowedDownloadHosts, []string{"*.oss-cn-hangzhou.aliyuncs.com", "dms.example.com", "127.0.0.1"}
		}},
		{"loopback flag", map[string]string{"ALLOW_HTTP_LOOPBACK_DOWNLOADS": "true"}, func(c Config) (any, any) { return c.AllowHTTPLoopback, true }},
		{"robot https", map[string]string{"DINGTALK_ROBOT_URL": "https://oapi.dingtalk.com/robot/send?access_token=abc", "DINGTALK_ROBOT_SECRET": "SECxyz"}, func(c Config) (any, any) {
			return c.DingTalkRobotURL + " " + c.DingTalkRobotSecret, "https://oapi.dingtalk.com/robot/send?access_token=abc SECxyz"
		}},
		{"robot http loopback", map[string]string{"SLACK_WEBHOOK_URL": "http://127.0.0.1:9999/services/T/B/x", "ALLOW_HTTP_LOOPBACK_DOWNLOADS": "true"}, func(c Config) (any, any) {
			return c.SlackWebhookURL, "http://127.0.0.1:9999/services/T/B/x"
		}},
		{"rate unlimited", map[string]string{"DMS_RATE_LIMIT": "0"}, func(c Config) (any, any) { return c.DMSRateLimit, 0.0 }},
		{"rate fractional", map[string]string{"DMS_RATE_LIMIT": "0.5"}, func(c Config) (any, any) { return c.DMSRateLimit, 0.5 }},
		{"attempts bounds", map[string]string{"DMS_MAX_ATTEMPTS": "10"}, func(c Config) (any, any) { return c.DMSMaxAttempts, 10 }},
		{"log level", map[string]string{"LOG_LEVEL": "DEBUG"}, func(c Config) (any, any) { return c.LogLevel, slog.LevelDebug }},
		{"dingtalk allow-list", map[string]string{"DINGTALK_ALLOWED_CONVERSATIONS": "cidAbC+/1==, dingcorp1:cidX==,dingcorp2:*"}, func(c Config) (any, any) {
			return c.DingTalkAllowed, []string{"cidAbC+/1==", "dingcorp1:cidX==", "dingcorp2:*"}
		}},
		{"slack allow-list", map[string]string{"SLACK_ALLOWED_CHANNELS": "T0001:C2147483705,T0002:*"}, func(c Config) (any, any) {
			return c.SlackAllowed, []string{"T0001:C2147483705", "T0002:*"}
		}},
		{"allow everyone", map[string]string{"SLACK_ALLOWED_CHANNELS": "*", "DINGTALK_ALLOWED_CONVERSATIONS": "*"}, func(c Config) (any, any) {
			return append(c.SlackAllowed, c.DingTalkAllowed...), []string{"*", "*"}
		}},
		{"dingtalk window", map[string]string{"DINGTALK_SIGNATURE_WINDOW": "90s"}, func(c Config) (any, any) { return c.DingTalkWindow, 90 * time.Second }},
		{"command budget off", map[string]string{"COMMAND_RATE_LIMIT": "0"}, func(c Config) (any, any) { return c.CommandRateLimit, 0 }},
		{"webhook token", map[string]string{"DMS_WEBHOOK_TOKEN": "0123456789abcdef", "PUBLIC_BASE_URL": "https://dl.example.com"}, func(c Config) (any, any) { return c.DMSWebhookToken, "0123456789abcdef" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, want := tt.check(mustLoad(t, tt.env))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// problems returns the variable names that the error's lines start with.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	var names []string
	for _, line := range strings.Split(err.Error(), "\n") {
		name, msg, ok := strings.Cut(line, ": ")
		if !ok || msg == "" || name != strings.ToUpper(name) || strings.ContainsAny(name, " ") {
			t.Errorf("line %q is not \"NAME: problem\"", line)
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"tid word", map[string]string{"DMS_TID": "abc"}, "DMS_TID"},
		{"tid zero", map[string]string{"DMS_TID": "0"}, "DMS_TID"},
		{"tid negative", map[string]string{"DMS_TID": "-4"}, "DMS_TID"},
		{"tid overflow", map[string]string{"DMS_TID": "99999999999999999999"}, "DMS_TID"},
		{"region", map[string]string{"DMS_REGION": "cn hangzhou"}, "DMS_REGION"},
		{"fc region", map[string]string{"FC_REGION": "cn/hangzhou"}, "DMS_REGION"},
		{"endpoint scheme", map[string]string{"DMS_ENDPOINT": "https://dms.example.com"}, "DMS_ENDPOINT"},
		{"endpoint path", map[string]string{"DMS_ENDPOINT": "dms.example.com/x"}, "DMS_ENDPOINT"},
		{"endpoint port", map[string]string{"DMS_ENDPOINT": "dms.example.com:0"}, "DMS_ENDPOINT"},
		{"endpoint port word", map[string]string{"DMS_ENDPOINT": "dms.example.com:http"}, "DMS_ENDPOINT"},
		{"endpoint bare ipv6", map[string]string{"DMS_ENDPOINT": "::1"}, "DMS_ENDPOINT"},
		{"endpoint type", map[string]string{"DMS_ENDPOINT_TYPE": "internal"}, "DMS_ENDPOINT_TYPE"},
		{"scheme", map[string]string{"DMS_SCHEME": "ftp"}, "DMS_SCHEME"},
		{"http without endpoint", map[string]string{"DMS_SCHEME": "http"}, "DMS_SCHEME"},
		{"timeout word", map[string]string{"DMS_TIMEOUT": "soon"}, "DMS_TIMEOUT"},
		{"timeout zero", map[string]string{"DMS_TIMEOUT": "0"}, "DMS_TIMEOUT"},
		{"timeout negative", map[string]string{"DMS_TIMEOUT": "-5s"}, "DMS_TIMEOUT"},
		{"timeout huge", map[string]string{"DMS_TIMEOUT": "99999999999999999999"}, "DMS_TIMEOUT"},
		{"link keys", map[string]string{"LINK_KEYS": "k1"}, "LINK_KEYS"},
		{"link ttl", map[string]string{"LINK_TTL": "7x"}, "LINK_TTL"},
		{"link ttl days fraction", map[string]string{"LINK_TTL": "1.5d"}, "LINK_TTL"},
		{"ttl above max", map[string]string{"LINK_TTL": "31d"}, "LINK_TTL"},
		{"max ttl", map[string]string{"LINK_MAX_TTL": "0s"}, "LINK_MAX_TTL"},
		{"api token short", map[string]string{"API_TOKENS": "0123456789abcdef,short"}, "API_TOKENS"},
		{"api token empty entry", map[string]string{"API_TOKENS": "0123456789abcdef,"}, "API_TOKENS"},
		{"public url relative", map[string]string{"PUBLIC_BASE_URL": "/base"}, "PUBLIC_BASE_URL"},
		{"public url scheme", map[string]string{"PUBLIC_BASE_URL": "ftp://dl.example.com"}, "PUBLIC_BASE_URL"},
		{"public url query", map[string]string{"PUBLIC_BASE_URL": "https://dl.example.com/?a=1"}, "PUBLIC_BASE_URL"},
		{"public url fragment", map[string]string{"PUBLIC_BASE_URL": "https://dl.example.com/#x"}, "PUBLIC_BASE_URL"},
		{"public url user", map[string]string{"PUBLIC_BASE_URL": "https://u:p@dl.example.com/"}, "PUBLIC_BASE_URL"},
		{"hosts empty entry", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "a.example.com,,b.example.com"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts tld wildcard", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "*.com"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts bare star", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "*"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts inner wildcard", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "oss-*.aliyuncs.com"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts leading dot", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": ".aliyuncs.com"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts url", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "https://a.example.com"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"hosts port", map[string]string{"ALLOWED_DOWNLOAD_HOSTS": "a.example.com:443"}, "ALLOWED_DOWNLOAD_HOSTS"},
		{"loopback flag", map[string]string{"ALLOW_HTTP_LOOPBACK_DOWNLOADS": "sure"}, "ALLOW_HTTP_LOOPBACK_DOWNLOADS"},
		{"cache size zero", map[string]string{"URL_CACHE_SIZE": "0"}, "URL_CACHE_SIZE"},
		{"cache size word", map[string]string{"URL_CACHE_SIZE": "many"}, "URL_CACHE_SIZE"},
		{"cache margin", map[string]string{"URL_CACHE_MARGIN": "-1m"}, "URL_CACHE_MARGIN"},
		{"fallback ttl", map[string]string{"URL_CACHE_FALLBACK_TTL": "2d"}, "URL_CACHE_FALLBACK_TTL"},
		{"not ready ttl", map[string]string{"NOT_READY_CACHE_TTL": "0"}, "NOT_READY_CACHE_TTL"},
		{"attempts zero", map[string]string{"DMS_MAX_ATTEMPTS": "0"}, "DMS_MAX_ATTEMPTS"},
		{"attempts eleven", map[string]string{"DMS_MAX_ATTEMPTS": "11"}, "DMS_MAX_ATTEMPTS"},
		{"retry base", map[string]string{"DMS_RETRY_BASE": "fast"}, "DMS_RETRY_BASE"},
		{"retry max below base", map[string]string{"DMS_RETRY_BASE": "3s"}, "DMS_RETRY_MAX"},
		{"rate negative", map[string]string{"DMS_RATE_LIMIT": "-1"}, "DMS_RATE_LIMIT"},
		{"rate NaN", map[string]string{"DMS_RATE_LIMIT": "NaN"}, "DMS_RATE_LIMIT"},
		{"rate Inf", map[string]string{"DMS_RATE_LIMIT": "+Inf"}, "DMS_RATE_LIMIT"},
		{"burst zero", map[string]string{"DMS_RATE_BURST": "0"}, "DMS_RATE_BURST"},
		{"webhook token short", map[string]string{"DMS_WEBHOOK_TOKEN": "short"}, "DMS_WEBHOOK_TOKEN"},
		{"announce window", map[string]string{"ANNOUNCE_WINDOW": "0"}, "ANNOUNCE_WINDOW"},
		{"dingtalk http", map[string]string{"DINGTALK_ROBOT_URL": "http://oapi.dingtalk.com/robot/send?access_token=abc"}, "DINGTALK_ROBOT_URL"},
		{"dingtalk secret alone", map[string]string{"DINGTALK_ROBOT_SECRET": "SECabc"}, "DINGTALK_ROBOT_SECRET"},
		{"lark relative", map[string]string{"LARK_ROBOT_URL": "open.feishu.cn/open-apis/bot/v2/hook/x"}, "LARK_ROBOT_URL"},
		{"lark secret alone", map[string]string{"LARK_ROBOT_SECRET": "abc"}, "LARK_ROBOT_SECRET"},
		{"wecom loopback without flag", map[string]string{"WECOM_ROBOT_URL": "http://127.0.0.1:1/cgi-bin/webhook/send?key=k"}, "WECOM_ROBOT_URL"},
		{"slack http remote with flag", map[string]string{"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/x", "ALLOW_HTTP_LOOPBACK_DOWNLOADS": "true"}, "SLACK_WEBHOOK_URL"},
		{"slack userinfo", map[string]string{"SLACK_WEBHOOK_URL": "https://u@hooks.slack.com/services/x"}, "SLACK_WEBHOOK_URL"},
		{"dingtalk app secret control", map[string]string{"DINGTALK_APP_SECRET": "abc\x01def"}, "DINGTALK_APP_SECRET"},
		{"slack signing secret control", map[string]string{"SLACK_SIGNING_SECRET": "abc\x7f"}, "SLACK_SIGNING_SECRET"},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"slack channel without team", map[string]string{"SLACK_ALLOWED_CHANNELS": "C2147483705"}, "SLACK_ALLOWED_CHANNELS"},
		{"slack lower-case id", map[string]string{"SLACK_ALLOWED_CHANNELS": "T0001:general"}, "SLACK_ALLOWED_CHANNELS"},
		{"slack empty entry", map[string]string{"SLACK_ALLOWED_CHANNELS": "T0001:C1,"}, "SLACK_ALLOWED_CHANNELS"},
		{"dingtalk half entry", map[string]string{"DINGTALK_ALLOWED_CONVERSATIONS": "dingcorp1:"}, "DINGTALK_ALLOWED_CONVERSATIONS"},
		{"dingtalk space", map[string]string{"DINGTALK_ALLOWED_CONVERSATIONS": "cid a"}, "DINGTALK_ALLOWED_CONVERSATIONS"},
		{"dingtalk window above an hour", map[string]string{"DINGTALK_SIGNATURE_WINDOW": "2h"}, "DINGTALK_SIGNATURE_WINDOW"},
		{"event age too short", map[string]string{"WEBHOOK_MAX_EVENT_AGE": "10s"}, "WEBHOOK_MAX_EVENT_AGE"},
		{"announce rate word", map[string]string{"ANNOUNCE_RATE_LIMIT": "lots"}, "ANNOUNCE_RATE_LIMIT"},
		{"command budget negative", map[string]string{"COMMAND_RATE_LIMIT": "-1"}, "COMMAND_RATE_LIMIT"},
		{"bearer tokens without base url", map[string]string{"API_TOKENS": "0123456789abcdef"}, "PUBLIC_BASE_URL"},
		{"webhook without base url", map[string]string{"DMS_WEBHOOK_TOKEN": "0123456789abcdef"}, "PUBLIC_BASE_URL"},
		{"dingtalk command without base url", map[string]string{"DINGTALK_APP_SECRET": "x"}, "PUBLIC_BASE_URL"},
		{"slack command without base url", map[string]string{"SLACK_SIGNING_SECRET": "x"}, "PUBLIC_BASE_URL"},
		{"redis scheme", map[string]string{"REDIS_URL": "http://127.0.0.1:6379", "LINK_KEYS": "k1:" + key('a')}, "REDIS_URL"},
		{"redis db", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/zero", "LINK_KEYS": "k1:" + key('a')}, "REDIS_URL"},
		{"redis without link keys", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}, "REDIS_URL"},
		{"redis prefix hash tag", map[string]string{"REDIS_KEY_PREFIX": "{app}:"}, "REDIS_KEY_PREFIX"},
		{"redis prefix space", map[string]string{"REDIS_KEY_PREFIX": "my app:"}, "REDIS_KEY_PREFIX"},
		{"redis timeout zero", map[string]string{"REDIS_TIMEOUT": "0"}, "REDIS_TIMEOUT"},
		{"redis timeout long", map[string]string{"REDIS_TIMEOUT": "1m"}, "REDIS_TIMEOUT"},
		{"error ttl zero", map[string]string{"ERROR_CACHE_TTL": "0"}, "ERROR_CACHE_TTL"},
		{"announce dedupe zero", map[string]string{"ANNOUNCE_DEDUPE_CAPACITY": "0"}, "ANNOUNCE_DEDUPE_CAPACITY"},
		{"shares missing class", map[string]string{"DMS_RATE_SHARES": "click:1,webhook:1"}, "DMS_RATE_SHARES"},
		{"shares unknown class", map[string]string{"DMS_RATE_SHARES": "click:1,webhook:1,command:1,chat:1"}, "DMS_RATE_SHARES"},
		{"shares twice", map[string]string{"DMS_RATE_SHARES": "click:1,click:2,webhook:1,command:1"}, "DMS_RATE_SHARES"},
		{"shares zero", map[string]string{"DMS_RATE_SHARES": "click:0,webhook:1,command:1"}, "DMS_RATE_SHARES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(tt.env))
			if got, want := problems(t, err), []string{tt.wantVar}; !slices.Equal(got, want) {
				t.Errorf("problems name %v, want %v (error %q)", got, want, err)
			}
		})
	}
}

func TestAllProblemsReported(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"DMS_TIMEOUT":            "x",
		"LINK_KEYS":              "bad",
		"URL_CACHE_SIZE":         "-1",
		"LOG_LEVEL":              "loud",
		"ALLOWED_DOWNLOAD_HOSTS": "*",
	}))
	got := problems(t, err)
	want := []string{"DMS_TIMEOUT", "LINK_KEYS", "ALLOWED_DOWNLOAD_HOSTS", "URL_CACHE_SIZE", "LOG_LEVEL"}
	if !slices.Equal(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
}

func TestSecretsNeverEchoed(t *testing.T) {
	t.Parallel()
	const marker = "S3CRETMARK"
	b64 := base64.StdEncoding.EncodeToString([]byte(marker + "-short"))
	tests := []map[string]string{
		{"LINK_KEYS": marker},
		{"LINK_KEYS": "k1:" + b64},
		{"LINK_KEYS": "k1:" + marker + "!"},
		{"LINK_KEYS": b64 + ":k1"},
		{"API_TOKENS": marker},
		{"API_TOKENS": marker + " with space inside"},
		{"DMS_WEBHOOK_TOKEN": marker},
		{"DINGTALK_ROBOT_URL": "http://oapi.dingtalk.com/robot/send?access_token=" + marker},
		{"DINGTALK_ROBOT_URL": "https://oapi.dingtalk.com/robot/send?access_token=" + marker + "#frag"},
		{"LARK_ROBOT_URL": "ftp://open.feishu.cn/open-apis/bot/v2/hook/" + marker},
		{"WECOM_ROBOT_URL": "https://user:" + marker + "@qyapi.weixin.qq.com/"},
		{"SLACK_WEBHOOK_URL": "%%" + marker},
		{"DINGTALK_ROBOT_SECRET": marker},
		{"LARK_ROBOT_SECRET": marker},
		{"DINGTALK_APP_SECRET": marker + "\x00"},
		{"SLACK_SIGNING_SECRET": marker + "\nmore"},
		{"REDIS_URL": "redis://:" + marker + "@h%zz:6379/0"},
		{"REDIS_URL": "redis://:" + marker + "@host:6379/x"},
		{"REDIS_URL": "http://:" + marker + "@host:6379/0"},
		{"REDIS_URL": "redis://:" + marker + "@host:6379/0?dial_timeout=" + marker},
	}
	secret := map[string]bool{}
	for _, v := range (Config{}).Variables() {
		secret[v.Name] = v.Secret
	}
	for _, m := range tests {
		for name := range m {
			if !secret[name] {
				t.Errorf("%s is not marked Secret", name)
			}
		}
		_, err := Load(env(m))
		if err == nil {
			t.Errorf("Load with %v set succeeded, want an error", slices.Collect(maps.Keys(m)))
			continue
		}
		if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), b64) {
			t.Errorf("error echoes a secret: %q", err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"0", 0, true},
		{"600", 10 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"-1d", 0, false},
		{"+1d", 0, false},
		{"1.5d", 0, false},
		{"1d12h", 0, false},
		{"7 d", 0, false},
		{"10", 10 * time.Second, true},
		{"9223372036854775807", 0, false},
		{"999999999999d", 0, false},
		{"1e3", 0, false},
		{"s", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
