#!/bin/sh
# test_bench_rpc.sh -- `zpbench rpc` end to end on a small corpus: it starts
# its own zpoold ($ZPOOLD), gives every page back, ends with its JSON line,
# and leaves no daemon behind.  Usage errors exit 2.  Run from the build
# directory (make check).
set -u

ZPBENCH=${ZPBENCH:-${abs_top_builddir:-.}/tools/zpbench}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_bench_rpc.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

pages=300
"$ZPBENCH" gen -o "$tmp/a.corpus" --pages $pages --ratio 2.5 --zero 0.05 \
    --same 0.02 --dup 0.05 --seed 11 >/dev/null 2>&1 || fail "gen exited $?"

# 3 clients on 300 pages: shares of 100, batches of 16 with a short last.
"$ZPBENCH" rpc --corpus "$tmp/a.corpus" --clients 3 --batch 16 \
    --workers 2 --runs 1 --loads 500 --idle 8 --no-zram --json \
    >"$tmp/rpc.out" 2>&1 || fail "rpc exited $?: $(cat "$tmp/rpc.out")"
json=$(tail -n 1 "$tmp/rpc.out")
case $json in
"{"*"}") ;;
*) fail "rpc's last line is not a JSON object: $json" ;;
esac
for key in store_mbps store_refill_mbps store_pipelined_mbps load_mbps \
    load_pipelined_mbps load_pipelined_vs_2x_codec load_p50_us load_p99_us store_pipelined_vs_2x_codec verified_pages errors codec_compress_mbps codec_decompress_mbps rtt_p50_us \
    rtt_same_cpu_p50_us idle_kib_per_client zram_write_mbps; do
	echo "$json" | grep -q "\"$key\":" || fail "JSON lacks $key"
done
echo "$json" | grep -q "\"pages\":$pages," || fail "JSON pages"
echo "$json" | grep -q "\"verified_pages\":$pages," || fail "not all verified"
echo "$json" | grep -q '"errors":0,' || fail "errors"
echo "$json" | grep -q '"idle_clients":8,' || fail "idle clients"
echo "$json" | grep -q '"zram_write_mbps":null' || fail "zram not null"
for key in store_mbps store_pipelined_mbps load_mbps load_pipelined_mbps \
    load_p50_us; do
	echo "$json" | grep -q "\"$key\":[1-9]" ||
	    echo "$json" | grep -q "\"$key\":0\.[0-9]*[1-9]" ||
	    fail "$key is not positive"
done
# The store into a growing pool brought frames in (read from the daemon's
# arena mapping), fewer than one a page, and a frame has its cost.
frames=$(echo "$json" |
    sed -n 's/.*"store_new_frames_per_page":\([0-9.e+-]*\).*/\1/p')
awk -v v="$frames" 'BEGIN { exit !(v != "" && v > 0 && v < 1) }' ||
	fail "store_new_frames_per_page is '$frames'"
echo "$json" | grep -q '"new_frame_us":[0-9]' || fail "new_frame_us"
# The daemon it started is gone: nothing listens in its directory.
pid=$(sed -n 's/^daemon .*(ours: pid \([0-9]*\),.*/\1/p' "$tmp/rpc.out")
[ -n "$pid" ] || fail "no daemon pid in the report"
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && fail "zpoold $pid still runs"

# A corpus that cannot be split among the clients, and usage errors.
expect() {
	want=$1
	shift
	"$ZPBENCH" "$@" >/dev/null 2>&1
	got=$?
	[ $got -eq "$want" ] || fail "zpbench $*: exit $got, want $want"
}
expect 2 rpc
expect 2 rpc --corpus "$tmp/a.corpus" --clients 0
expect 2 rpc --corpus "$tmp/a.corpus" --batch 0
expect 2 rpc --corpus "$tmp/a.corpus" --socket /nonexistent --zpoold /bin/true
expect 1 rpc --corpus "$tmp/nonexistent"
expect 1 rpc --corpus "$tmp/a.corpus" --no-zram --zpoold /nonexistent
expect 1 rpc --corpus "$tmp/a.corpus" --no-zram --socket "$tmp/no.sock"
expect 0 rpc --help

[ $fails -eq 0 ] || exit 1
echo "test_bench_rpc: all passed"
