#!/bin/sh
# test_bench.sh -- zpbench end to end: gen writes what it says, pool gives
# every page back and ends with its JSON line, capture reads a child, usage
# errors exit 2.  As root with an unused zram0, also the zram comparison,
# and that zram0 is left reset.  Run from the build directory (make check).
set -u

ZPBENCH=${ZPBENCH:-${abs_top_builddir:-.}/tools/zpbench}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_bench.XXXXXX") || exit 99
child=
cleanup() {
	[ -n "$child" ] && kill "$child" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# The value of `key N` on a line of a zpbench report.
field() {
	sed -n "s/^ *$1 \([0-9][0-9]*\).*/\1/p" "$2" | head -n 1
}

# --- gen ---------------------------------------------------------------
pages=512
"$ZPBENCH" gen -o "$tmp/a.corpus" --pages $pages --ratio 2.5 --zero 0.1 \
    --same 0.05 --dup 0.05 --seed 7 >"$tmp/gen.out" 2>&1 ||
	fail "gen exited $?: $(cat "$tmp/gen.out")"
size=$(wc -c <"$tmp/a.corpus")
[ "$size" -eq $((pages * 4096)) ] || fail "gen wrote $size bytes"
# llround(0.1 * 512) = 51, llround(0.05 * 512) = 26
[ "$(field zero_pages "$tmp/gen.out")" = 51 ] || fail "zero_pages"
[ "$(field same_pages "$tmp/gen.out")" = 26 ] || fail "same_pages"
[ "$(field dup_pages "$tmp/gen.out")" = 26 ] || fail "dup_pages"
ratio=$(sed -n 's/^ *lz4_ratio_data_pages \([0-9.]*\)/\1/p' "$tmp/gen.out")
awk -v r="$ratio" 'BEGIN { exit !(r > 2.2 && r < 2.8) }' ||
	fail "data pages compress by $ratio, asked 2.5"

"$ZPBENCH" gen -o "$tmp/b.corpus" --pages $pages --ratio 2.5 --zero 0.1 \
    --same 0.05 --dup 0.05 --seed 7 >/dev/null 2>&1
cmp -s "$tmp/a.corpus" "$tmp/b.corpus" || fail "same seed, different corpus"
"$ZPBENCH" gen -o "$tmp/b.corpus" --pages $pages --seed 8 >/dev/null 2>&1
cmp -s "$tmp/a.corpus" "$tmp/b.corpus" && fail "another seed, same corpus"

# --- pool --------------------------------------------------------------
"$ZPBENCH" pool --corpus "$tmp/a.corpus" --no-zram --json \
    >"$tmp/pool.out" 2>&1 || fail "pool exited $?: $(cat "$tmp/pool.out")"
json=$(tail -n 1 "$tmp/pool.out")
case $json in
"{"*"}") ;;
*) fail "pool's last line is not a JSON object: $json" ;;
esac
for key in pages orig_bytes compr_bytes mem_used_bytes store_mbps \
    store_refill_mbps load_mbps codec_compress_mbps codec_decompress_mbps \
    zram_mem_used_bytes zram_write_mbps zram_read_mbps; do
	echo "$json" | grep -q "\"$key\":" || fail "JSON lacks $key"
done
echo "$json" | grep -q "\"pages\":$pages," || fail "JSON pages"
echo "$json" | grep -q "\"verified_pages\":$pages," || fail "not all verified"
echo "$json" | grep -q '"verify_errors":0,' || fail "verify errors"
echo "$json" | grep -q '"zram_mem_used_bytes":null' || fail "zram not null"
# The new-frame probe: a cost in microseconds, and the bound it puts on a
# store into a new pool, a ratio in (0, 1].
us=$(echo "$json" | sed -n 's/.*"new_frame_us":\([0-9.e+-]*\).*/\1/p')
awk -v v="$us" 'BEGIN { exit !(v != "" && v >= 0 && v < 10000) }' ||
	fail "new_frame_us is '$us'"
cap=$(echo "$json" |
    sed -n 's/.*"store_vs_codec_frame_ceiling":\([0-9.e+-]*\).*/\1/p')
awk -v v="$cap" 'BEGIN { exit !(v != "" && v > 0 && v <= 1) }' ||
	fail "store_vs_codec_frame_ceiling is '$cap'"

"$ZPBENCH" pool --corpus "$tmp/a.corpus" --no-zram --codec zstd:1 \
    --threads 2 --max-zspage-frames 4 --json >"$tmp/zstd.out" 2>&1 ||
	fail "pool zstd exited $?"
tail -n 1 "$tmp/zstd.out" | grep -q '"verify_errors":0,' ||
	fail "zstd verify errors"

zram=/sys/block/zram0
if [ "$(id -u)" = 0 ] && [ -e $zram/disksize ] &&
    [ "$(cat $zram/disksize)" = 0 ]; then
	"$ZPBENCH" pool --corpus "$tmp/a.corpus" --json >"$tmp/zram.out" 2>&1 ||
		fail "pool with zram exited $?: $(cat "$tmp/zram.out")"
	tail -n 1 "$tmp/zram.out" | grep -q '"zram_mem_used_bytes":[0-9]' ||
		fail "zram not measured: $(grep zram "$tmp/zram.out")"
	[ "$(cat $zram/disksize)" = 0 ] || fail "zram0 left set up"
else
	echo "skip: zram comparison (needs root and an unused zram0)"
fi

# --- capture -----------------------------------------------------------
# exec makes zpbench the parent of the sleep: allowed to read it even
# where ptrace is limited to descendants.  Wait for the child to be sleep
# (not still the forked shell) so the report names it.
sh -c 'sleep 60 & echo $! >"$1"; i=0
	while [ "$(cat /proc/$!/comm)" != sleep ] && [ $i -lt 500 ]; do
		i=$((i + 1)); sleep 0.01; done
	exec "$2" capture -o "$3" $!' sh \
    "$tmp/child.pid" "$ZPBENCH" "$tmp/c.corpus" >"$tmp/cap.out" 2>&1 ||
	fail "capture exited $?: $(cat "$tmp/cap.out")"
child=$(cat "$tmp/child.pid")
grep -q "^pid $child (sleep): " "$tmp/cap.out" ||
	fail "capture did not report its child"
cpages=$(field pages "$tmp/cap.out")
size=$(wc -c <"$tmp/c.corpus" 2>/dev/null || echo 0)
[ "${cpages:-0}" -gt 0 ] && [ "$size" -eq $((cpages * 4096)) ] ||
	fail "capture wrote $size bytes for ${cpages:-no} pages"
"$ZPBENCH" capture --max-pages 3 -o "$tmp/d.corpus" "$child" >/dev/null 2>&1
[ "$(wc -c <"$tmp/d.corpus")" -eq $((3 * 4096)) ] || fail "--max-pages"

# --- errors ------------------------------------------------------------
expect() {
	want=$1
	shift
	"$ZPBENCH" "$@" >/dev/null 2>&1
	got=$?
	[ $got -eq "$want" ] || fail "zpbench $*: exit $got, want $want"
}
expect 2
expect 2 nosuchcommand
expect 2 gen --pages 10
expect 2 gen -o "$tmp/x" --pages 10 --zero 0.7 --same 0.7
expect 2 pool --corpus "$tmp/a.corpus" --codec lz5
expect 1 pool --corpus "$tmp/nonexistent"
expect 0 pool --help
expect 1 capture -o "$tmp/x" 999999999

[ $fails -eq 0 ] || exit 1
echo "test_bench: all passed"
