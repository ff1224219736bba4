#!/bin/sh
# test_zpctl.sh -- zpctl against a real zpoold on a private socket: every
# command in both output forms, size and argument parsing, each exit code,
# the socket default and timeout, and admin requests refused to a peer that
# is neither root nor the daemon's user (that part only as root).
#
# Two zp_fill clients hold pages in the pool meanwhile: 64 pages of which
# 32 distinct, and one page under a name that JSON must escape.
# The daemon's log is printed only when the test fails (service-lib.sh).

. "$abs_top_srcdir/tests/service-lib.sh"

ZPCTL=$abs_top_builddir/tools/zpctl
ZPOOLD=${ZPOOLD:-$abs_top_builddir/daemon/zpoold}
FILL=$abs_top_builddir/tests/zp_fill
[ -x "$ZPOOLD" ] || zp_fail "no daemon at $ZPOOLD"

zp_mktemp zpctl
sock=$zp_tmp/sock
t_out=$zp_tmp/out
t_err=$zp_tmp/err

# run RC ARGS...: zpctl ARGS must exit RC; its output in $t_out, $t_err.
run()
{
	t_want=$1
	shift
	t_rc=0
	"$ZPCTL" "$@" >"$t_out" 2>"$t_err" || t_rc=$?
	[ "$t_rc" -eq "$t_want" ] ||
	    zp_fail "zpctl $*: exit $t_rc, expected $t_want;" \
	    "stdout: $(cat "$t_out"); stderr: $(cat "$t_err")"
}

# ctl RC ARGS...: the same, on the test's socket.
ctl()
{
	t_want=$1
	shift
	run "$t_want" -s "$sock" "$@"
}

# err_has TEXT: stderr of the last run contains TEXT.
err_has()
{
	grep -F -q -- "$1" "$t_err" ||
	    zp_fail "stderr lacks '$1': $(cat "$t_err")"
}

# kv KEY: the value of KEY in `key value` output, which has it once.
kv()
{
	awk -v k="$1" '$1 == k { v = $2; n++ } END { print v; exit n != 1 }' \
	    "$t_out" || zp_fail "key $1 not exactly once in: $(cat "$t_out")"
}

expect_kv()
{
	t_v=$(kv "$1")
	[ "$t_v" = "$2" ] || zp_fail "$1 is '$t_v', expected '$2'"
}

# keys_are KEY...: the output is exactly these `key value` lines (one
# space between), in order.
keys_are()
{
	! grep -E -v -q '^[a-z_]+ [^ ]+$' "$t_out" ||
	    zp_fail "not key value lines: $(cat "$t_out")"
	t_keys=$(awk '{ print $1 }' "$t_out" | tr '\n' ' ')
	[ "$t_keys" = "$* " ] ||
	    zp_fail "keys '$t_keys', expected '$* '"
}

# is_size KEY...: printed as people write sizes (or none).
is_size()
{
	for t_k in "$@"; do
		kv "$t_k" | grep -E -q '^(none|[0-9]+(\.[0-9])?[KMGTPE]?)$' ||
		    zp_fail "$t_k is not a size: $(kv "$t_k")"
	done
}

# is_count KEY...: a plain integer.
is_count()
{
	for t_k in "$@"; do
		kv "$t_k" | grep -E -q '^[0-9]+$' ||
		    zp_fail "$t_k is not an integer: $(kv "$t_k")"
	done
}

if command -v python3 >/dev/null 2>&1; then
	have_python=yes
else
	have_python=no
fi

# json_ok: the output is one valid JSON object, on one line.
json_ok()
{
	[ "$(wc -l <"$t_out")" -eq 1 ] || zp_fail "JSON not on one line"
	if [ "$have_python" = yes ]; then
		python3 -c 'import json, sys
d = json.load(sys.stdin)
assert isinstance(d, dict)' <"$t_out" || zp_fail "bad JSON: $(cat "$t_out")"
	else
		grep -q '^{.*}$' "$t_out" || zp_fail "not an object: $(cat "$t_out")"
		! LC_ALL=C grep -q '[[:cntrl:]]' "$t_out" ||
		    zp_fail "control characters in JSON"
	fi
}

