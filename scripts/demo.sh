#!/bin/bash
# demo.sh -- set up, then run the main job: zpoold with its embedded
# default configuration on a private socket; two processes holding the
# same 2000 pages (stored once: dedup across clients); the kvcache example
# offloading its cold entries and faulting them back, every read verified;
# then the daemon's statistics from zpctl.
#
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash scripts/setup.sh
make -C build -s examples/kvcache tests/zp_fill

b=$top/build
dir=$(mktemp -d /tmp/zpoold-demo.XXXXXX)
sock=$dir/zpoold.sock
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

echo "== zpoold (embedded defaults) on $sock"
"$b/daemon/zpoold" --socket "$sock" --config /dev/null --foreground 2>"$dir/zpoold.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$dir/zpoold.log"; exit 1; }
export ZPOOLD_SOCKET=$sock

echo "== two processes store the same 2000 pages"
for name in alice bob; do
	"$b/tests/zp_fill" "$sock" 2000 2000 "$name" >"$dir/$name.out" &
	pids+=($!)
done
for name in alice bob; do
	for _ in $(seq 200); do grep -q '^pages' "$dir/$name.out" && break; sleep 0.05; done
	sed "s/^/  $name: /" "$dir/$name.out"
done

echo "== kvcache: 20000 entries of 4 KiB, 2000 resident, 200000 accesses"
"$b/examples/kvcache" -s "$sock" -n 20000 -r 2000 -a 200000 | sed 's/^/  /'

# kvcache has left: a worker frees its offloaded pages and gives their
# frames back; the figures below are the pool once that is done.
for _ in $(seq 40); do
	"$b/tools/zpctl" status --json | grep -q '"empty_frames": 0,' && break
	sleep 0.05
done
echo "== zpctl status"
"$b/tools/zpctl" status
echo "== zpctl clients"
"$b/tools/zpctl" clients
