#!/bin/sh
# debversion.sh VERSION: the Debian package version for a roost version
# string from `git describe --tags --always --dirty`. Tagged builds keep
# the tag ("v1.2.0-3-gabc1234" becomes "1.2.0+git3.gabc1234"); untagged
# ones count commits, so that each build of a later commit sorts higher
# ("0e283a6" becomes "0~git7.g0e283a6"). A dirty tree adds ".dirty".
set -eu
v=${1#v}
base=${v%%-*}
# A tag has a dot ("1.2.0"); an abbreviated commit hash has none.
case $base in
[0-9]*.*)
	rest=${v#"$base"}
	rest=$(printf '%s' "${rest#-}" | tr - .)
	if [ -n "$rest" ]; then
		echo "$base+git$rest"
	else
		echo "$base"
	fi
	;;
*)
	n=$(git -C "$(dirname "$0")" rev-list --count HEAD 2>/dev/null || echo 0)
	echo "0~git$n.g$(printf '%s' "$v" | tr - .)"
	;;
esac
