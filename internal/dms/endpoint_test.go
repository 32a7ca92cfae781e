package dms

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// hostRecorder is a transport that never reaches the network: it records
// the address every connection is dialled to and refuses it.
type hostRecorder struct {
	mu    sync.Mutex
	addrs []string
}

var errRecorded = errors.New("recorded, not dialled")

func (h *hostRecorder) transport() *http.Transport {
	return &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.addrs = append(h.addrs, addr)
		return nil, errRecorded
	}}
}

// TestEndpointIsRegional checks the host the SDK addresses: the documented
// regional endpoint of the call's region, public or VPC, and DMS_ENDPOINT's
// host when set. The SDK's own default sends every region to the central
// dms-enterprise.aliyuncs.com.
func TestEndpointIsRegional(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		reqRegion  string
		wantDialed string
	}{
		{"hangzhou public", Options{Region: "cn-hangzhou"}, "", "dms-enterprise.cn-hangzhou.aliyuncs.com:443"},
		{"singapore public", Options{Region: "ap-southeast-1"}, "", "dms-enterprise.ap-southeast-1.aliyuncs.com:443"},
		{"shanghai explicit public", Options{Region: "cn-shanghai", EndpointType: "public"}, "", "dms-enterprise.cn-shanghai.aliyuncs.com:443"},
		{"singapore vpc", Options{Region: "ap-southeast-1", EndpointType: "vpc"}, "", "dms-enterprise-vpc.ap-southeast-1.aliyuncs.com:443"},
		{"beijing vpc", Options{Region: "cn-beijing", EndpointType: "VPC"}, "", "dms-enterprise-vpc.cn-beijing.aliyuncs.com:443"},
		{"request region wins", Options{Region: "cn-hangzhou"}, "eu-central-1", "dms-enterprise.eu-central-1.aliyuncs.com:443"},
		{"override", Options{Region: "ap-southeast-1", EndpointType: "vpc", Endpoint: "dms.internal.example:8443"}, "", "dms.internal.example:8443"},
		{"override without port", Options{Region: "cn-hangzhou", Endpoint: "dms-enterprise.aliyuncs.com"}, "", "dms-enterprise.aliyuncs.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &hostRecorder{}
			opts := tt.opts
			opts.Transport = rec.transport()
			opts.Timeout = 5 * time.Second
			c := newClient(t, opts)
			_, err := c.DownloadURL(fcContext(context.Background(), testCreds), Request{OrderID: 1, Region: tt.reqRegion})
			var de *Error
			if !errors.As(err, &de) || de.Kind != KindTransport {
				t.Fatalf("DownloadURL error %v, want the recorder's transport error", err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.addrs) != 1 || rec.addrs[0] != tt.wantDialed {
				t.Errorf("dialled %q, want exactly [%s]", rec.addrs, tt.wantDialed)
			}
		})
	}
}

func TestEndpointTypeValidated(t *testing.T) {
	if _, err := New(Options{EndpointType: "internal"}); err == nil {
		t.Fatal("New accepted endpoint type \"internal\"")
	}
}
