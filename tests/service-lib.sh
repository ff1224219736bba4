# service-lib.sh -- shared by the service tests (test_units.sh,
# test_socket_activation.sh, test_install.sh); sourced, not run.
#
# Each test gets a private directory that is removed when it exits, and
# the logs in it (*.log) are printed only when the test fails, as in
# tmux's regress/.  abs_top_builddir and abs_top_srcdir come from
# AM_TESTS_ENVIRONMENT in tests/local.mk.

: "${abs_top_builddir:?run this test through make check}"
: "${abs_top_srcdir:?run this test through make check}"

zp_tmp=
zp_pids=

zp_skip()
{
	echo "SKIP: $*"
	exit 77
}

zp_fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

zp_cleanup()
{
	zp_rc=$?
	for zp_pid in $zp_pids; do
		kill -KILL "$zp_pid" 2>/dev/null || :
	done
	if [ "$zp_rc" -ne 0 ] && [ "$zp_rc" -ne 77 ] && [ -n "$zp_tmp" ]; then
		for zp_log in "$zp_tmp"/*.log; do
			[ -f "$zp_log" ] || continue
			echo "--- ${zp_log##*/}"
			tail -n 60 "$zp_log"
		done
	fi
	[ -z "$zp_tmp" ] || rm -rf "$zp_tmp"
	exit "$zp_rc"
}

# A private directory, short enough for a socket path inside it.
zp_mktemp()
{
	zp_tmp=$(mktemp -d "${TMPDIR:-/tmp}/zp-$1.XXXXXX")
	trap zp_cleanup EXIT
	trap 'exit 1' INT TERM
}

# Wait up to $2 seconds for a socket to appear at $1.
zp_wait_socket()
{
	zp_i=0
	while [ ! -S "$1" ]; do
		zp_i=$((zp_i + 1))
		[ "$zp_i" -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}

# Stop a daemon with SIGTERM, as systemd does, and return its status.
zp_stop()
{
	kill -TERM "$1"
	zp_st=0
	wait "$1" || zp_st=$?
	zp_pids=$(echo " $zp_pids " | sed "s/ $1 / /")
	return "$zp_st"
}

# Every system call a systemd SystemCallFilter= group allows, expanded.
zp_syscall_group()
{
	systemd-analyze syscall-filter "$1" | sed -n '2,$p' |
	    sed -e 's/^[[:space:]]*//' -e '/^#/d' -e '/^$/d' |
	    while read -r zp_sc; do
		case $zp_sc in
		@*)	zp_syscall_group "$zp_sc" ;;
		*)	echo "$zp_sc" ;;
		esac
	done
}
