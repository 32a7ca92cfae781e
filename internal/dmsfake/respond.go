package dmsfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// gwError is a gateway (POP) error: non-2xx with Code and Message.
type gwError struct {
	status        int
	code, message string
}

// Messages follow the real gateway's wording where it is known
// (docs/dms-sdk.md, "Answers and errors"); the rest are plausible stand-ins.
var (
	errThrottled = gwError{http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control."}
	errUnavail   = gwError{http.StatusServiceUnavailable, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."}
	errForbidden = gwError{http.StatusForbidden, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM."}
	errNoAPI     = gwError{http.StatusNotFound, "InvalidApi.NotFound", "Specified api is not found, please check your url and method."}
	errVersion   = gwError{http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid."}
)

func invalidParameter(name string) *gwError {
	return &gwError{http.StatusBadRequest, "InvalidParameter", "The specified parameter " + name + " is not valid."}
}

func missing(name string) *gwError {
	return &gwError{http.StatusBadRequest, "Missing" + name, `The input parameter "` + name + `" that is mandatory for processing this request is not supplied.`}
}

// newRequestID returns a random id shaped like DMS's
// ("5A1C2E3F-0B4D-4E6F-8A9B-C0D1E2F3A4B5").
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

type errorBody struct {
	XMLName   xml.Name `json:"-" xml:"Error"`
	RequestID string   `json:"RequestId" xml:"RequestId"`
	HostID    string   `json:"HostId" xml:"HostId"`
	Code      string   `json:"Code" xml:"Code"`
	Message   string   `json:"Message" xml:"Message"`
	Recommend string   `json:"Recommend" xml:"Recommend"`
}

type urlResult struct {
	HasResult  bool   `json:"HasResult" xml:"HasResult"`
	URL        string `json:"URL" xml:"URL"`
	TipMessage string `json:"TipMessage" xml:"TipMessage"`
}

// successBody is §3.3's shape: DownloadURLResult when DMS accepted the
// call, ErrorCode/ErrorMessage when it did not.
type successBody struct {
	XMLName           xml.Name   `json:"-" xml:"GetDataExportDownloadURLResponse"`
	RequestID         string     `json:"RequestId" xml:"RequestId"`
	Success           bool       `json:"Success" xml:"Success"`
	ErrorCode         string     `json:"ErrorCode,omitempty" xml:"ErrorCode,omitempty"`
	ErrorMessage      string     `json:"ErrorMessage,omitempty" xml:"ErrorMessage,omitempty"`
	DownloadURLResult *urlResult `json:"DownloadURLResult,omitempty" xml:"DownloadURLResult,omitempty"`
}

// isXML reports whether the caller asked for XML. The SDK always sends
// Format; the gateway's default without one is XML.
func isXML(format string) bool {
	return format == "" || strings.EqualFold(format, "XML")
}

func writeBody(w http.ResponseWriter, format, requestID string, status int, v any) {
	var buf bytes.Buffer
	if isXML(format) {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		buf.WriteString(xml.Header)
		_ = xml.NewEncoder(&buf).Encode(v)
	} else {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_ = json.NewEncoder(&buf).Encode(v)
	}
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, r *http.Request, format, requestID string, e *gwError) {
	writeBody(w, format, requestID, e.status, errorBody{
		RequestID: requestID,
		HostID:    r.Host,
		Code:      e.code,
		Message:   e.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.code) +
			"&product=dms-enterprise&requestId=" + requestID,
	})
}
