#!/bin/sh
# test_install.sh -- what `make install` puts on a system works there.
#
# Installs into a DESTDIR, checks that every file a package needs is in
# its place (and no internal header is), builds the shipped example and
# the man page's example with `pkg-config --cflags --libs zpclient`
# against the *installed* header and library only, runs them against the
# *installed* zpoold, and, where strace is available, checks that this
# zpoold stays inside the sandbox zpoold.service puts it in: only system
# calls that SystemCallFilter= allows, AF_UNIX sockets only, no
# writable-and-executable memory, no file opened for writing, no other
# process looked at in /proc.
set -eu
. "${abs_top_srcdir:?run this test through make check}/tests/service-lib.sh"

: "${sbindir:?}" "${bindir:?}" "${libdir:?}" "${includedir:?}"
: "${pkgconfigdir:?}" "${sysconfdir:?}" "${mandir:?}" "${docdir:?}"
: "${systemdsystemunitdir:?}"

[ -x "$abs_top_builddir/daemon/zpoold" ] || zp_skip "zpoold is not built yet"
command -v pkg-config >/dev/null 2>&1 || zp_skip "pkg-config not found"

zp_mktemp install
dest=$zp_tmp/dest
# The inner make must not join the outer one's jobserver or inherit its
# command-line variables.
make=${MAKE:-make}
unset MAKEFLAGS MFLAGS MAKELEVEL || :

if ! (cd "$abs_top_builddir" && $make install DESTDIR="$dest") \
    >"$zp_tmp/install.log" 2>&1; then
	zp_fail "make install DESTDIR=$dest failed"
fi
echo "ok: make install DESTDIR=..."

# --- the files --------------------------------------------------------

need()
{
	[ -f "$dest$1" ] || zp_fail "not installed: $1"
}

need_x()
{
	[ -f "$dest$1" ] && [ -x "$dest$1" ] ||
		zp_fail "not installed as a program: $1"
}

need_x "$sbindir/zpoold"
for tool in zpctl zpbench; do
	[ -x "$abs_top_builddir/tools/$tool" ] || continue
	[ -x "$dest$sbindir/$tool" ] || [ -x "$dest$bindir/$tool" ] ||
		zp_fail "not installed: $tool"
done
need "$libdir/libzpclient.a"
need "$libdir/libzpclient.so"
ls "$dest$libdir"/libzpclient.so.[0-9]* >/dev/null 2>&1 ||
	zp_fail "no versioned libzpclient.so.N in $libdir"
need "$includedir/zpclient.h"
headers=$(cd "$dest$includedir" && ls)
[ "$headers" = zpclient.h ] ||
	zp_fail "internal headers installed in $includedir: $headers"
need "$pkgconfigdir/zpclient.pc"
need "$systemdsystemunitdir/zpoold.service"
need "$systemdsystemunitdir/zpoold.socket"
need "$sysconfdir/zpoold/zpoold.conf"
need "$mandir/man8/zpoold.8"
need "$mandir/man5/zpoold.conf.5"
need "$mandir/man3/libzpclient.3"
# Every man page in docs/, whoever wrote it (zpctl.8, zpbench.1, ...).
for page in "$abs_top_srcdir"/docs/*.[1-8]; do
	[ -f "$page" ] || continue
	name=${page##*/}
	need "$mandir/man${name##*.}/$name"
done
need "$docdir/examples/kvcache.c"
need "$docdir/examples/Makefile"
for doc in "$abs_top_srcdir"/README.md "$abs_top_srcdir"/docs/*.md; do
	[ -f "$doc" ] || continue
	need "$docdir/${doc##*/}"
done
grep -qx "ExecStart=$sbindir/zpoold --foreground" \
	"$dest$systemdsystemunitdir/zpoold.service" ||
	zp_fail "installed zpoold.service does not start $sbindir/zpoold"
echo "ok: every file installed"

zpoold=$dest$sbindir/zpoold
"$zpoold" --check-config --config "$dest$sysconfdir/zpoold/zpoold.conf" \
	>"$zp_tmp/check-config.log" 2>&1 ||
	zp_fail "zpoold --check-config rejects the installed zpoold.conf"
echo "ok: the installed zpoold.conf is accepted"

# --- the examples, from the installed copies --------------------------

ex=$zp_tmp/ex
mkdir "$ex"
cp "$dest$docdir/examples/kvcache.c" "$dest$docdir/examples/Makefile" "$ex/"
# The code of EXAMPLES in libzpclient(3), as installed.
sed -n '/^\.Sh EXAMPLES/,/^\.Sh/p' "$dest$mandir/man3/libzpclient.3" |
	sed -n '/^\.Bd -literal/,/^\.Ed/p' | sed -e '1d' -e '$d' |
	sed 's/\\e/\\/g' >"$ex/one.c"
grep -q 'zp_connect' "$ex/one.c" || zp_fail "no example in libzpclient(3)"

PKG_CONFIG_PATH=$dest$pkgconfigdir
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# With the flags of this build: a library built with sanitizers needs
# programs built with them.
cflags="${build_CFLAGS:-} -Wall -Wextra -Werror"
ldflags=${build_LDFLAGS:-}
if ! $make -C "$ex" CC="${CC:-cc}" CFLAGS="$cflags" LDFLAGS="$ldflags" \
    >"$zp_tmp/build.log" 2>&1; then
	zp_fail "examples/Makefile failed against the installed library"
fi
# shellcheck disable=SC2046,SC2086
if ! ${CC:-cc} $cflags -o "$ex/one" "$ex/one.c" $ldflags \
    $(pkg-config --cflags --libs zpclient) >>"$zp_tmp/build.log" 2>&1; then
	zp_fail "the example of libzpclient(3) does not build"
