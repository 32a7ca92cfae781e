package httpapi

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/dms-export-link/dms-export-link/internal/specview"
)

// contract is the request side of openapi.yaml as the handler reads it
// (dmsexportlink.RequestSpec, cut by package specview): a router over the
// routes alone, and each operation's parameters, body and security, read on
// the operation's first request. An instance reads only the operations it
// serves; for most, one.
type contract struct {
	router routers.Router        // paths and methods to operationIds
	ops    map[string]*operation // by operationId
	reads  atomic.Int32          // operation documents read so far
}

// operation is where the routes put an operation, and its route, read from
// its document once.
type operation struct {
	path, method string
	route        func() (*routers.Route, error)
}

func loadContract(view []byte) (*contract, error) {
	routesDoc, docs, err := specview.Split(view)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(routesDoc)
	if err != nil {
		return nil, fmt.Errorf("load the routes: %w", err)
	}
	// The routes name no servers: the function answers on any host
	// (fcapp.run, custom domains, loopback).
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	ct := &contract{router: router, ops: map[string]*operation{}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			src, ok := docs[op.OperationID]
			if !ok {
				return nil, fmt.Errorf("%s %s: operation %q has no document", method, path, op.OperationID)
			}
			ct.ops[op.OperationID] = &operation{path: path, method: method, route: sync.OnceValues(func() (*routers.Route, error) {
				ct.reads.Add(1)
				return loadRoute(src, path, method)
			})}
		}
	}
	return ct, nil
}

// loadRoute reads one operation's document into the route kin-openapi
// validates its requests against.
func loadRoute(src []byte, path, method string) (*routers.Route, error) {
	doc, err := openapi3.NewLoader().LoadFromData(src)
	if err != nil {
		return nil, fmt.Errorf("httpapi: load %s %s: %w", method, path, err)
	}
	item := doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		return nil, fmt.Errorf("httpapi: the document of %s %s does not hold it", method, path)
	}
	return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}, nil
}

// route is operationId's route, its document read on first use.
func (ct *contract) route(operationID string) (*routers.Route, error) {
	op, ok := ct.ops[operationID]
	if !ok {
		return nil, fmt.Errorf("httpapi: no operation %q", operationID)
	}
	return op.route()
}
