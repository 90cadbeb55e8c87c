#!/bin/sh
# chat-app.sh LOCK OUTDIR
#
# Puts the files of converse.js that roost's chat page loads at run time
# into OUTDIR: the version pinned in LOCK (the interop tests'
# package-lock.json, so that the tests drive what is shipped), one
# download of its npm tarball (npm pack, through the npm registry npm is
# set up for), checked against the lock's sha512 "integrity" before it is
# unpacked. Only what the page needs is kept: the minified script and
# style, the chunks it imports (translations), emoji.json, the OMEMO
# library and its WebAssembly, the fonts, sounds and images; no source
# maps, no unminified builds, no website styles. OUTDIR is replaced as a
# whole, so a failed run leaves the previous copy (or none).
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 LOCK OUTDIR" >&2
	exit 2
fi
lock=$1 out=$2
case $out in /*) ;; *) out="$(pwd)/$out" ;; esac
umask 022
export LC_ALL=C

for tool in node npm tar; do
	if ! command -v "$tool" >/dev/null; then
		echo "$0: $tool is needed to fetch converse.js (Debian: apt-get install nodejs npm)" >&2
		exit 1
	fi
done

# The pinned version and its integrity, from the lock.
pin=$(node -e '
const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).packages["node_modules/converse.js"];
if (!p || !p.version || !/^sha512-/.test(p.integrity || "")) { console.error("no pinned converse.js with a sha512 integrity"); process.exit(1); }
console.log(p.version + " " + p.integrity);
' "$lock")
version=${pin%% *} integrity=${pin#* }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "converse.js@$version" --silent --no-audit --no-fund >/dev/null)
tgz="$tmp/converse.js-$version.tgz"
got=$(node -e '
const data = require("fs").readFileSync(process.argv[1]);
console.log("sha512-" + require("crypto").createHash("sha512").update(data).digest("base64"));
' "$tgz")
if [ "$got" != "$integrity" ]; then
	echo "$0: converse.js $version: the download's checksum $got is not the lock's $integrity" >&2
	exit 1
fi

# -m: the files get the time of unpacking, so that make sees them newer
# than the lock (the tarball's times are 1985); build-deb.sh fixes them.
mkdir "$tmp/x"
tar -xzf "$tgz" -C "$tmp/x" -m --no-same-owner --no-same-permissions package/dist
dist="$tmp/x/package/dist"
new="$out.new"
rm -rf "$new"
mkdir -p "$new"
(cd "$dist" && find . -type f \( \
	-path ./converse.min.js -o -path ./converse.min.css -o \
	-path ./libomemo.esm.min.js -o -path ./curve25519_compiled.wasm -o \
	-path ./emoji.json -o -path ./shared-connection-worker.js -o \
	-path './chunkjs/*.js' -o \
	-path './webfonts/*.ttf' -o -path './webfonts/*.woff' -o -path './webfonts/*.woff2' -o \
	-path './sounds/*.mp3' -o -path './sounds/*.ogg' -o \
	-path './images/*.png' -o -path './images/*.svg' -o -path './images/*.ico' \
	\) -print) | sort >"$tmp/files"
if ! grep -qx './converse.min.js' "$tmp/files"; then
	echo "$0: converse.js $version has no dist/converse.min.js" >&2
	exit 1
fi
(cd "$dist" && while read -r f; do
	mkdir -p "$new/$(dirname "$f")"
	cp "$f" "$new/$f"
	chmod 0644 "$new/$f"
done) <"$tmp/files"
rm -rf "$out"
mv "$new" "$out"
echo "converse.js $version: $(wc -l <"$tmp/files") files in $out"
