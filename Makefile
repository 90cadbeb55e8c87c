# roost — see README.md. Every target works on a fresh Debian machine once
# .ci/run (or `make deps`) has installed the test peers.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -trimpath, a fixed version string and no VCS stamping make the builds
# reproducible: two builds of one tree give the same bytes.
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$(VERSION)"
BIN       := bin
STATICCHECK := $(GO) tool -modfile=tools/go.mod staticcheck

.PHONY: all build run chat-app test unit interop check cross deb test-package fuzz bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/roost ./cmd/roost

# The one command to try roost: domain localhost, a self-signed
# certificate, data in ./data. The chat page's app is fetched on the first
# run (chat-app); without the Internet or npm the page loads it from the
# public copy instead, so that failing is no reason not to run.
run: build
	@$(MAKE) -s chat-app || echo "make run: no local copy of converse.js; the chat page will load it from the Internet"
	$(BIN)/roost serve

# converse.js for roost's own chat page, served by roost itself: the files
# it needs at run time, of the version the interop tests pin, one checked
# download (packaging/chat-app.sh). roost finds them in
# share/roost/chat-app beside the bin directory it runs from
# (/usr/share/roost/chat-app for /usr/bin/roost, where the .deb puts them).
# Defined before the rules that need it, as NODE_CLIENTS below.
CHAT_APP := share/roost/chat-app
chat-app: $(CHAT_APP)/converse.min.js
$(CHAT_APP)/converse.min.js: internal/interop/testdata/node/package-lock.json packaging/chat-app.sh
	packaging/chat-app.sh internal/interop/testdata/node/package-lock.json $(CHAT_APP)

# All tests: unit tests with the race detector, then the interoperability
# tests against real clients and servers (slixmpp, aioxmpp, profanity,
# mcabber, go-sendxmpp, poezio, converse.js in chromium, @xmpp/client,
# Prosody, ejabberd).
test: unit interop

unit:
	$(GO) test -race -count=1 ./...

# The JavaScript clients of the interop tests (@xmpp/client under Node,
# converse.js in Debian's chromium through playwright-core): one Node
# project, pinned by its package-lock.json and installed again when that
# changes. Defined before the rule that needs it: make expands a rule's
# prerequisites as it reads it.
NODE_CLIENTS := internal/interop/testdata/node
$(NODE_CLIENTS)/node_modules/.package-lock.json: $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error

interop: $(NODE_CLIENTS)/node_modules/.package-lock.json $(CHAT_APP)/converse.min.js
	$(GO) test -count=1 -tags interop -timeout 20m ./internal/interop/...

# The client matrix (TestInteropClients, part of `make interop`): slixmpp,
# aioxmpp, profanity, mcabber, go-sendxmpp and poezio log in to one roost
# over STARTTLS and direct TLS and exchange messages; this target runs it
# and rewrites docs/clients.md from the run (also when a client fails: the
# table then says which).
.PHONY: clients-doc
clients-doc:
	$(GO) test -count=1 -v -tags interop -timeout 5m -run '^TestInteropClients$$' ./internal/interop/ \
		-args -clients-doc=$(CURDIR)/docs/clients.md

check:
	@out=$$(gofmt -l .); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags interop ./internal/interop/...
	$(GO) vet -tags pkgtest ./internal/pkgtest/...
	$(STATICCHECK) ./...
	$(GO) test -count=1 -run 'TestImportsFlowDownwards|TestPackageDocs|TestServerDependencies' .

# Static binaries for the Raspberry Pi family and amd64, as installed by
# the .deb: they read /etc/roost/roost.toml when run without -config (and
# fall back to the built-in defaults when it does not exist). armv6 (Pi
# Zero and 1) needs GOARM=6: a GOARM=7 binary dies there with SIGILL.
CROSS_FLAGS := -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$(VERSION) -X main.defaultConfig=/etc/roost/roost.toml"
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64         $(GO) build $(CROSS_FLAGS) -o $(BIN)/roost-linux-amd64 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64         $(GO) build $(CROSS_FLAGS) -o $(BIN)/roost-linux-arm64 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7   $(GO) build $(CROSS_FLAGS) -o $(BIN)/roost-linux-armv7 ./cmd/roost
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6   $(GO) build $(CROSS_FLAGS) -o $(BIN)/roost-linux-armv6 ./cmd/roost

