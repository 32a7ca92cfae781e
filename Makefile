# The one build recipe, used by s.yaml's pre-deploy action and by the tests in tests/.
GO        ?= go
TARGET    ?= target
BINARY    := $(TARGET)/main
REDOCLY   := @redocly/cli@2.77.0
BUILDFLAGS := -trimpath -ldflags "-s -w"

.PHONY: demo test lint build package clean

## demo: run the function locally with its DMS emulator and sample tickets
demo:
	$(GO) run ./function -demo

## test: everything CI checks (gofmt, vet, staticcheck, tests with -race, spec lint)
test: lint
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	npx --yes $(REDOCLY) lint --format=stylish openapi.yaml

## build: the stripped linux/amd64 binary FC runs (handler "main" in ./target)
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(BUILDFLAGS) -o $(BINARY) ./function

## package: the zip FC accepts: the executable at the root with its run bit
package: build
	rm -f $(TARGET)/function.zip
	cd $(TARGET) && zip -X -q function.zip main

clean:
	rm -rf $(TARGET)
