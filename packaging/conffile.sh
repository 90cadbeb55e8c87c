#!/bin/sh
# conffile.sh DEFAULT > /etc/roost/roost.toml
#
# Derives the packaged configuration from config/roost.toml, the commented
# default, changing only what the service needs: logs in the journal's
# format, and the admin socket in /run/roost (RuntimeDirectory=, which the
# hardened unit can write) open to the roost group. Each change must
# match exactly once, so that an edit of the default cannot silently drop
# one.
set -eu
src=$1

for want in '^# format = "text"$' '^# socket = "/var/lib/roost/admin.sock"$' '^# group = ""$' '^data_dir = "/var/lib/roost"$'; do
	n=$(grep -c "$want" "$src" || true)
	if [ "$n" != 1 ]; then
		echo "$0: $src: expected one line matching $want, found $n" >&2
		exit 1
	fi
done

sed -e 's|^# format = "text"$|# format = "text"\
# Installed by the Debian package: systemd journal format.\
format = "journal"|' \
	-e 's|^# socket = "/var/lib/roost/admin.sock"$|# Installed by the Debian package: in the service'"'"'s runtime directory.\
socket = "/run/roost/admin.sock"|' \
	-e 's|^# group = ""$|# Installed by the Debian package: members of the roost group may\
# administer roost (sudo adduser YOU roost).\
group = "roost"|' \
	"$src"