# json_get KEY: a top-level scalar of a flat object, as JSON writes it.
json_get()
{
	if [ "$have_python" = yes ]; then
		python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$1" <"$t_out"
	else
		sed -n "s/.*[{ ]\"$1\": \\([^,}]*\\).*/\\1/p" "$t_out"
	fi
}

expect_json()
{
	t_v=$(json_get "$1")
	[ "$t_v" = "$2" ] || zp_fail "JSON $1 is '$t_v', expected '$2'"
}

# json_keys: the top-level keys of a flat object, in order.
json_keys()
{
	if [ "$have_python" = yes ]; then
		python3 -c 'import json, sys
print(" ".join(json.load(sys.stdin)))' <"$t_out"
	else
		grep -o '"[a-z_]*": ' "$t_out" | tr -d '":' | tr -s '\n ' ' ' |
		    sed 's/ $//'
	fi
}

# --- Before there is a daemon: usage errors never connect (2, not 3). ---

run 2
err_has "no command"
run 2 -s "$sock" bogus
err_has "zpctl: unknown command 'bogus'"
run 2 -s "$sock" status extra
err_has "zpctl: status: no arguments expected"
run 2 -s "$sock" -x status
err_has "unknown option -x"
run 2 -s "$sock" status --nope
err_has "unknown option --nope"
run 2 status -s
err_has "needs a value"
run 2 -s "$sock" -t 0 status
err_has "bad timeout '0'"
run 2 -s "$sock" -t 5s status
err_has "bad timeout '5s'"
run 2 -s "" status
err_has "empty socket path"
run 2 -s "$zp_tmp/$(printf '%0120d' 0)" status
err_has "socket path too long"

for t_size in 12Q abc 1.5 "" " 1G" 1G2 16E; do
	ctl 2 budget "$t_size"
	err_has "zpctl: budget: bad size '$t_size'"
done
# A negative size is a size, not an option, whether getopt stops inside it
# or after it.
for t_size in -1 -1G -12; do
	ctl 2 budget "$t_size"
	err_has "zpctl: budget: bad size '$t_size': a size cannot be negative"
done
ctl 2 limit 3 -5M
err_has "zpctl: limit: bad size '-5M': a size cannot be negative"
ctl 2 budget 1K 2K
err_has "one size at most"
ctl 2 budget -1
ctl 2 limit
err_has "a client and a size expected"
ctl 2 limit 1
ctl 2 limit 1 1M 2M
for t_id in abc 0 -- 1x 18446744073709551616; do
	ctl 2 limit "$t_id" 1M
done
ctl 2 limit 0 1M
err_has "zpctl: limit: bad client '0'"
ctl 2 limit 1 12Q
err_has "zpctl: limit: bad size '12Q'"
for t_cmd in merge compact clients; do
	ctl 2 "$t_cmd" now
done

run 0 --help
for t_cmd in status clients budget limit merge compact; do
	grep -q "^  $t_cmd " "$t_out" || zp_fail "--help lacks $t_cmd"
done
grep -q -- "--timeout" "$t_out" || zp_fail "--help lacks the options"
run 0 limit --help
grep -q "^usage: zpctl .* limit {CLIENT|default} {SIZE|none}" "$t_out" ||
    zp_fail "limit --help: $(cat "$t_out")"
run 0 budget -h
grep -q "budget \[SIZE|none\]" "$t_out" || zp_fail "budget -h"
run 0 --version
grep -E -q '^zpctl [0-9]+\.[0-9]+' "$t_out" || zp_fail "--version"

# --- No daemon: 3, naming the socket tried. ---

ctl 3 status
err_has "zpctl: status: cannot connect to $sock"
ZPOOLD_SOCKET=$zp_tmp/elsewhere run 3 status
err_has "cannot connect to $zp_tmp/elsewhere"

# --- A daemon, and a client with pages in it. ---

"$ZPOOLD" --socket "$sock" --foreground --workers 2 --dedup inline \
    --dedup_scope=uid --log-level debug >"$zp_tmp/zpoold.log" 2>&1 &
zpoold_pid=$!
zp_pids="$zp_pids $zpoold_pid"
zp_wait_socket "$sock" 10 || zp_fail "zpoold did not create $sock"

