package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisTimeout bounds one Redis operation when RedisOptions.Timeout is
// not set: a cached click costs well under a millisecond on a healthy
// instance in the function's VPC, so 50ms only ever trips on a sick one.
const DefaultRedisTimeout = 50 * time.Millisecond

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL is redis://[user:password@]host[:port][/db] or rediss:// for TLS.
	URL string
	// Prefix is put in front of every key, so several deployments can share
	// one instance (and an ACL can confine this one to "prefix*").
	Prefix string
	// Timeout bounds each operation, within the caller's deadline; zero
	// means DefaultRedisTimeout.
	Timeout time.Duration
}

// Redis is a Store on a Redis server or a Tair (ApsaraDB for Redis)
// instance, standard or cluster edition: every operation touches one key,
// and scripts are single-key, so no operation crosses hash slots.
type Redis struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
}

// ParseRedisURL checks a redis:// or rediss:// URL. Its errors never contain
// the URL, which may carry a password.
func ParseRedisURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL") // url's error quotes the whole URL
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, errors.New("scheme must be redis:// or rediss://")
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("port must be 1 to 65535")
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 || strings.Contains(db, "/") {
			return nil, errors.New("path must be a database number, e.g. /0")
		}
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
		return nil, errors.New(msg)
	}
	return o, nil
}

// NewRedis connects lazily: it fails only for a bad URL, and a server that
// is down at start-up is one more Redis error for the callers to degrade on.
func NewRedis(o RedisOptions) (*Redis, error) {
	opts, err := ParseRedisURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	// Each operation gets at most timeout, by its context; these bound what
	// a context without deadline could leave open. No retries: a second try
	// would spend the budget of the click, and the caller falls back instead.
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	// RESP2 and no CLIENT SETINFO: what every Tair edition and proxy speaks,
	// and one round trip less per new connection.
	opts.Protocol = 2
	opts.DisableIdentity = true
	return &Redis{client: redis.NewClient(opts), prefix: o.Prefix, timeout: timeout}, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Ping checks that the server answers and accepts the credentials.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.client.Ping(ctx).Err()
}

// bound gives one operation at most r.timeout, never past ctx's deadline.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	v, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.client.Set(ctx, r.prefix+key, value, pxTTL(ttl)).Err()
}

// SetNX implements Store with SET NX PX.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	err := r.client.SetArgs(ctx, r.prefix+key, value, redis.SetArgs{Mode: "NX", TTL: pxTTL(ttl)}).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// deleteIf compares and deletes in one step on the server.
var deleteIf = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// DeleteIf implements Store with a script, so no other instance can take the
// key between the comparison and the delete.
func (r *Redis) DeleteIf(ctx context.Context, key string, value []byte) error {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return deleteIf.Run(ctx, r.client, []string{r.prefix + key}, value).Err()
}

// gcra is Memory.Allow's algorithm on the server's clock, in microseconds
// (exact in a Lua double until the year 2255). It returns -1 when allowed,
// else the microseconds until one event is. The budget key lives as long as
// its theoretical arrival time is ahead of now.
var gcra = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local earliest = tat - tolerance
if now < earliest then return earliest - now end
local next = tat + interval
redis.call("SET", KEYS[1], string.format("%d", next), "PX", math.ceil((next - now) / 1000) + 1)
return -1`)

// Allow implements Store with GCRA in a script, so all instances spend one
// budget and agree with Memory.Allow on what a Limit means.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.Events <= 0 {
		return Decision{Allowed: true}, nil
	}
	interval := l.Per / time.Duration(l.Events)
	tolerance := interval * time.Duration(max(l.Burst, 1)-1)
	ctx, cancel := r.bound(ctx)
	defer cancel()
	wait, err := gcra.Run(ctx, r.client, []string{r.prefix + key},
		interval.Microseconds(), tolerance.Microseconds()).Int64()
	if err != nil {
		return Decision{}, err
	}
	if wait < 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(wait) * time.Microsecond}, nil
}

// pxTTL keeps a TTL at Redis's 1ms resolution at least, so a tiny positive
// TTL never turns into "no expiry".
func pxTTL(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}
