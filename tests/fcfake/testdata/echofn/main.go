// Command echofn is a test function for fcfake: built with fc-runtime-go-sdk like the real
// function, it answers every HTTP trigger event with what it received.
//
// Paths: /panic panics, /error returns an error, /sleep?ms=N sleeps N ms ignoring the deadline,
// /binary answers a base64 body, /status?code=N answers status N, /size answers the length of
// the event's body; anything else echoes.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// binaryBody is what /binary answers, base64-encoded in the response (fcfake_test.go expects it).
var binaryBody = []byte{0x00, 0xff, 0xfe, 'o', 'k'}

// echo is the JSON document the function answers with (mirrored by fcfake_test.go).
type echo struct {
	Event       events.HTTPTriggerEvent `json:"event"`
	RequestID   string                  `json:"requestId"`
	Credentials fccontext.Credentials   `json:"credentials"`
	Function    fccontext.Function      `json:"function"`
	Region      string                  `json:"region"`
	AccountID   string                  `json:"accountId"`
	RetryCount  int                     `json:"retryCount"`
	DeadlineMS  int64                   `json:"deadlineMs"`
	Initialized bool                    `json:"initialized"`
}

type echoFunction struct {
	initialized atomic.Bool
}

func (f *echoFunction) initialize(context.Context) { f.initialized.Store(true) }

func (f *echoFunction) handle(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	path := ""
	if ev.TriggerContext.Http.Path != nil {
		path = *ev.TriggerContext.Http.Path
	}
	query := map[string]string{}
	if ev.QueryParameters != nil {
		query = *ev.QueryParameters
	}
	switch path {
	case "/panic":
		panic("echofn: asked to panic")
	case "/error":
		return nil, errors.New("echofn: asked to fail")
	case "/sleep":
		ms, _ := strconv.Atoi(query["ms"])
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "/binary":
		return &events.HTTPTriggerResponse{
			StatusCode:      200,
			Headers:         map[string]string{"Content-Type": "application/octet-stream"},
			IsBase64Encoded: true,
			Body:            base64.StdEncoding.EncodeToString(binaryBody),
		}, nil
	case "/size":
		n := 0
		if ev.Body != nil {
			n = len(*ev.Body)
		}
		return &events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{}, Body: strconv.Itoa(n)}, nil
	case "/status":
		code, _ := strconv.Atoi(query["code"])
		return &events.HTTPTriggerResponse{StatusCode: code, Headers: map[string]string{}}, nil
	}

	reply := echo{Event: ev, Initialized: f.initialized.Load()}
	if fctx, ok := fccontext.FromContext(ctx); ok {
		reply.RequestID = fctx.RequestID
		reply.Credentials = fctx.Credentials
		reply.Function = fctx.Function
		reply.Region = fctx.Region
		reply.AccountID = fctx.AccountId
		reply.RetryCount = fctx.RetryCount
	}
	if d, ok := ctx.Deadline(); ok {
		reply.DeadlineMS = d.UnixMilli()
	}
	body, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	// The wrong Content-Length checks that the front door drops it rather than breaking the reply.
	return &events.HTTPTriggerResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json", "X-Echo": "1", "Content-Length": "1"},
		Body:       string(body),
	}, nil
}

func main() {
	f := &echoFunction{}
	fc.RegisterInitializerFunction(f.initialize)
	fc.Start(f.handle)
}
