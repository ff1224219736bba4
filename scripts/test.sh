#!/bin/bash
# test.sh -- set up, then run every test: the suite in a plain build, the
# suite again under AddressSanitizer and UBSan, the frame decoder's fuzz
# target for a short while, and `make distcheck`.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
jobs=$(nproc)

bash scripts/setup.sh

echo "== make check (plain build)"
make -C build -j"$jobs" check || { cat build/test-suite.log; exit 1; }

echo "== make check (AddressSanitizer + UndefinedBehaviorSanitizer)"
mkdir -p build-asan
(cd build-asan && { [ -f Makefile ] || "$top/configure" -q \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	LDFLAGS="-fsanitize=address,undefined"; })
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -C build-asan -j"$jobs" check || { cat build-asan/test-suite.log; exit 1; }

if command -v clang >/dev/null; then
	echo "== fuzz the frame decoder (libFuzzer)"
	mkdir -p build-fuzz
	(cd build-fuzz && { [ -f Makefile ] || "$top/configure" -q CC=clang; })
	make -C build-fuzz -j"$jobs" fuzz-run
fi

echo "== make distcheck"
make -C build -j"$jobs" distcheck >build/distcheck.log 2>&1 ||
	{ tail -50 build/distcheck.log; exit 1; }
tail -4 build/distcheck.log

# One closing line for both suite runs, in the form CI reads.
pass=0 fail=0
for log in build/test-suite.log build-asan/test-suite.log; do
	pass=$((pass + $(sed -n 's/^# PASS: *//p' "$log")))
	fail=$((fail + $(sed -n 's/^# FAIL: *//p' "$log")))
done
echo "test.sh: all tests passed (plain and sanitizer runs)"
echo "$pass passed, $fail failed"