# fill NAME PAGES DISTINCT CLIENT-NAME: start a zp_fill and wait until it
# holds its pages; its pid in $fill_pid, its client id in $fill_id.
fill()
{
	"$FILL" "$sock" "$2" "$3" "$4" >"$zp_tmp/$1.out" 2>"$zp_tmp/$1.log" &
	fill_pid=$!
	zp_pids="$zp_pids $fill_pid"
	t_i=0
	until grep -q "^pages $2\$" "$zp_tmp/$1.out"; do
		t_i=$((t_i + 1))
		[ "$t_i" -le 100 ] || zp_fail "$1 did not store its pages"
		kill -0 "$fill_pid" 2>/dev/null || zp_fail "$1 failed"
		sleep 0.1
	done
	fill_id=$(awk '$1 == "client_id" { print $2 }' "$zp_tmp/$1.out")
}

odd_name='q"b\s'
fill odd 1 1 "$odd_name"
fill fill 64 32 zp_fill

# The socket from the environment, and -s over the environment.
ZPOOLD_SOCKET=$sock run 0 status
ZPOOLD_SOCKET=$zp_tmp/elsewhere ctl 0 status

# --- status ---

status_keys="orig_data_size compr_data_size mem_used_total mem_limit
mem_used_max same_pages pages_compacted huge_pages pages_merged dedup_hits
dedup_bytes_saved pool_frames empty_frames meta_bytes objects compr_ratio ratio
budget_frames accepting default_limit refused_stores codec dedup_mode
dedup_scope workers clients"
status_sizes="orig_data_size compr_data_size mem_used_total mem_used_max
dedup_bytes_saved meta_bytes"
status_counts="same_pages pages_compacted huge_pages pages_merged dedup_hits
pool_frames empty_frames objects budget_frames refused_stores workers clients"

ctl 0 status
# shellcheck disable=SC2086
keys_are $status_keys
# shellcheck disable=SC2086
is_size $status_sizes mem_limit default_limit
# shellcheck disable=SC2086
is_count $status_counts
expect_kv mem_limit none
expect_kv default_limit none
expect_kv accepting yes
expect_kv dedup_mode inline
expect_kv dedup_scope uid
expect_kv workers 2
expect_kv clients 3
kv ratio | grep -E -q '^[0-9]+\.[0-9][0-9]$' || zp_fail "ratio $(kv ratio)"
[ "$(kv dedup_hits)" -gt 0 ] || zp_fail "no dedup hits among 32 duplicates"
cp "$t_out" "$zp_tmp/status.human"

# -b: the same keys, every size an integer.
ctl 0 status --bytes
# shellcheck disable=SC2086
keys_are $status_keys
# shellcheck disable=SC2086
is_count $status_sizes
[ "$(kv orig_data_size)" -ge 4096 ] || zp_fail "orig_data_size $(kv orig_data_size)"
cp "$t_out" "$zp_tmp/status.bytes"

# JSON: the same keys, each number equal to the exact figure of -b.
ctl 0 -j status
json_ok
# shellcheck disable=SC2086,SC2116
[ "$(json_keys)" = "$(echo $status_keys)" ] ||
    zp_fail "JSON keys: $(json_keys)"
# shellcheck disable=SC2086
for t_k in $status_sizes $status_counts; do
	t_v=$(awk -v k="$t_k" '$1 == k { print $2 }' "$zp_tmp/status.bytes")
	expect_json "$t_k" "$t_v"
done
expect_json mem_limit 0
expect_json accepting true
expect_json dedup_scope '"uid"'

# --- clients ---

ctl 0 clients
head -n 1 "$t_out" | grep -E -q \
    '^ *ID +PID +UID +NAME +PAGES +ORIG +COMPR +CHARGED +SHARED +LIMIT +REFUSED$' ||
    zp_fail "clients header: $(head -n 1 "$t_out")"
# Aligned: every line as long as the others, names flush left.
[ "$(awk '{ print length }' "$t_out" | sort -u | wc -l)" -eq 1 ] &&
    [ "$(awk '{ print index($0, $4) }' "$t_out" | sort -u | wc -l)" -eq 1 ] ||
    zp_fail "clients table not aligned: $(cat "$t_out")"
