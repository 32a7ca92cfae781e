package dms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	dms_enterprise "github.com/aliyun/alibaba-cloud-sdk-go/services/dms-enterprise"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// DefaultTimeout bounds one DMS call when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Names of the environment variables read for fallback credentials; Function
// Compute sets all three for the function's role.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// Endpoint types: DMS documents a public and a VPC endpoint in every region
// (docs/dms-sdk.md, "Endpoints").
const (
	EndpointPublic = "public" // dms-enterprise.<region>.aliyuncs.com
	EndpointVPC    = "vpc"    // dms-enterprise-vpc.<region>.aliyuncs.com
)

// Options configure a Client. The zero value talks HTTPS to the public
// endpoint of the call's region with a 10 s timeout.
type Options struct {
	Region       string              // default RegionId when Request.Region is empty (DMS_REGION, else FC_REGION)
	Endpoint     string              // host[:port] override (DMS_ENDPOINT); "" = the regional endpoint of the call's region
	EndpointType string              // EndpointPublic (default) or EndpointVPC, when Endpoint is ""
	Scheme       string              // "https" (default) or "http" (tests and demo only)
	Timeout      time.Duration       // upper bound per call (DMS_TIMEOUT), default 10s; the context deadline shortens it
	Transport    *http.Transport     // shared by every call; nil = a tuned default (dial timeout, IdleConnTimeout, MaxIdleConnsPerHost)
	Getenv       func(string) string // for the fallback credentials; nil = no fallback
}

// Client calls GetDataExportDownloadURL. It is safe for concurrent use: every
// call builds its own SDK client over the one shared transport, because SDK
// clients race on their timeout and TLS fields and keep timeouts sticky.
type Client struct {
	region    string
	endpoint  string
	network   string // the SDK's Network for the regional endpoint: "" (public) or "vpc"
	scheme    string // as the SDK spells it: "HTTPS" or "HTTP"
	timeout   time.Duration
	transport *http.Transport
	getenv    func(string) string
	now       func() time.Time // for Retry-After dates
	warm      warmConn         // opened by Preconnect
}

