package dms

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// endpointCases are clients' options, a call's region and the endpoint the
// call must go to.
var endpointCases = []struct {
	name      string
	opts      Options
	reqRegion string
	want      string
}{
	{"hangzhou public", Options{Region: "cn-hangzhou"}, "", "https://dms-enterprise.cn-hangzhou.aliyuncs.com/"},
	{"singapore public", Options{Region: "ap-southeast-1"}, "", "https://dms-enterprise.ap-southeast-1.aliyuncs.com/"},
	{"frankfurt public", Options{Region: "eu-central-1"}, "", "https://dms-enterprise.eu-central-1.aliyuncs.com/"},
	{"shanghai explicit public", Options{Region: "cn-shanghai", EndpointType: "public"}, "", "https://dms-enterprise.cn-shanghai.aliyuncs.com/"},
	{"singapore vpc", Options{Region: "ap-southeast-1", EndpointType: "vpc"}, "", "https://dms-enterprise-vpc.ap-southeast-1.aliyuncs.com/"},
	{"beijing vpc", Options{Region: "cn-beijing", EndpointType: "VPC"}, "", "https://dms-enterprise-vpc.cn-beijing.aliyuncs.com/"},
	{"the request's region", Options{Region: "cn-hangzhou"}, "ap-northeast-1", "https://dms-enterprise.ap-northeast-1.aliyuncs.com/"},
	{"override", Options{Region: "ap-southeast-1", EndpointType: "vpc", Endpoint: "dms.internal.example:8443"}, "", "https://dms.internal.example:8443/"},
	{"central override", Options{Region: "ap-southeast-1", Endpoint: "dms-enterprise.aliyuncs.com"}, "", "https://dms-enterprise.aliyuncs.com/"},
}

// TestEndpointIsRegional checks the address the SDK sends the call to: the
// documented regional endpoint of the call's region, public or VPC, over
// HTTPS, and DMS_ENDPOINT's host when set. (The SDK's own default sends
// every region to the central dms-enterprise.aliyuncs.com.) The transport
// records each request and stops it before dialling.
func TestEndpointIsRegional(t *testing.T) {
	for _, tt := range endpointCases {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string
			opts := tt.opts
			opts.Timeout = 5 * time.Second
			opts.Transport = &http.Transport{Proxy: func(r *http.Request) (*url.URL, error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
				return nil, errStopped
			}}
			c := newClient(t, opts)
			_, err := c.DownloadURL(fcContext(context.Background(), testCreds), Request{OrderID: 1, Region: tt.reqRegion})
			if got, want := asError(t, err).Kind, KindTransport; got != want {
				t.Errorf("kind = %v, want %v (%v)", got, want, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []string{tt.want}; !slices.Equal(seen, want) {
				t.Errorf("requests went to %q, want %q", seen, want)
			}
		})
	}
}

var errStopped = errors.New("stopped before dialling")

func TestEndpointTypeValidated(t *testing.T) {
	if _, err := New(Options{EndpointType: "internal"}); err == nil {
		t.Fatal("New accepted endpoint type \"internal\"")
	}
}
