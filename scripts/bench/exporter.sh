#!/usr/bin/env bash
# Benchmark: `isotune exporter` scrape latency and CPU with COUNT VMs' worth
# of QMP stats (default 50).
#
# The stats are recorded once from a real paused TCG QEMU with a cdrom
# (query-block, query-blockstats), then replayed by COUNT QMP sockets
# (scripts/bench/qmp-replay.py), so the count does not need COUNT VMs. The
# peer, scraped alternately in the same loop, is the Go exporter every
# Prometheus user runs: Prometheus' own /metrics. Prints p50/p99 of each, the
# ratio of medians, and the exporter's CPU while idle and while scraped once
# a second.
#
#   scripts/bench/exporter.sh [COUNT]      (SCRAPES=300 IDLE_SECONDS=30)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-50}"
scrapes="${SCRAPES:-300}"
idle="${IDLE_SECONDS:-30}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p isotune
  BIN="$PWD/target/release/isotune"
fi

# Record: a paused QEMU with an IDE cdrom.
mkdir -p "$work/tree" && echo x >"$work/tree/a" && xorriso -as mkisofs -quiet -o "$work/a.iso" "$work/tree"
qemu-system-x86_64 -accel tcg -S -display none -nodefaults -m 64 -cdrom "$work/a.iso" \
  -qmp "unix:$work/rec.sock,server=on,wait=off" -daemonize -pidfile "$work/rec.pid"
python3 scripts/bench/qmp-replay.py record "$work/rec.sock" "$work/recorded.json"
kill "$(cat "$work/rec.pid")"

python3 scripts/bench/qmp-replay.py serve "$work/recorded.json" "$work/sock" "$count" &
pids+=($!)
for _ in $(seq 100); do [ "$(find "$work/sock" -maxdepth 1 -name "*.sock" 2>/dev/null | wc -l)" -ge "$count" ] && break; sleep 0.1; done
qmp_args=()
for s in "$work"/sock/*.sock; do qmp_args+=(--qmp "$s"); done

exp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" exporter --listen "127.0.0.1:$exp_port" "${qmp_args[@]}" 2>/dev/null &
exp_pid=$!; pids+=("$exp_pid")
printf 'global: {scrape_interval: 1h}\nscrape_configs: []\n' >"$work/prom.yml"
prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >/dev/null 2>&1 &
pids+=($!)
sleep 3

python3 scripts/bench/qmp-replay.py measure "$exp_pid" "$exp_port" "$prom_port" "$scrapes" "$idle" "$count"