# Debian packages for amd64, arm64 and armhf (which carries the GOARM=6
# binary, so that one package runs on every Raspberry Pi), in $(BIN),
# with the chat page's converse.js in /usr/share/roost/chat-app.
DEB_VERSION ?= $(shell packaging/debversion.sh $(VERSION))
deb: cross $(CHAT_APP)/converse.min.js
	CHAT_APP=$(CHAT_APP) packaging/build-deb.sh amd64 $(BIN)/roost-linux-amd64 $(DEB_VERSION) $(BIN)
	CHAT_APP=$(CHAT_APP) packaging/build-deb.sh arm64 $(BIN)/roost-linux-arm64 $(DEB_VERSION) $(BIN)
	CHAT_APP=$(CHAT_APP) packaging/build-deb.sh armhf $(BIN)/roost-linux-armv6 $(DEB_VERSION) $(BIN)

# The packaging tests (root, qemu-user-static, lintian, debootstrap and
# Debian's mirror; .ci/run installs them): reproducible builds, lintian,
# the unit files, the ARM binaries and package tests under qemu, and
# install, upgrade, remove and purge of the arm64 .deb in a Debian arm64
# chroot. Not part of `make test`, which needs neither root nor a mirror.
test-package:
	$(GO) test -count=1 -tags pkgtest -timeout 40m -v ./internal/pkgtest/

# A run of every fuzz target, FUZZTIME each (`go test -fuzz` takes one
# target of one package at a time). The targets are found with grep, not
# `go test -list`, which would build every package's tests first.
# FUZZTIME is a count of inputs ("2000x"), not a duration: Go 1.26 can
# fail a duration run at its end with "context deadline exceeded" and no
# crasher (go.dev/issue/75804, fixed in Go 1.27). CI runs FUZZTIME=2000x
# (.ci/run); docs/security.md ("Fuzzing") says how to run it longer.
FUZZTIME ?= 300000x
fuzz:
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
			echo "== $$dir $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./xmlstream ./jid ./router ./stanza ./c2s ./internal/loadtool

clean:
	rm -rf $(BIN) share

# Side by side: roost, Prosody 0.12, ejabberd 23.01 and the TLS floor on
# loopback, the same accounts and loads on each (bench/peers/run.sh; it
# installs the peers when missing). Prints the table and regenerates
# docs/benchmarks.md; about ten minutes. Not part of `make test`.
# BENCHFLAGS go to `roostbench suite`, e.g. BENCHFLAGS=-quick.
.PHONY: bench-peers bench-profile soak
bench-peers:
	bench/peers/run.sh $(BENCHFLAGS)

# CPU and heap profiles of roost under each load of bench-peers, written to
# $(PROFILES) (go tool pprof bin/roostprof $(PROFILES)/msgs.cpu.pprof).
PROFILES ?= bench-profiles
bench-profile: build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/roostprof ./bench/roostprof
	CGO_ENABLED=0 $(GO) build -o $(BIN)/roostbench ./cmd/roostbench
	$(BIN)/roostbench suite -peers bench/peers -roost $(BIN)/roostprof -roost-cli $(BIN)/roost -servers roost -s2s=false \
		-pprof 127.0.73.10:6060 -profiles $(PROFILES) $(BENCHFLAGS)

# The soak: roost on 127.0.73.16 is measured (messages per CPU-second;
# resident memory, the lowest over 20 quiet seconds), 5,000 sessions log
# in and out in waves of 1,000, and it is measured again. Fails if
# messages per CPU-second drop by more than 15 % or its own memory
# (RssAnon: the mapped database left out) grows by more than 20 %. About
# four minutes; not part of `make test`. docs/security.md ("Soak") has a
# run's figures. SOAKFLAGS go to `roostbench soak`, e.g.
# SOAKFLAGS=-sessions=20000.
soak: build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/roostbench ./cmd/roostbench
	$(BIN)/roostbench soak -peers bench/peers -roost $(BIN)/roost $(SOAKFLAGS)
