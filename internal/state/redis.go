package state

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
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
// and scripts are single-key, so no operation crosses hash slots. It uses
// redigo, whose small command surface keeps the binary under its size budget.
type Redis struct {
	pool    *redis.Pool
	prefix  string
	timeout time.Duration
}

// RedisEndpoint is what a redis:// or rediss:// URL names.
type RedisEndpoint struct {
	Addr     string // host:port, port 6379 when the URL has none
	Username string // ACL user; "" = the default user
	Password string
	DB       int
	TLS      bool // rediss://
}

// ParseRedisURL checks a redis:// or rediss:// URL. Its errors never contain
// the URL, which may carry a password.
func ParseRedisURL(raw string) (RedisEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return RedisEndpoint{}, errors.New("not a URL") // url's error quotes the whole URL
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return RedisEndpoint{}, errors.New("scheme must be redis:// or rediss://")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return RedisEndpoint{}, errors.New("no host")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return RedisEndpoint{}, errors.New("port must be 1 to 65535")
	}
	e := RedisEndpoint{
		Addr:     net.JoinHostPort(u.Hostname(), port),
		Username: u.User.Username(),
		TLS:      u.Scheme == "rediss",
	}
	e.Password, _ = u.User.Password()
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.Contains(db, "/") {
			return RedisEndpoint{}, errors.New("path must be a database number, e.g. /0")
		}
		e.DB = n
	}
	if u.RawQuery != "" {
		// Not named: a password with an unescaped "?" ends up here.
		return RedisEndpoint{}, errors.New("query parameters are not supported; set REDIS_TIMEOUT for the timeouts")
	}
	return e, nil
}

// NewRedis connects lazily: it fails only for a bad URL, and a server that
// is down at start-up is one more Redis error for the callers to degrade on.
func NewRedis(o RedisOptions) (*Redis, error) {
	e, err := ParseRedisURL(o.URL)
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
	opts := []redis.DialOption{
		redis.DialConnectTimeout(timeout),
		redis.DialReadTimeout(timeout),
		redis.DialWriteTimeout(timeout),
		redis.DialTLSHandshakeTimeout(timeout),
		redis.DialUseTLS(e.TLS),
		redis.DialUsername(e.Username),
		redis.DialPassword(e.Password),
		redis.DialDatabase(e.DB),
	}
	pool := &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", e.Addr, opts...)
		},
		// A function instance serves few requests at once; more idle
		// connections would only hold server slots.
		MaxIdle: 16,
		// A quiet instance gives its connections back to the server.
		IdleTimeout: 4 * time.Minute,
		// A connection idle a while (the instance may have been frozen) is
		// checked before use; a busy one is not, so a click pays no PING.
		TestOnBorrowContext: func(ctx context.Context, c redis.Conn, lastUsed time.Time) error {
			if time.Since(lastUsed) < idleCheck {
				return nil
			}
			_, err := redis.DoContext(c, ctx, "PING")
			return err
		},
	}
	return &Redis{pool: pool, prefix: o.Prefix, timeout: timeout}, nil
}

// idleCheck is how long a pooled connection may sit unused before it is
// PINGed on borrow.
const idleCheck = 30 * time.Second

// Close closes the connections.
func (r *Redis) Close() error { return r.pool.Close() }

// Ping checks that the server answers and accepts the credentials.
func (r *Redis) Ping(ctx context.Context) error {
	_, err := r.do(ctx, func(ctx context.Context, c redis.Conn) (any, error) {
		return redis.DoContext(c, ctx, "PING")
	})
	return err
}

// do runs one operation on a pooled connection, at most r.timeout and never
// past ctx's deadline. A connection whose operation failed on the network or
// by the context is closed, not pooled, by redigo.
func (r *Redis) do(ctx context.Context, op func(context.Context, redis.Conn) (any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return op(ctx, c)
}

// cmd runs one command through do.
func (r *Redis) cmd(ctx context.Context, name string, args ...any) (any, error) {
	return r.do(ctx, func(ctx context.Context, c redis.Conn) (any, error) {
		return redis.DoContext(c, ctx, name, args...)
	})
}

// script runs one single-key script through do.
func (r *Redis) script(ctx context.Context, s *redis.Script, key string, args ...any) (any, error) {
	return r.do(ctx, func(ctx context.Context, c redis.Conn) (any, error) {
		return s.DoContext(ctx, c, append([]any{r.prefix + key}, args...)...)
	})
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := redis.Bytes(r.cmd(ctx, "GET", r.prefix+key))
	if errors.Is(err, redis.ErrNil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, err := r.cmd(ctx, "SET", r.prefix+key, value, "PX", pxTTL(ttl))
	return err
}

// SetNX implements Store with SET NX PX.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	_, err := redis.String(r.cmd(ctx, "SET", r.prefix+key, value, "NX", "PX", pxTTL(ttl)))
	if errors.Is(err, redis.ErrNil) {
		return false, nil
	}
	return err == nil, err
}

// deleteIf compares and deletes in one step on the server.
var deleteIf = redis.NewScript(1, `
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// DeleteIf implements Store with a script, so no other instance can take the
// key between the comparison and the delete.
func (r *Redis) DeleteIf(ctx context.Context, key string, value []byte) error {
	_, err := r.script(ctx, deleteIf, key, value)
	return err
}

// gcra is Memory.Allow's algorithm on the server's clock, in microseconds
// (exact in a Lua double until the year 2255). It returns -1 when allowed,
// else the microseconds until one event is. The budget key lives as long as
// its theoretical arrival time is ahead of now.
var gcra = redis.NewScript(1, `
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
	wait, err := redis.Int64(r.script(ctx, gcra, key, interval.Microseconds(), tolerance.Microseconds()))
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
func pxTTL(ttl time.Duration) int64 {
	return max(ttl, time.Millisecond).Milliseconds()
}