// regionPattern is the SDK's own check; failing it early gives a clear error.
var regionPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]*$`)

// New validates opts and returns a Client. Errors name the offending setting.
func New(opts Options) (*Client, error) {
	c := &Client{
		region:    opts.Region,
		endpoint:  opts.Endpoint,
		timeout:   opts.Timeout,
		transport: opts.Transport,
		getenv:    opts.Getenv,
		now:       time.Now,
	}
	switch strings.ToLower(opts.Scheme) {
	case "", "https":
		c.scheme = "HTTPS"
	case "http":
		c.scheme = "HTTP"
	default:
		return nil, fmt.Errorf("dms: scheme %q: want https or http", opts.Scheme)
	}
	switch strings.ToLower(opts.EndpointType) {
	case "", EndpointPublic:
	case EndpointVPC:
		c.network = "vpc"
	default:
		return nil, fmt.Errorf("dms: endpoint type %q: want %s or %s", opts.EndpointType, EndpointPublic, EndpointVPC)
	}
	if !regionPattern.MatchString(opts.Region) {
		return nil, fmt.Errorf("dms: region %q: only letters, digits, '-' and '_' are allowed", opts.Region)
	}
	if opts.Endpoint != "" {
		if err := checkEndpoint(opts.Endpoint); err != nil {
			return nil, fmt.Errorf("dms: endpoint %q: %w", opts.Endpoint, err)
		}
	}
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("dms: timeout %v: must not be negative", opts.Timeout)
	case opts.Timeout == 0:
		c.timeout = DefaultTimeout
	}
	if c.transport == nil {
		c.transport = defaultTransport()
	}
	Warm()
	return c, nil
}

// checkEndpoint accepts exactly host[:port], which is what the SDK's
// request.Domain expects; a scheme or path would end up inside the URL.
func checkEndpoint(ep string) error {
	u, err := url.Parse("//" + ep)
	if err != nil || u.Host != ep || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want host[:port] without scheme or path")
	}
	if u.Hostname() == "" {
		return errors.New("missing host")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(ep, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("bad port")
		}
	}
	return nil
}

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment, // the SDK honours HTTPS_PROXY too
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// CloseIdleConnections closes the idle connections of the shared transport and
// the one Preconnect opened, for shutdown and for tests that check goroutine
// leaks.
func (c *Client) CloseIdleConnections() {
	c.warm.close()
	c.transport.CloseIdleConnections()
}

var warmOnce sync.Once

// Warm initialises the SDK's lazily created endpoint map, whose first use
// races when two clients are created concurrently. Idempotent; New calls it,
// and it is safe to call from init or an FC initializer.
func Warm() {
	warmOnce.Do(func() { dms_enterprise.GetEndpointMap() })
}

// CredentialsFromContext returns the credentials for one call: those of the
// FC invocation in ctx when it carries an AccessKeyId, else the
// ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN variables read through
// getenv (nil getenv means no fallback). ok is false when neither has a key.
//
// fccontext.FromContext writes to the FcContext it returns, so concurrent
// calls on one invocation's ctx race inside that SDK; FC gives every
// invocation its own.
func CredentialsFromContext(ctx context.Context, getenv func(string) string) (Credentials, bool) {
	if fc, ok := fccontext.FromContext(ctx); ok && fc.Credentials.AccessKeyId != "" {
		return Credentials{
			AccessKeyID:     fc.Credentials.AccessKeyId,
			AccessKeySecret: fc.Credentials.AccessKeySecret,
			SecurityToken:   fc.Credentials.SecurityToken,
		}, true
	}
	if getenv == nil {
		return Credentials{}, false
	}
	cr := Credentials{
		AccessKeyID:     getenv(EnvAccessKeyID),
		AccessKeySecret: getenv(EnvAccessKeySecret),
		SecurityToken:   getenv(EnvSecurityToken),
	}
	if cr.AccessKeyID == "" || cr.AccessKeySecret == "" {
		return Credentials{}, false
	}
	return cr, true
}

// DownloadURL asks DMS for the download URL of req's export ticket. A ticket
// without a file yet is not an error: it returns Ready=false and DMS's
// TipMessage. Every error is an *Error; its text holds no secret.
//
// The call is bounded by Options.Timeout and by ctx: running out of time is
// KindTimeout, cancelling ctx is KindTransport wrapping context.Canceled. An
// invalid req (OrderID <= 0, negative Tid, bad region) is KindBadRequest and
// missing credentials KindNoCredentials, both without calling DMS.
func (c *Client) DownloadURL(ctx context.Context, req Request) (Result, error) {
	if req.OrderID <= 0 {
		return Result{}, &Error{Kind: KindBadRequest, Message: fmt.Sprintf("order id %d: must be positive", req.OrderID)}
	}
	if req.Tid < 0 {
		return Result{}, &Error{Kind: KindBadRequest, Message: fmt.Sprintf("tid %d: must not be negative", req.Tid)}
	}
	region := req.Region
	if region == "" {
		region = c.region
	}
	if !regionPattern.MatchString(region) {
		return Result{}, &Error{Kind: KindBadRequest, Message: "region: only letters, digits, '-' and '_' are allowed"}
	}
	creds, ok := CredentialsFromContext(ctx, c.getenv)
	if !ok {
		return Result{}, &Error{Kind: KindNoCredentials, Message: "no credentials in the FC invocation context and " +
			EnvAccessKeyID + " / " + EnvAccessKeySecret + " (with " + EnvSecurityToken + ") are not set"}
	}

	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		if err == nil {
			err = context.DeadlineExceeded
		}
		return Result{}, contextError(err)
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := c.call(ctxTransport{base: withWarm{warm: &c.warm, base: c.transport}, ctx: callCtx}, region, creds, req, timeout)
	var e *Error
	if cerr := callCtx.Err(); cerr != nil && errors.As(err, &e) && e.Kind == KindMalformed {
		// An empty or partial reply that arrives as our own deadline passes
		// (seen under load: the server gave up on the cancelled request)
		// means the call ran out of time, not that DMS answered badly.
		return Result{}, contextError(cerr)
	}
	return res, err
}

// primeRequestID is the RequestId of primeReply.
const primeRequestID = "dms-export-link-prime"

// Prime runs one whole SDK call (client, signature, request, decoding of the
// reply) against a canned reply in memory, never the network, so that the
// SDK's lazily built state is built now and not during the first request.
// FC's initializer calls it; it is safe to call at any time.
func (c *Client) Prime() error {
	creds := Credentials{AccessKeyID: "prime", AccessKeySecret: "prime", SecurityToken: "prime"}
	res, err := c.call(primeReply{}, c.region, creds, Request{OrderID: 1}, c.timeout)
	if err != nil {
		return fmt.Errorf("dms: priming the SDK: %w", err)
	}
	if res.RequestID != primeRequestID || !res.Ready {
		return fmt.Errorf("dms: priming the SDK: the canned reply decoded as %+v", res)
	}
	return nil
}

// primeReply answers every request with a successful GetDataExportDownloadURL reply.
type primeReply struct{}

func (primeReply) RoundTrip(r *http.Request) (*http.Response, error) {
	body := `{"RequestId":"` + primeRequestID + `","Success":true,` +
		`"DownloadURLResult":{"HasResult":true,"URL":"https://prime.invalid/export.zip","TipMessage":""}}`
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json;charset=utf-8"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// call makes one GetDataExportDownloadURL call through rt.
func (c *Client) call(rt http.RoundTripper, region string, creds Credentials, req Request, timeout time.Duration) (Result, error) {
	cfg := sdk.NewConfig().WithScheme(c.scheme).WithAutoRetry(false)
	cfg.Transport = rt
	var provider credentials.CredentialsProvider
	if creds.SecurityToken != "" {
		provider = credentials.NewStaticSTSCredentialsProvider(creds.AccessKeyID, creds.AccessKeySecret, creds.SecurityToken)
	} else {
		provider = credentials.NewStaticAKCredentialsProvider(creds.AccessKeyID, creds.AccessKeySecret)
	}
	// The core client, not dms_enterprise.Client: the linker would keep all
	// ~1800 exported methods of that type (reflection in json-iterator keeps
	// every exported method of types used in interfaces), about 11 MB of the
	// binary. Endpoint data as dms_enterprise.SetEndpointDataToClient sets
	// it; the map is only read after Warm.
	cli, err := sdk.NewClientWithOptions(region, cfg, provider)
	if err != nil {
		return Result{}, &Error{Kind: KindUnknown, Message: "creating the SDK client: " + redactText(err.Error(), creds)}
	}
	cli.EndpointMap = dms_enterprise.GetEndpointMap()
	// The package says "central" (dms-enterprise.aliyuncs.com for every
	// region); DMS documents an endpoint per region, public and VPC, which
	// the SDK builds from these two fields (docs/dms-sdk.md, "Endpoints").
	cli.EndpointType = "regional"
	cli.Network = c.network

	r := dms_enterprise.CreateGetDataExportDownloadURLRequest()
	r.Scheme = c.scheme
	r.Domain = c.endpoint
	r.RegionId = region
	if req.Tid != 0 {
		r.Tid = requests.NewInteger64(req.Tid)
	}
	r.OrderId = requests.NewInteger64(req.OrderID)
	// Always explicit: an unset request timeout falls back to whatever an
	// earlier request left in the SDK client.
	r.SetReadTimeout(timeout)
	r.SetConnectTimeout(timeout)

	// A CommonResponse, which the SDK leaves undecoded: decodeReply reads it
	// by the SDK's rules at a fraction of the first call's cost (reply.go).
	resp := responses.NewCommonResponse()
	if err := cli.DoAction(r, resp); err != nil {
		return Result{}, c.classify(err, creds, resp.GetHttpStatus())
	}
	status := resp.GetHttpStatus()
	if len(resp.GetHttpContentBytes()) == 0 {
		return Result{}, &Error{Kind: KindMalformed, HTTPStatus: status, Message: "empty reply"}
	}
	rep, err := decodeReply(resp.GetHttpContentBytes())
	if err != nil {
		// Never the body in the message: it may hold the OSS URL.
		return Result{}, &Error{Kind: KindMalformed, Code: sdkerrors.JsonUnmarshalErrorCode, HTTPStatus: status, Message: "reply is not valid JSON"}
	}
	if !rep.Success {
		return Result{}, businessError(rep.ErrorCode, rep.ErrorMessage, rep.RequestID, status, creds)
	}
	res := Result{
		RequestID:  rep.RequestID,
		Ready:      rep.HasResult,
		TipMessage: rep.TipMessage,
	}
	if res.Ready {
		if rep.URL == "" {
			return Result{}, &Error{Kind: KindMalformed, RequestID: rep.RequestID, HTTPStatus: status,
				Message: "HasResult is true but URL is empty"}
		}
		res.URL = rep.URL
	}
	return res, nil
}

// ctxTransport gives the context-less SDK cancellation: every request it
// carries runs under ctx. Not being an *http.Transport also stops the SDK from
// rewriting the shared transport's DialContext and TLS config on each call.
type ctxTransport struct {
	base http.RoundTripper
	ctx  context.Context
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
