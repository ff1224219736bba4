#!/bin/sh
# test_socket_activation.sh -- zpoold serves clients on a listening socket
# handed to it the systemd way (fd 3, LISTEN_FDS=1, LISTEN_PID), and
# treats that socket as systemd's: it neither binds the configured path
# nor unlinks the socket when it exits.
set -eu
. "${abs_top_srcdir:?run this test through make check}/tests/service-lib.sh"

zpoold=$abs_top_builddir/daemon/zpoold
activate=$abs_top_builddir/tests/zp_activate
roundtrip=$abs_top_builddir/tests/zp_roundtrip

[ -x "$zpoold" ] || zp_skip "zpoold is not built yet"
# sd_listen_fds() with libsystemd, LISTEN_FDS read by hand without it.
grep -q -e sd_listen_fds -e LISTEN_FDS "$zpoold" ||
	zp_skip "this zpoold has no socket activation"

zp_mktemp activation
sock=$zp_tmp/zp.sock
# The configured socket lies in a directory that does not exist: a
# zpoold that tried to bind it instead of using fd 3 would fail to start.
cat >"$zp_tmp/zpoold.conf" <<CONF
socket $zp_tmp/absent/zp.sock
log_level debug
workers 2
CONF

"$activate" "$sock" "$zpoold" --foreground --config "$zp_tmp/zpoold.conf" \
	>"$zp_tmp/zpoold.log" 2>&1 &
pid=$!
zp_pids=$pid
zp_wait_socket "$sock" 10 || zp_fail "zp_activate did not create $sock"
inode=$(stat -c %i "$sock")

# The socket listens before zpoold runs: connecting at once must work.
"$roundtrip" "$sock" 200 >"$zp_tmp/roundtrip.log" 2>&1 ||
	zp_fail "a client was not served through the passed socket"
grep -qx 'ok 200' "$zp_tmp/roundtrip.log" || zp_fail "pages came back wrong"
echo "ok: client served through the activated socket"

# A second client, after the first one went away.
"$roundtrip" "$sock" 16 >>"$zp_tmp/roundtrip.log" 2>&1 ||
	zp_fail "a second client was not served"
echo "ok: second client served"

kill -0 "$pid" 2>/dev/null || zp_fail "zpoold exited"
[ "$(stat -c %i "$sock")" = "$inode" ] ||
	zp_fail "zpoold replaced the socket it was given"
[ ! -e "$zp_tmp/absent" ] || zp_fail "zpoold created the configured path"

st=0
zp_stop "$pid" || st=$?
[ "$st" -eq 0 ] || zp_fail "zpoold exited with status $st on SIGTERM"
[ -S "$sock" ] || zp_fail "zpoold removed systemd's socket on exit"
echo "ok: SIGTERM exits 0 and leaves the socket to systemd"