fi
LD_LIBRARY_PATH=$dest$libdir
export LD_LIBRARY_PATH
ldd "$ex/kvcache" | grep 'libzpclient\.so' | grep -q "$dest" ||
	zp_fail "kvcache is not linked with the installed libzpclient"
echo "ok: examples built with pkg-config against the installed library"

# --- the installed daemon, running them -------------------------------

sock=$zp_tmp/zp.sock
cat >"$zp_tmp/zpoold.conf" <<CONF
socket $sock
workers 2
log_level debug
CONF

# The sandbox checks trace zpoold's system calls.  A sanitizer build is
# not traced: its runtime makes calls of its own, and LeakSanitizer
# refuses to run under ptrace.
tracer=
case " ${build_CFLAGS:-} ${build_LDFLAGS:-}" in
*" -fsanitize="*)
	echo "note: sanitizer build, the sandbox checks are skipped" ;;
*)
	if command -v strace >/dev/null 2>&1 &&
	    strace -f -o /dev/null true >/dev/null 2>&1; then
		tracer="strace -f -qq -o $zp_tmp/strace.out"
	else
		echo "note: strace unavailable, the sandbox checks are skipped"
	fi ;;
esac
$tracer "$zpoold" --foreground --config "$zp_tmp/zpoold.conf" \
	>"$zp_tmp/zpoold.log" 2>&1 &
zp_pids=$!
zp_wait_socket "$sock" 20 || zp_fail "zpoold did not create $sock"
if [ -n "$tracer" ]; then
	pid=$(sed -n '1s/^\([0-9]*\) .*/\1/p' "$zp_tmp/strace.out")
else
	pid=$zp_pids
fi

"$ex/kvcache" -s "$sock" -n 4096 -r 512 -a 20000 >"$zp_tmp/kvcache.log" 2>&1 ||
	zp_fail "kvcache failed against the installed zpoold"
value()
{
	sed -n "s/^$1 //p" "$zp_tmp/kvcache.log"
}
[ "$(value corrupt)" = 0 ] || zp_fail "kvcache read back corrupt pages"
for k in offloaded_pages refaults hits zp_pages_stored; do
	[ "$(value "$k")" -gt 0 ] 2>/dev/null || zp_fail "kvcache: $k is not > 0"
done
echo "ok: kvcache offloaded $(value offloaded_pages) pages," \
	"faulted $(value refaults) back, all correct"

ZPOOLD_SOCKET=$sock "$ex/one" >"$zp_tmp/one.log" 2>&1 ||
	zp_fail "the example of libzpclient(3) failed"
grep -q '^same: 1,' "$zp_tmp/one.log" ||
	zp_fail "the example of libzpclient(3) got another page back"
echo "ok: the example of libzpclient(3) runs"

kill -TERM "$pid"
st=0
wait "$zp_pids" || st=$?
zp_pids=
[ "$st" -eq 0 ] || zp_fail "zpoold exited with status $st on SIGTERM"
echo "ok: zpoold exits 0 on SIGTERM"

# --- the sandbox of zpoold.service ------------------------------------

[ -n "$tracer" ] || exit 0
trace=$zp_tmp/strace.out
if command -v systemd-analyze >/dev/null 2>&1; then
	# SystemCallFilter=@system-service, then ~@privileged.
	zp_syscall_group @system-service | sort -u >"$zp_tmp/allow"
	zp_syscall_group @privileged | sort -u >"$zp_tmp/deny"
	sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' "$trace" | sort -u \
		>"$zp_tmp/used"
	outside=$(comm -23 "$zp_tmp/used" "$zp_tmp/allow" | tr '\n' ' ')
	denied=$(comm -12 "$zp_tmp/used" "$zp_tmp/deny" | tr '\n' ' ')
	[ -z "$outside" ] ||
		zp_fail "system calls outside @system-service: $outside"
	[ -z "$denied" ] || zp_fail "system calls in @privileged: $denied"
	echo "ok: $(wc -l <"$zp_tmp/used") system calls, all allowed" \
		"by the unit's SystemCallFilter="
else
	echo "note: systemd-analyze unavailable, SystemCallFilter= not checked"
fi
# RestrictAddressFamilies=AF_UNIX
if grep -E '^[0-9]+ +socket(pair)?\(' "$trace" | grep -v 'AF_UNIX' \
    >"$zp_tmp/families.log"; then
	zp_fail "sockets of families other than AF_UNIX"
fi
# MemoryDenyWriteExecute=yes
if grep -E '^[0-9]+ +(mmap\(.*PROT_WRITE\|PROT_EXEC|(pkey_)?mprotect\(.*PROT_EXEC)' \
    "$trace" >"$zp_tmp/wx.log"; then
	zp_fail "writable and executable memory"
fi
# ProtectSystem=strict: nothing but the socket (and memfds) is written.
if grep -E '^[0-9]+ +(open|openat|creat)\(.*(O_WRONLY|O_RDWR|O_CREAT).* = [0-9]' \
    "$trace" | grep -v '"/dev/null"' >"$zp_tmp/writes.log"; then
	zp_fail "files opened for writing"
fi
# ProtectProc=invisible: no other process is looked at.
if grep -E '^[0-9]+ +(open|openat|stat|newfstatat|access|readlink)\(.*"/proc/[0-9]' \
    "$trace" >"$zp_tmp/proc.log"; then
	zp_fail "other processes read in /proc"
fi
echo "ok: AF_UNIX only, no W+X memory, no file written, no /proc/PID read"
