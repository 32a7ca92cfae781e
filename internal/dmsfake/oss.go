package dmsfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OSSOptions configure an OSS bucket emulator.
type OSSOptions struct {
	Bucket string // default "dms-idb-<region>"
	// Region is the bucket's region, in minted hosts and V4 scopes; default
	// "cn-hangzhou".
	Region string
	// AccessKeyID and AccessKeySecret are a long-term AccessKey the bucket
	// accepts (URLs signed with SignV1 and SignV4).
	AccessKeyID, AccessKeySecret string
	// STSAccessKeyID, STSAccessKeySecret and SecurityToken are temporary STS
	// credentials it also accepts (SignV1STS, SignV4STS); a URL signed with
	// them must carry the token. Random ones are made when unset.
	STSAccessKeyID, STSAccessKeySecret, SecurityToken string
	Now                                               func() time.Time // default time.Now
	// PlainHTTP makes Start serve the bucket over plain http and mint
	// http://127.0.0.1:port URLs, which only pass the function's loopback
	// allowance (the -demo). By default Start serves it over TLS and mints
	// https://<bucket>.oss-<region>.aliyuncs.com URLs.
	PlainHTTP bool
}

// Signing is how the bucket signs a URL it mints.
type Signing int

const (
	// SignV1 is a V1 query signature (Expires, OSSAccessKeyId, Signature)
	// with the long-term AccessKey.
	SignV1 Signing = iota
	// SignV1STS is V1 with the STS credentials and their security-token.
	SignV1STS
	// SignV4 is a V4 query signature (x-oss-signature-version
	// OSS4-HMAC-SHA256, x-oss-credential, x-oss-date, x-oss-expires,
	// x-oss-signature) with the long-term AccessKey.
	SignV4
	// SignV4STS is V4 with the STS credentials and x-oss-security-token.
	SignV4STS
)

// OSSRequest is one request the bucket received.
type OSSRequest struct {
	Method, Key, Referer, UserAgent string
	Status                          int
}

type ossObject struct {
	data    []byte
	modTime time.Time
}

// OSS is an http.Handler emulating one OSS bucket reached through presigned
// URLs, V1 or V4, checked as OSS checks them: every signed sub-resource and
// response-* override must be signed, STS keys must bring their token, and
// signed overrides set the answer's headers. It answers in OSS's XML errors.
// It is safe for concurrent use.
type OSS struct {
	opts OSSOptions

	mu       sync.Mutex
	baseURL  string
	host     string // the bucket's host name; "" when reached by IP address
	objects  map[string]ossObject
	requests []OSSRequest
}

// NewOSS returns an empty bucket.
func NewOSS(opts OSSOptions) *OSS {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Region == "" {
		opts.Region = "cn-hangzhou"
	}
	if opts.Bucket == "" {
		opts.Bucket = "dms-idb-" + opts.Region // DMS's own example bucket
	}
	if opts.STSAccessKeyID == "" {
		opts.STSAccessKeyID = "STS.N" + hex.EncodeToString(randomBytes(10))
		opts.STSAccessKeySecret = hex.EncodeToString(randomBytes(16))
		opts.SecurityToken = "CAIS" + base64.StdEncoding.EncodeToString(randomBytes(48))
	}
	return &OSS{opts: opts, objects: make(map[string]ossObject)}
}

// Host is the bucket's public host name, <bucket>.oss-<region>.aliyuncs.com.
func (o *OSS) Host() string {
	return o.opts.Bucket + ".oss-" + o.opts.Region + ".aliyuncs.com"
}

// SetBaseURL sets the scheme and host of minted URLs, e.g.
// "https://<Host>" or "http://127.0.0.1:port". With a host name the bucket
// answers only requests for that host, as OSS routes by Host.
func (o *OSS) SetBaseURL(u string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.baseURL = strings.TrimSuffix(u, "/")
	o.host = ""
	if p, err := url.Parse(o.baseURL); err == nil && net.ParseIP(p.Hostname()) == nil {
		o.host = strings.ToLower(p.Hostname())
	}
}

// Put stores an object, replacing any with the same key.
func (o *OSS) Put(key string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objects[key] = ossObject{data: bytes.Clone(data), modTime: o.opts.Now()}
}

// Requests returns a copy of every request received, oldest first.
func (o *OSS) Requests() []OSSRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]OSSRequest(nil), o.requests...)
}

