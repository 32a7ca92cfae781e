// Command barefn is the smallest function fc-runtime-go-sdk allows with an
// initializer: the baseline of the cold-start benchmarks. Its initializer
// does nothing and every invocation answers the same constant response.
package main

import (
	"context"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fc"
)

func main() {
	fc.RegisterInitializerFunction(func(context.Context) {})
	fc.Start(func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		return &events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{}, Body: "ok"}, nil
	})
}
