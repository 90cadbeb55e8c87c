#!/usr/bin/env bash
# make bench-peers: roost, Prosody, ejabberd and the TLS floor side by side.
# Installs the peers when they are missing (Debian packages, as root),
# builds roost and the load tool, runs `roostbench suite`, prints the table
# and regenerates docs/benchmarks.md. Every server runs on its own loopback
# address (127.0.73.x) and is stopped at the end, also on failure or ^C.
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
export PATH=/usr/local/go/bin:$PATH

missing=()
command -v prosody >/dev/null || missing+=(prosody lua-unbound)
command -v erl >/dev/null && ls -d /usr/lib/*/ejabberd-[0-9]* >/dev/null 2>&1 || missing+=(ejabberd)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "bench-peers needs ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Keep the packages from starting system-wide services: the suite
	# starts its own, on its own addresses.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
mkdir -p bin
CGO_ENABLED=0 $GO build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$VERSION" -o bin/roost ./cmd/roost
CGO_ENABLED=0 $GO build -trimpath -buildvcs=false -o bin/roostbench ./cmd/roostbench

exec bin/roostbench suite -peers bench/peers -roost bin/roost -version "$VERSION" -out docs/benchmarks.md "$@"