// Presign mints a presigned GET URL for key, valid until expires, signed as
// s. The parameters in extra (response-content-disposition, x-oss-process,
// ...) are signed along, as an SDK signs them.
func (o *OSS) Presign(key string, expires time.Time, s Signing, extra url.Values) string {
	q := url.Values{}
	for k, v := range extra {
		q[k] = append([]string(nil), v...)
	}
	id, secret := o.opts.AccessKeyID, o.opts.AccessKeySecret
	if s == SignV1STS || s == SignV4STS {
		id, secret = o.opts.STSAccessKeyID, o.opts.STSAccessKeySecret
	}
	switch s {
	case SignV4, SignV4STS:
		now := o.opts.Now().UTC().Truncate(time.Second)
		if !expires.After(now) {
			now = expires.UTC().Truncate(time.Second).Add(-time.Second) // already expired: x-oss-expires stays positive
		}
		if s == SignV4STS {
			q.Set("x-oss-security-token", o.opts.SecurityToken)
		}
		q.Set("x-oss-signature-version", v4Algorithm)
		q.Set("x-oss-date", now.Format(v4DateTime))
		q.Set("x-oss-expires", strconv.FormatInt(int64(expires.Sub(now).Seconds()), 10))
		q.Set("x-oss-credential", id+"/"+v4Scope(now.Format(v4Date), o.opts.Region))
		sts := v4StringToSign(now.Format(v4DateTime), v4Scope(now.Format(v4Date), o.opts.Region),
			v4CanonicalRequest(http.MethodGet, o.opts.Bucket, key, q, http.Header{}, "", nil))
		q.Set("x-oss-signature", v4Signature(secret, now.Format(v4Date), o.opts.Region, sts))
	default:
		if s == SignV1STS {
			q.Set("security-token", o.opts.SecurityToken)
		}
		exp := strconv.FormatInt(expires.Unix(), 10)
		sts := v1StringToSign(http.MethodGet, http.Header{}, exp, v1CanonicalResource(o.opts.Bucket, key, q))
		q.Set("Expires", exp)
		q.Set("OSSAccessKeyId", id)
		q.Set("Signature", v1Signature(secret, sts))
	}
	o.mu.Lock()
	base := o.baseURL
	o.mu.Unlock()
	return base + "/" + escapeKey(key) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// escapeKey escapes each path segment of an object key.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

type ossError struct {
	status        int
	code, message string
	// For SignatureDoesNotMatch, OSS also returns what it signed.
	accessKeyID, signatureProvided, stringToSign string
}

func accessDenied(msg string) *ossError {
	return &ossError{status: http.StatusForbidden, code: "AccessDenied", message: msg}
}

// ServeHTTP answers GET and HEAD of an object through a presigned URL.
func (o *OSS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	rec := &statusRecorder{ResponseWriter: w}
	requestID := strings.ToUpper(hex.EncodeToString(randomBytes(12)))
	rec.Header().Set("x-oss-request-id", requestID)
	if e := o.serve(rec, r, key); e != nil {
		writeOSSError(rec, r, requestID, e)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, OSSRequest{
		Method: r.Method, Key: key, Referer: r.Referer(), UserAgent: r.UserAgent(), Status: rec.status,
	})
}

func (o *OSS) serve(w http.ResponseWriter, r *http.Request, key string) *ossError {
	o.mu.Lock()
	host := o.host
	o.mu.Unlock()
	reqHost := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		reqHost = h
	}
	if host != "" && !strings.EqualFold(reqHost, host) {
		return &ossError{status: http.StatusNotFound, code: "NoSuchBucket", message: "The specified bucket does not exist."}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &ossError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: "The specified method is not allowed against this resource."}
	}
	q := r.URL.Query()
	if e := o.authenticate(r, key, q); e != nil {
		return e
	}
	if q.Has("versionId") {
		return &ossError{status: http.StatusNotFound, code: "NoSuchVersion", message: "The specified version does not exist."}
	}
	o.mu.Lock()
	obj, ok := o.objects[key]
	o.mu.Unlock()
	if !ok {
		return &ossError{status: http.StatusNotFound, code: "NoSuchKey", message: "The specified key does not exist."}
	}
	ctype := "application/octet-stream"
	if strings.HasSuffix(strings.ToLower(key), ".zip") {
		ctype = "application/zip"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `attachment; filename="`+path.Base(key)+`"`)
	// Signed overrides replace the stored headers (x-oss-process is accepted
	// but the emulator does no processing).
	for param, header := range responseOverrides {
		if v := q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
	sum := md5.Sum(obj.data)
	h.Set("ETag", `"`+strings.ToUpper(hex.EncodeToString(sum[:]))+`"`)
	http.ServeContent(w, r, "", obj.modTime, bytes.NewReader(obj.data))
	return nil
}

// responseOverrides are the query parameters that set response headers.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// authenticate checks a V1 or V4 query signature.
func (o *OSS) authenticate(r *http.Request, key string, q url.Values) *ossError {
	if q.Has("x-oss-signature-version") || q.Has("x-oss-credential") || q.Has("x-oss-signature") {
		return o.authenticateV4(r, key, q)
	}
	exp, id, sig := q.Get("Expires"), q.Get("OSSAccessKeyId"), q.Get("Signature")
	if exp == "" && id == "" && sig == "" {
		return accessDenied("You have no right to access this object because of bucket acl.")
	}
	if exp == "" || id == "" || sig == "" {
		return accessDenied("Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters")
	}
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return accessDenied("Invalid date (should be seconds since epoch): " + exp)
	}
	if o.opts.Now().Unix() > expUnix {
		return accessDenied("Request has expired.")
	}
	secret, e := o.credential(id, q.Get("security-token"))
	if e != nil {
		return e
	}
	sts := v1StringToSign(r.Method, r.Header, exp, v1CanonicalResource(o.opts.Bucket, key, q))
	if !hmac.Equal([]byte(v1Signature(secret, sts)), []byte(sig)) {
		return signatureMismatch(id, sig, sts)
	}
	return nil
}

