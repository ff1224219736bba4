#!/bin/bash
# setup.sh -- install what the build needs (Debian 12, as root) and build
# zpoold in ./build.  Safe to run again: it installs only what is missing
# and rebuilds only what changed.
#
#   bash scripts/setup.sh [configure options...]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

mapfile -t pkgs < <(grep -v '^#' scripts/debian-packages)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages: ${missing[*]}" >&2
		echo "setup: run as root, or: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || "$top/configure" "$@"
make -j"$(nproc)"
