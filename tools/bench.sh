#!/bin/sh
# bench.sh -- what `make bench` runs: the standard corpora, then the pool
# benchmark on each (lz4 and zstd; lz4 also with 4 and 16 frames per
# zspage and with 2 threads).  Usage: bench.sh ZPBENCH DIR PAGES [PID...]
#
# The captured corpus is real process memory: a perl interpreter holding a
# large hash (a genuine malloc heap of pointers, strings and counters),
# this shell, make, zpbench itself and any PIDs given.
set -eu

zpbench=$1 dir=$2 pages=$3
shift 3
mkdir -p "$dir"

run() {
	echo
	echo "\$ zpbench $*"
	"$zpbench" "$@"
}

run gen -o "$dir/mixed.corpus" --pages "$pages" --ratio 2.7 \
	--zero 0.05 --same 0.02 --seed 1

workload=
ready="$dir/perl.ready"
rm -f "$ready"
if command -v perl >/dev/null 2>&1; then
	perl -e '
		my %h;
		for my $i (1 .. 400000) {
			$h{"key:$i"} = [ $i, "value-" . ($i % 977), $i * 3.5 ];
		}
		open(my $f, ">", $ARGV[0]) or die; close $f;
		sleep 600;
	' "$ready" &
	workload=$!
	trap 'kill "$workload" 2>/dev/null || :' EXIT
	i=0
	while [ ! -e "$ready" ] && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$ready" ] || { echo "bench.sh: perl workload not ready" >&2; exit 1; }
else
	echo "bench.sh: no perl; capturing this shell and make only"
fi
# shellcheck disable=SC2086
run capture --max-pages "$pages" -o "$dir/capture.corpus" \
	$workload $$ $PPID self "$@"
if [ -n "$workload" ]; then
	kill "$workload" 2>/dev/null || :
	wait "$workload" 2>/dev/null || :
fi
rm -f "$ready"

for corpus in mixed capture; do
	for codec in lz4 zstd; do
		run pool --corpus "$dir/$corpus.corpus" --codec "$codec" --json
	done
	for frames in 4 16; do
		run pool --corpus "$dir/$corpus.corpus" --no-zram \
			--max-zspage-frames "$frames" --json
	done
	run pool --corpus "$dir/$corpus.corpus" --no-zram --threads 2 --json
done