func (o *OSS) authenticateV4(r *http.Request, key string, q url.Values) *ossError {
	for _, p := range []string{"x-oss-signature-version", "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature"} {
		if q.Get(p) == "" {
			return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "Missing query parameter " + p + " for a V4 signature."}
		}
	}
	if v := q.Get("x-oss-signature-version"); v != v4Algorithm {
		return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "Unsupported x-oss-signature-version: " + v}
	}
	cred := strings.Split(q.Get("x-oss-credential"), "/")
	if len(cred) != 5 || cred[3] != v4Product || cred[4] != v4Terminator {
		return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "Invalid credential in x-oss-credential."}
	}
	id, date, region := cred[0], cred[1], cred[2]
	signedAt, err := time.Parse(v4DateTime, q.Get("x-oss-date"))
	if err != nil || signedAt.Format(v4Date) != date {
		return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "Invalid x-oss-date, or its date differs from the credential's."}
	}
	expires, err := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64)
	if err != nil || expires <= 0 || expires > v4MaxExpires {
		return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "x-oss-expires must be between 1 and 604800 seconds."}
	}
	now := o.opts.Now()
	if now.After(signedAt.Add(time.Duration(expires) * time.Second)) {
		return accessDenied("Request has expired.")
	}
	if signedAt.Sub(now) > timestampWindow {
		return &ossError{status: http.StatusForbidden, code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large."}
	}
	if region != o.opts.Region {
		return &ossError{status: http.StatusBadRequest, code: "InvalidArgument", message: "Invalid signing region in x-oss-credential: " + region}
	}
	secret, e := o.credential(id, q.Get("x-oss-security-token"))
	if e != nil {
		return e
	}
	var additional []string
	if a := q.Get("x-oss-additional-headers"); a != "" {
		additional = strings.Split(a, ";")
	}
	sts := v4StringToSign(q.Get("x-oss-date"), v4Scope(date, region),
		v4CanonicalRequest(r.Method, o.opts.Bucket, key, q, r.Header, r.Host, additional))
	sig := q.Get("x-oss-signature")
	if !hmac.Equal([]byte(v4Signature(secret, date, region, sts)), []byte(sig)) {
		return signatureMismatch(id, sig, sts)
	}
	return nil
}

// credential returns the secret of AccessKey id after checking the STS
// token the temporary key requires. A token beside the long-term key is left
// to the signature, which covers it.
func (o *OSS) credential(id, token string) (string, *ossError) {
	switch id {
	case o.opts.AccessKeyID:
		return o.opts.AccessKeySecret, nil
	case o.opts.STSAccessKeyID:
		if token == "" {
			return "", &ossError{status: http.StatusForbidden, code: "InvalidAccessKeyId", message: "The OSS Access Key Id you provided does not exist in our records."}
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(o.opts.SecurityToken)) != 1 {
			return "", &ossError{status: http.StatusForbidden, code: "InvalidSecurityToken", message: "The security token you provided is invalid."}
		}
		return o.opts.STSAccessKeySecret, nil
	}
	return "", &ossError{status: http.StatusForbidden, code: "InvalidAccessKeyId", message: "The OSS Access Key Id you provided does not exist in our records."}
}

func signatureMismatch(id, provided, stringToSign string) *ossError {
	return &ossError{
		status: http.StatusForbidden, code: "SignatureDoesNotMatch",
		message:     "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		accessKeyID: id, signatureProvided: provided, stringToSign: stringToSign,
	}
}

// ossErrorBody is OSS's XML error document.
type ossErrorBody struct {
	XMLName           xml.Name `xml:"Error"`
	Code              string   `xml:"Code"`
	Message           string   `xml:"Message"`
	RequestID         string   `xml:"RequestId"`
	HostID            string   `xml:"HostId"`
	OSSAccessKeyID    string   `xml:"OSSAccessKeyId,omitempty"`
	SignatureProvided string   `xml:"SignatureProvided,omitempty"`
	StringToSign      string   `xml:"StringToSign,omitempty"`
}

func writeOSSError(w http.ResponseWriter, r *http.Request, requestID string, e *ossError) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	_ = xml.NewEncoder(&buf).Encode(ossErrorBody{
		Code: e.code, Message: e.message, RequestID: requestID, HostID: r.Host,
		OSSAccessKeyID: e.accessKeyID, SignatureProvided: e.signatureProvided, StringToSign: e.stringToSign,
	})
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// statusRecorder remembers the status written, for Requests.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