[ "$(wc -l <"$t_out")" -eq 4 ] || zp_fail "clients: $(cat "$t_out")"
row=$(awk -v id="$fill_id" '$1 == id' "$t_out")
# shellcheck disable=SC2086
set -- $row
[ "$#" -eq 11 ] && [ "$4" = zp_fill ] && [ "$5" = 64 ] &&
    [ "$6" = 256K ] && [ "${10}" = none ] && [ "${11}" = 0 ] && [ "$9" -gt 0 ] ||
    zp_fail "zp_fill row: $row"
awk '$4 == "zpctl" && $5 == 0' "$t_out" | grep -q . ||
    zp_fail "no row for zpctl itself: $(cat "$t_out")"
n=$odd_name awk '$4 == ENVIRON["n"] && $5 == 1' "$t_out" | grep -q . ||
    zp_fail "no row for $odd_name: $(cat "$t_out")"

ctl 0 clients -b
row=$(awk -v id="$fill_id" '$1 == id' "$t_out")
# shellcheck disable=SC2086
set -- $row
[ "$6" = 262144 ] && echo "$7$8" | grep -E -q '^[0-9]+$' ||
    zp_fail "zp_fill row with -b: $row"

ctl 0 clients --json
json_ok
if [ "$have_python" = yes ]; then
	python3 -c 'import json, sys
d = json.load(sys.stdin)
keys = ["client_id", "pid", "uid", "name", "pages_stored", "orig_data_size",
    "compr_data_size", "charged_size", "shared_pages", "limit",
    "refused_stores", "stores", "loads", "frees"]
assert list(d) == ["clients", "complete"], list(d)
assert d["complete"] is True
assert len(d["clients"]) == 3
for c in d["clients"]:
	assert list(c) == keys, list(c)
assert [c for c in d["clients"] if c["name"] == sys.argv[2]], sys.argv[2]
f = [c for c in d["clients"] if c["client_id"] == int(sys.argv[1])][0]
assert f["name"] == "zp_fill" and f["pages_stored"] == 64, f
assert f["orig_data_size"] == 64 * 4096 and f["stores"] == 64, f
assert f["limit"] == 0 and f["refused_stores"] == 0, f
assert 0 < f["compr_data_size"] <= f["orig_data_size"], f' "$fill_id" \
	    "$odd_name" <"$t_out" || zp_fail "clients JSON: $(cat "$t_out")"
else
	grep -q "\"client_id\": $fill_id, \"pid\": [0-9]*, \"uid\": [0-9]*, \"name\": \"zp_fill\", \"pages_stored\": 64, \"orig_data_size\": 262144, " "$t_out" ||
	    zp_fail "clients JSON: $(cat "$t_out")"
	grep -F -q '"name": "q\"b\\s"' "$t_out" || zp_fail "escaping"
	grep -q '"complete": true}$' "$t_out" || zp_fail "clients JSON"
fi

# --- budget ---

ctl 0 budget
keys_are budget mem_used_total met frames_released
expect_kv budget none
expect_kv met yes
is_size mem_used_total
is_count frames_released

ctl 0 budget 512M
keys_are budget mem_used_total met frames_released
expect_kv budget 512M
expect_kv met yes
ctl 0 -b budget
expect_kv budget 536870912
ctl 0 status
expect_kv mem_limit 512M
expect_kv budget_frames 131072

ctl 0 -j budget 1.5G
json_ok
[ "$(json_keys)" = "budget mem_used_total met frames_released" ] ||
    zp_fail "budget JSON keys: $(json_keys)"
expect_json budget 1610612736
expect_json met true
ctl 0 budget
expect_kv budget 1.5G

ctl 0 budget 1GiB
expect_kv budget 1G
ctl 0 budget 0.5k
expect_kv budget 512

# Below what the pool takes: the daemon says it is not met.
ctl 0 budget 4K
expect_kv budget 4K
expect_kv met no
ctl 0 budget none
expect_kv budget none
expect_kv met yes
ctl 0 budget 1M
ctl 0 -j budget 0
expect_json budget 0
ctl 0 status
expect_kv mem_limit none

# --- limit ---

