#!/bin/sh
# bench.sh -- what `make bench` runs: the standard corpora, then the pool
# benchmark on each (lz4 and zstd; lz4 also with 4, 8 and 16 frames per
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
	for frames in 4 8 16; do
		run pool --corpus "$dir/$corpus.corpus" --no-zram \
			--max-zspage-frames "$frames" --json
	done
	run pool --corpus "$dir/$corpus.corpus" --no-zram --threads 2 --json
done

# zpoold end to end (issue 3): batches of 64, 2 client processes, a daemon
# with 2 workers; load latency, the socket round trip, idle client memory.
run rpc --corpus "$dir/mixed.corpus" --clients 2 --batch 64 --workers 2 \
	--json

# Dedup (issue 4): mixed as 4 processes of one uid would store it, and with
# a scope per copy (nothing may be shared); corpora without duplicates and
# half duplicates for the speed targets; and 4 processes of one program:
# independent perl interpreters building the same hash (perl4), and one
# that builds it and forks 3 workers, as a prefork server does (fork4).
# Every process then writes each entry once, as a server touching its data
# would, which turns most of a forked worker's pages into private copies.
run gen -o "$dir/nodup.corpus" --pages "$pages" --ratio 2.7 --seed 2
run gen -o "$dir/halfdup.corpus" --pages "$pages" --ratio 2.7 --dup 0.5 \
	--seed 3
dpids=
trap 'kill $dpids "$workload" 2>/dev/null || :' EXIT
# NAME INDEPENDENT FORKS: start them, capture all 4 into NAME, stop them.
dedup_capture() {
	command -v perl >/dev/null 2>&1 || { echo "bench.sh: no perl: no $1"; return; }
	rm -f "$dir/$1.ready".*
	i=0
	while [ $i -lt "$2" ]; do
		perl -e '
			my %h;
			for my $i (1 .. 100000) {
				$h{"key:$i"} = [ $i, "value-" . ($i % 977), $i * 3.5 ];
			}
			for (1 .. $ARGV[1]) { last unless fork; }
			$_->[0] += 0 for values %h;
			open(my $f, ">", "$ARGV[0].$$") or die; close $f;
			sleep 600;
		' "$dir/$1.ready" "$3" &
		i=$((i + 1))
	done
	i=0
	while [ "$(ls "$dir/$1.ready".* 2>/dev/null | wc -l)" -lt 4 ] &&
	    [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	dpids=$(ls "$dir/$1.ready".* 2>/dev/null | sed 's/.*\.ready\.//')
	# shellcheck disable=SC2086
	run capture --max-pages $((4 * pages)) -o "$dir/$1.corpus" $dpids
	# shellcheck disable=SC2086
	kill $dpids 2>/dev/null || :
	wait 2>/dev/null || :
	rm -f "$dir/$1.ready".*
	run dedup --corpus "$dir/$1.corpus" --json
}
run dedup --corpus "$dir/mixed.corpus" --copies 4 --json
run dedup --corpus "$dir/mixed.corpus" --copies 4 --scope-per-copy --no-zram \
	--json
run dedup --corpus "$dir/nodup.corpus" --json
run dedup --corpus "$dir/halfdup.corpus" --json
dedup_capture perl4 4 0
dedup_capture fork4 1 3
