#!/bin/sh
# test_bench_dedup.sh -- `zpbench dedup` end to end on a small corpus: 3
# copies in one scope end with as many objects as the corpus has distinct
# pages (not 3 times as many), inline and after the on-demand merge; every
# page comes back; with a scope per copy nothing is shared.  Run from the
# build directory (make check).
set -u

ZPBENCH=${ZPBENCH:-${abs_top_builddir:-.}/tools/zpbench}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_bench_dedup.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# `key N` from the corpus description; "key":N from the JSON line.
field() {
	sed -n "s/^ *$1 \([0-9][0-9]*\).*/\1/p" "$2" | head -n 1
}
jfield() {
	echo "$2" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"
}

pages=512
"$ZPBENCH" gen -o "$tmp/a.corpus" --pages $pages --ratio 2.5 --zero 0.05 \
    --same 0.02 --dup 0.1 --seed 11 >/dev/null 2>&1 || fail "gen exited $?"

# zram is left out here: test_bench.sh covers it, and a check must not
# depend on being root.
"$ZPBENCH" dedup --corpus "$tmp/a.corpus" --copies 3 --runs 1 --no-zram \
    --json >"$tmp/out" 2>&1 || fail "dedup exited $?: $(cat "$tmp/out")"
json=$(tail -n 1 "$tmp/out")
case $json in
"{"*"}") ;;
*) fail "last line is not a JSON object: $json" ;;
esac
for mode in inline off merge; do
	for key in frames mem_used_bytes index_bytes meta_per_page objects \
	    pages_merged hits store_mbps verify_errors teardown_errors; do
		echo "$json" | grep -q "\"${mode}_$key\":" ||
			fail "JSON lacks ${mode}_$key"
	done
	[ "$(jfield ${mode}_verify_errors "$json")" = 0 ] ||
		fail "$mode: verify errors"
	[ "$(jfield ${mode}_teardown_errors "$json")" = 0 ] ||
		fail "$mode: pool or index not empty after every put"
done
for key in copies stored_pages expected_objects merge_ms \
    inline_vs_off_store zram_mem_used_bytes target_copies target_meta \
    timing; do
	echo "$json" | grep -q "\"$key\":" || fail "JSON lacks $key"
done
[ "$(jfield stored_pages "$json")" = $((3 * pages)) ] || fail "stored_pages"
[ "$(jfield verify_errors "$json")" = 0 ] || fail "verify errors"

# Distinct pages of the corpus: same-filled pages (zero included) are never
# shared, so each copy keeps its own; every other page is stored once.
zero=$(field zero_pages "$tmp/out")
same=$(field same_pages "$tmp/out")
dup=$(field dup_pages "$tmp/out")
want=$((pages - zero - same - dup + 3 * (zero + same)))
inl=$(jfield inline_objects "$json")
[ "$inl" = "$want" ] || fail "inline objects $inl, want $want"
[ "$(jfield off_objects "$json")" = $((3 * pages)) ] || fail "off objects"
[ "$(jfield merge_objects "$json")" = "$inl" ] ||
	fail "merge ends at $(jfield merge_objects "$json") objects, inline $inl"
[ "$(jfield expected_objects "$json")" = "$want" ] || fail "expected_objects"
[ "$(jfield inline_hits "$json")" = $((3 * pages - want)) ] ||
	fail "inline hits $(jfield inline_hits "$json")"

# A scope per copy: each copy deduplicated only within itself.
"$ZPBENCH" dedup --corpus "$tmp/a.corpus" --copies 3 --scope-per-copy \
    --runs 1 --no-zram --json >"$tmp/scoped" 2>&1 ||
	fail "dedup --scope-per-copy exited $?: $(cat "$tmp/scoped")"
json=$(tail -n 1 "$tmp/scoped")
[ "$(jfield inline_objects "$json")" = $((3 * (pages - dup))) ] ||
	fail "scoped inline objects $(jfield inline_objects "$json")"
[ "$(jfield inline_cross_copy_pages "$json")" = 0 ] &&
    [ "$(jfield merge_cross_copy_pages "$json")" = 0 ] ||
	fail "scopes shared pages across copies"
grep -q '^  scope isolation (--scope-per-copy): ok' "$tmp/scoped" ||
	fail "no scope isolation check in the report"

expect() {
	want=$1
	shift
	"$ZPBENCH" "$@" >/dev/null 2>&1
	got=$?
	[ $got -eq "$want" ] || fail "zpbench $*: exit $got, want $want"
}
expect 2 dedup
expect 2 dedup --corpus "$tmp/a.corpus" --copies 0
expect 1 dedup --corpus "$tmp/nonexistent"
expect 0 dedup --help

[ $fails -eq 0 ] || exit 1
echo "test_bench_dedup: all passed"
