package dmsfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OSSOptions configure an OSS bucket emulator.
type OSSOptions struct {
	Bucket, AccessKeyID, AccessKeySecret string
	Now                                  func() time.Time // default time.Now
}

// OSSRequest is one request the bucket received.
type OSSRequest struct {
	Method, Key, Referer, UserAgent string
	Status                          int
}

type ossObject struct {
	data    []byte
	modTime time.Time
}

// OSS is an http.Handler emulating one OSS bucket reached through V1
// presigned URLs (Expires, OSSAccessKeyId, Signature). It is safe for
// concurrent use.
type OSS struct {
	opts OSSOptions

	mu       sync.Mutex
	baseURL  string
	objects  map[string]ossObject
	requests []OSSRequest
}

// NewOSS returns an empty bucket.
func NewOSS(opts OSSOptions) *OSS {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &OSS{opts: opts, objects: make(map[string]ossObject)}
}

// SetBaseURL sets the scheme and host of minted URLs, e.g. "http://127.0.0.1:port".
func (o *OSS) SetBaseURL(u string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.baseURL = strings.TrimSuffix(u, "/")
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

// SignURL mints a V1 presigned GET URL for key, valid until expires.
func (o *OSS) SignURL(key string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	sig := o.signature(http.MethodGet, "", "", exp, "", key)
	q := "Expires=" + exp + "&OSSAccessKeyId=" + url.QueryEscape(o.opts.AccessKeyID) +
		"&Signature=" + url.QueryEscape(sig)
	o.mu.Lock()
	base := o.baseURL
	o.mu.Unlock()
	return base + "/" + escapeKey(key) + "?" + q
}

// escapeKey escapes each path segment of an object key.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// signature is OSS V1: base64(HMAC-SHA1(secret, VERB\nContent-MD5\nContent-Type\nExpires\n
// CanonicalizedOSSHeaders/bucket/key)).
func (o *OSS) signature(method, contentMD5, contentType, expires, ossHeaders, key string) string {
	sts := method + "\n" + contentMD5 + "\n" + contentType + "\n" + expires + "\n" +
		ossHeaders + "/" + o.opts.Bucket + "/" + key
	m := hmac.New(sha1.New, []byte(o.opts.AccessKeySecret))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// canonicalOSSHeaders is the sorted "x-oss-name:value\n" lines a client
// signed along with the request.
func canonicalOSSHeaders(h http.Header) string {
	var lines []string
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-oss-") {
			lines = append(lines, lk+":"+strings.TrimSpace(strings.Join(v, ","))+"\n")
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

type ossError struct {
	status        int
	code, message string
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
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return &ossError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource."}
	}
	q := r.URL.Query()
	exp, id, sig := q.Get("Expires"), q.Get("OSSAccessKeyId"), q.Get("Signature")
	if exp == "" && id == "" && sig == "" {
		return &ossError{http.StatusForbidden, "AccessDenied", "You have no right to access this object because of bucket acl."}
	}
	if exp == "" || id == "" || sig == "" {
		return &ossError{http.StatusForbidden, "AccessDenied", "Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters"}
	}
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return &ossError{http.StatusForbidden, "AccessDenied", "Invalid date (should be seconds since epoch): " + exp}
	}
	if o.opts.Now().Unix() > expUnix {
		return &ossError{http.StatusForbidden, "AccessDenied", "Request has expired."}
	}
	if id != o.opts.AccessKeyID {
		return &ossError{http.StatusForbidden, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."}
	}
	want := o.signature(r.Method, r.Header.Get("Content-MD5"), r.Header.Get("Content-Type"), exp, canonicalOSSHeaders(r.Header), key)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return &ossError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	}
	o.mu.Lock()
	obj, ok := o.objects[key]
	o.mu.Unlock()
	if !ok {
		return &ossError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."}
	}
	ctype := "application/octet-stream"
	if strings.HasSuffix(strings.ToLower(key), ".zip") {
		ctype = "application/zip"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `attachment; filename="`+path.Base(key)+`"`)
	sum := md5.Sum(obj.data)
	h.Set("ETag", `"`+strings.ToUpper(hex.EncodeToString(sum[:]))+`"`)
	http.ServeContent(w, r, "", obj.modTime, bytes.NewReader(obj.data))
	return nil
}

type ossErrorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

func writeOSSError(w http.ResponseWriter, r *http.Request, requestID string, e *ossError) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	_ = xml.NewEncoder(&buf).Encode(ossErrorBody{Code: e.code, Message: e.message, RequestID: requestID, HostID: r.Host})
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
