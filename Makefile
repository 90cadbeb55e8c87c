# roost — see README.md. Every target works on a fresh Debian machine once
# .ci/run (or `make deps`) has installed the test peers.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -trimpath, a fixed version string and no VCS stamping make the builds
# reproducible: two builds of one tree give the same bytes.
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$(VERSION)"
BIN       := bin
STATICCHECK := $(GO) tool -modfile=tools/go.mod staticcheck

.PHONY: all build run test unit interop check cross fuzz bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost ./cmd/roost

# The one command to try roost: domain localhost, a self-signed
# certificate, data in ./data.
run: build
	$(BIN)/roost serve

# All tests: unit tests with the race detector, then the interoperability
# tests against real clients and servers (slixmpp, Prosody, ejabberd).
test: unit interop

unit:
	$(GO) test -race -count=1 ./...

interop:
	$(GO) test -count=1 -tags interop -timeout 20m ./internal/interop/...

check:
	@out=$$(gofmt -l .); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags interop ./internal/interop/...
	$(STATICCHECK) ./...
	$(GO) test -count=1 -run 'TestImportsFlowDownwards|TestPackageDocs|TestServerDependencies' .

# Static binaries for the Raspberry Pi family and amd64.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64         $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost-linux-amd64 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64         $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost-linux-arm64 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7   $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost-linux-armv7 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6   $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost-linux-armv6 ./cmd/roost

# A short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./xmlstream ./jid ./router ./stanza

clean:
	rm -rf $(BIN)