ctl 0 limit "$fill_id" 1M
keys_are client_id limit
expect_kv client_id "$fill_id"
expect_kv limit 1M
ctl 0 clients
row=$(awk -v id="$fill_id" '$1 == id' "$t_out")
# shellcheck disable=SC2086
set -- $row
[ "${10}" = 1M ] || zp_fail "limit not in the clients table: $row"
ctl 0 --json limit "$fill_id" 1.5M
json_ok
expect_json client_id "$fill_id"
expect_json limit 1572864
ctl 0 limit "$fill_id" none
expect_kv limit none

ctl 0 limit default 2M
keys_are client_id limit
expect_kv client_id default
expect_kv limit 2M
ctl 0 status
expect_kv default_limit 2M
ctl 0 limit default none -j
json_ok
expect_json client_id 0
expect_json limit 0
ctl 0 status
expect_kv default_limit none

ctl 1 limit 999999 1M
err_has "zpctl: limit: "
err_has "(ZP_ENOENT)"

# --- merge, compact ---

ctl 0 merge
keys_are pages_scanned pages_merged frames_released
is_count pages_scanned pages_merged frames_released
ctl 0 merge --json
json_ok
[ "$(json_keys)" = "pages_scanned pages_merged frames_released" ] ||
    zp_fail "merge JSON keys: $(json_keys)"

ctl 0 compact
keys_are pages_moved frames_released
is_count pages_moved frames_released
ctl 0 --json compact
json_ok
[ "$(json_keys)" = "pages_moved frames_released" ] ||
    zp_fail "compact JSON keys: $(json_keys)"

# --- A daemon that does not answer: the timeout, then 3. ---

kill -STOP "$zpoold_pid"
t_start=$(date +%s)
ctl 3 -t 1 status
t_took=$(($(date +%s) - t_start))
kill -CONT "$zpoold_pid"
err_has "no answer from the daemon in 1 s"
[ "$t_took" -le 3 ] || zp_fail "a 1 s timeout took ${t_took} s"
ctl 0 status

# --- Admin requests from a peer that is neither root nor the daemon. ---

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: non-admin peer: not root"
elif ! command -v setpriv >/dev/null 2>&1; then
	echo "SKIP: non-admin peer: no setpriv"
else
	chmod 711 "$zp_tmp"
	as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	if ! $as_nobody "$ZPCTL" --version >/dev/null 2>&1; then
		echo "SKIP: non-admin peer: uid 65534 cannot run $ZPCTL"
	else
		run 0 --version	# a libtool wrapper may relink: as root
		t_rc=0
		$as_nobody "$ZPCTL" -s "$sock" status >"$t_out" 2>"$t_err" ||
		    t_rc=$?
		[ "$t_rc" -eq 0 ] || zp_fail "status as nobody: $t_rc $(cat "$t_err")"
		expect_kv clients 3
		for t_cmd in budget "budget 1G" "limit $fill_id 1M" \
		    "limit default 1M" merge compact clients; do
			t_rc=0
			# shellcheck disable=SC2086
			$as_nobody "$ZPCTL" -s "$sock" $t_cmd >"$t_out" \
			    2>"$t_err" || t_rc=$?
			[ "$t_rc" -eq 1 ] ||
			    zp_fail "$t_cmd as nobody: exit $t_rc, expected 1"
			err_has "zpctl: ${t_cmd%% *}: "
			err_has "(ZP_EPERM)"
			[ ! -s "$t_out" ] || zp_fail "$t_cmd as nobody printed"
		done
		# Nothing of it took effect.
		ctl 0 status
		expect_kv mem_limit none
		expect_kv default_limit none
	fi
fi

# --- The client goes: its row with it. ---

kill -TERM "$fill_pid"
wait "$fill_pid" || zp_fail "zp_fill exited $?"
zp_pids=$(echo " $zp_pids " | sed "s/ $fill_pid / /")
t_i=0
while :; do
	ctl 0 clients
	awk '$4 == "zp_fill"' "$t_out" | grep -q . || break
	t_i=$((t_i + 1))
	[ "$t_i" -le 50 ] || zp_fail "zp_fill still listed: $(cat "$t_out")"
	sleep 0.1
done
[ "$(wc -l <"$t_out")" -eq 3 ] || zp_fail "clients: $(cat "$t_out")"

# --- The daemon goes: 3 again. ---

zp_stop "$zpoold_pid" || zp_fail "zpoold exited $?"
ctl 3 status
err_has "zpctl: status: cannot connect to $sock"
exit 0
