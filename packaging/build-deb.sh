#!/bin/sh
# build-deb.sh ARCH BINARY VERSION OUTDIR
#
# Builds roost_VERSION_ARCH.deb in OUTDIR from a roost binary built by
# `make cross`, with dpkg-deb only (no debhelper, no source package).
# The result is reproducible: file order, owners, modes and timestamps
# (SOURCE_DATE_EPOCH, default: the last commit's time) are fixed.
#
# The chat page's converse.js files (`make chat-app`) are taken from
# $CHAT_APP (default: share/roost/chat-app in the source tree) and go to
# /usr/share/roost/chat-app, where roost looks for them.
set -eu

if [ $# -ne 4 ]; then
	echo "usage: $0 amd64|arm64|armhf BINARY VERSION OUTDIR" >&2
	exit 2
fi
arch=$1 bin=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
umask 022
export LC_ALL=C TZ=UTC

case $arch in
amd64 | arm64 | armhf) ;;
*) echo "$0: unknown architecture $arch" >&2; exit 2 ;;
esac
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
chat_app=${CHAT_APP:-$top/share/roost/chat-app}
if [ ! -f "$chat_app/converse.min.js" ]; then
	echo "$0: no converse.js in $chat_app: run make chat-app" >&2
	exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
	"$root/etc/roost" "$root/usr/share/man/man8" "$root/usr/share/doc/roost" \
	"$root/usr/share/lintian/overrides"
install -m 0755 "$bin" "$root/usr/bin/roost"
for unit in roost.service roost-c2s.socket roost-c2s-tls.socket roost-s2s.socket \
	roost-s2s-tls.socket roost-https.socket roost-http.socket roost-component.socket; do
	install -m 0644 "$top/systemd/$unit" "$root/lib/systemd/system/$unit"
done
"$here/conffile.sh" "$top/config/roost.toml" >"$root/etc/roost/roost.toml"
chmod 0644 "$root/etc/roost/roost.toml"
gzip -9n <"$here/roost.8" >"$root/usr/share/man/man8/roost.8.gz"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/roost/copyright"
install -m 0644 "$here/debian/lintian-overrides" "$root/usr/share/lintian/overrides/roost"
install -d -m 0755 "$root/usr/share/roost/chat-app"
(cd "$chat_app" && find . -type f | sort) | while read -r f; do
	install -D -m 0644 "$chat_app/$f" "$root/usr/share/roost/chat-app/$f"
done
{
	printf 'roost (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from the roost source tree (see git log for changes).\n\n'
	printf ' -- roost authors <roost@roost.invalid>  %s\n' "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$root/usr/share/doc/roost/changelog.gz"
chmod 0644 "$root/usr/share/man/man8/roost.8.gz" "$root/usr/share/doc/roost/changelog.gz"

for f in postinst prerm postrm; do
	install -m 0755 "$here/debian/$f" "$root/DEBIAN/$f"
done
echo /etc/roost/roost.toml >"$root/DEBIAN/conffiles"
# Installed-Size in KiB as dpkg-gencontrol counts it (file sizes rounded up,
# one unit per directory), so it does not depend on the build filesystem.
size=$(cd "$root" && find usr lib etc -type f -printf '%s\n' | awk '{ s += int(($1 + 1023) / 1024) } END { print s }')
dirs=$(cd "$root" && find usr lib etc -type d | wc -l)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$((size + dirs))/" \
	"$here/debian/control" >"$root/DEBIAN/control"
(cd "$root" && find usr lib -type f | sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb="$out/roost_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
