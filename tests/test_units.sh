#!/bin/sh
# test_units.sh -- the systemd units pass `systemd-analyze verify`, in
# both flavours of zpoold.service (Type=notify with libsystemd,
# Type=simple without), laid out as `make install` lays them out, with the
# daemon and the man pages they name in place.  They must also agree with
# the build: ExecStart is the installed zpoold, Type=notify only when
# zpoold really links libsystemd, and the socket is where libzpclient
# looks by default.
set -eu
. "${abs_top_srcdir:?run this test through make check}/tests/service-lib.sh"

: "${sbindir:?}"
service=$abs_top_builddir/systemd/zpoold.service
socket=$abs_top_srcdir/systemd/zpoold.socket
zpoold=$abs_top_builddir/daemon/zpoold

[ -f "$service" ] || zp_fail "$service was not generated"
[ -f "$socket" ] || zp_fail "$socket is missing"

# Agreement with the build, checked whether or not systemd is here.
grep -q '@[A-Za-z_]*@' "$service" && zp_fail "unsubstituted @...@ in $service"
grep -qx "ExecStart=$sbindir/zpoold --foreground" "$service" ||
	zp_fail "ExecStart is not $sbindir/zpoold --foreground"
default=$(sed -n 's/^#define ZP_DEFAULT_SOCKET[[:space:]]*"\(.*\)"$/\1/p' \
	"$abs_top_srcdir/include/zpclient.h")
grep -qx "ListenStream=$default" "$socket" ||
	zp_fail "zpoold.socket does not listen on $default"
grep -qx 'SocketMode=0666' "$socket" || zp_fail "SocketMode is not 0666"
type=$(sed -n 's/^Type=//p' "$service")
if [ -x "$zpoold" ]; then
	if ldd "$zpoold" | grep -q 'libsystemd\.so'; then
		want=notify
	else
		want=simple
	fi
	[ "$type" = "$want" ] ||
		zp_fail "Type=$type but zpoold would need Type=$want"
	echo "ok: Type=$type matches the zpoold binary"
fi

command -v systemd-analyze >/dev/null 2>&1 ||
	zp_skip "systemd-analyze not found (apt-get install systemd)"
[ -x "$zpoold" ] || zp_skip "zpoold is not built yet"
hostunits=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/sysinit.target" ]; then
		hostunits=$d
		break
	fi
done
[ -n "$hostunits" ] || zp_skip "no systemd unit directory on this machine"

zp_mktemp units
# A root in which the units find what they refer to: the standard
# targets, the daemon at @sbindir@ and, on MANPATH, the pages named in
# Documentation=.  The units go to /etc/systemd/system in it, because
# verify --root only finds units on systemd's own search path, which
# $systemdsystemunitdir need not be (make distcheck's prefix is not).
root=$zp_tmp/root
units=$root/etc/systemd/system
mkdir -p "$root/usr/lib/systemd" "$root$sbindir" "$units" \
	"$zp_tmp/man/man5" "$zp_tmp/man/man8"
cp -R "$hostunits" "$root/usr/lib/systemd/"
cp "$zpoold" "$root$sbindir/zpoold"
cp "$abs_top_builddir/docs/zpoold.8" "$zp_tmp/man/man8/"
cp "$abs_top_builddir/docs/zpoold.conf.5" "$zp_tmp/man/man5/"
cp "$socket" "$units/zpoold.socket"

for t in notify simple; do
	sed "s/^Type=.*/Type=$t/" "$service" >"$units/zpoold.service"
	if ! MANPATH=$zp_tmp/man systemd-analyze verify --root="$root" \
	    "$units/zpoold.service" "$units/zpoold.socket" \
	    >"$zp_tmp/verify-$t.log" 2>&1; then
		zp_fail "systemd-analyze verify failed with Type=$t"
	fi
	# verify exits 0 on some warnings; any output is a finding.
	if [ -s "$zp_tmp/verify-$t.log" ]; then
		zp_fail "systemd-analyze verify has findings with Type=$t"
	fi
	echo "ok: systemd-analyze verify, Type=$t"
done
