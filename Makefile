# The one build recipe, used by s.yaml's pre-deploy action and by the tests in tests/.
GO        ?= go
TARGET    ?= target
BINARY    := $(TARGET)/main
DIST      ?= dist
PACKAGE   := $(DIST)/function.zip
REDOCLY   := @redocly/cli@2.77.0
SPECTRAL  := @stoplight/spectral-cli@6.16.3
SDEVS     := @serverless-devs/s@3.1.10
BUILDFLAGS := -trimpath -ldflags "-s -w"

.PHONY: demo test setup lint preview build package clean

## demo: run the function locally with its DMS emulator and sample tickets
demo:
	$(GO) run ./function -demo

## test: everything CI checks (gofmt, vet, staticcheck, spec lint by Redocly and Spectral, s.yaml preview, tests with -race)
test: setup lint preview
	$(GO) test -race ./...

## setup: install what the tests need (Chromium, redis-server, Node.js, zip) or say what is missing
setup:
	@bash .ci/setup

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	npx --yes $(REDOCLY) lint --format=stylish openapi.yaml
	npx --yes $(SPECTRAL) lint --fail-severity=warn --ruleset .spectral.yaml openapi.yaml

## preview: s.yaml, s.custom.yaml and s.redis.yaml (shared state in a VPC) render offline with
## Serverless Devs, every ${...} resolved. The variables they require get dummy values; a throwaway
## HOME keeps your `s config` credentials out of it.
TEMPLATES := s.yaml s.custom.yaml s.redis.yaml
preview:
	@home=$$(mktemp -d); trap 'rm -rf "$$home"' EXIT; \
	for t in $(TEMPLATES); do \
	extra=; want=runtime; \
	if [ $$t = s.redis.yaml ]; then want=vpcConfig; \
		extra="REDIS_URL=redis://:preview-only@r-preview.redis.rds.aliyuncs.com:6379/0 FC_VPC_ID=vpc-preview FC_VSWITCH_ID=vsw-preview FC_SECURITY_GROUP_ID=sg-preview"; fi; \
	out=$$(env HOME="$$home" npm_config_cache="$${npm_config_cache:-$$HOME/.npm}" npm_config_update_notifier=false \
		FC_ROLE_ARN=acs:ram::1234567890:role/dms-export-link LINK_KEYS=k1:preview-only $$extra \
		npx --yes $(SDEVS) preview -t $$t -o yaml --silent 2>&1) || { echo "$$out"; echo "$$t: s preview failed"; exit 1; }; \
	if printf '%s\n' "$$out" | grep -n '\$${'; then echo "$$t: unresolved variables above"; exit 1; fi; \
	printf '%s\n' "$$out" | grep -q "$$want" || { echo "$$out"; echo "$$t: no $$want"; exit 1; }; \
	echo "$$t renders ($(SDEVS) preview)"; \
	done

## build: the stripped linux/amd64 binary FC runs (handler "main" in ./target)
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(BUILDFLAGS) -o $(BINARY) ./function

## package: the zip FC accepts (the executable at the root with its run bit), written
## outside $(TARGET), the folder `s deploy` uploads
package: build
	mkdir -p $(DIST)
	rm -f $(PACKAGE)
	cd $(TARGET) && zip -X -q $(abspath $(PACKAGE)) main

clean:
	rm -rf $(TARGET) $(DIST)
