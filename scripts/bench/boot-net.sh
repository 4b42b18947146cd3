#!/usr/bin/env bash
# Benchmark: `isotune boot --source` — the same boot read from the local
# file, from isotune's HTTP server (QEMU's curl driver) at 0 and 2 ms per
# request with readahead 256K (curl's default) and 2M, and from nbdkit at
# 0 and 2 ms. Each matrix is one invocation with its configurations' runs
# interleaved (A B C A B C ...), so the ratios are measured side by side.
#   - the built-in firmware workload (sequential 32 KiB reads on AHCI);
#   - GRUB (grub-mkrescue, BIOS) loading a kernel and the payload as its
#     initrd.
# TCG (see scripts/bench/boot.sh for why). Prints medians and, per delay,
# each configuration's time as a ratio of the fastest network one, and the
# Range requests QEMU sent to the HTTP server.
#
#   - nbdkit at 2 ms with no filter, `cache` and `readahead` (firmware).
#   - readahead 2K, 256K and 2M at 2 ms on IDE (firmware, 16 MiB payload):
#     QEMU's `readahead=2048` is 2048 *bytes*; this is the configuration of
#     the hand measurement where "readahead 2048" was ~6x slower.
#   - bandwidth (ONLY=rate): HTTP at 2 ms with readahead 256K and 2M at
#     --net-rate unlimited, 100M and 20M (bits per second), the firmware
#     workload (16 MiB payload, AHCI) and GRUB (virtio-scsi): does a large
#     readahead's extra bytes cost more than its saved round trips on a
#     thin link?
#
#   scripts/bench/boot-net.sh [OUTDIR]   (RUNS=3 PAYLOAD_MIB=64 by default;
#   ISOTUNE_BIN=path/to/isotune skips the release build; ONLY=firmware,
#   grub, nbd-filters, ide-readahead, rate-firmware or rate-grub runs one
#   matrix, ONLY=rate both rate matrices)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/bench}"
runs="${RUNS:-3}"
mib="${PAYLOAD_MIB:-64}"
work="$(mktemp -d /var/tmp/isotune-bench-net.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

if [ -n "${ISOTUNE_BIN:-}" ]; then
  bin="$ISOTUNE_BIN"
  cargo run --quiet -p isotune-testutil --example workloads -- "$work" "$mib" >/dev/null
else
  cargo build --release --quiet
  bin="$PWD/target/release/isotune"
  cargo run --release --quiet -p isotune-testutil --example workloads -- "$work" "$mib" >/dev/null
fi

net=(--source file --source http --source nbd --net-delay 0 --net-delay 2
     --readahead 256K --readahead 2M)

boot() {
  local name="$1"; shift
  if [ -n "${ONLY:-}" ]; then
    case "$name" in "$ONLY" | "$ONLY"-*) ;; *) return ;; esac
  fi
  echo "== $name" >&2
  "$bin" boot --quiet --accel tcg --runs "$runs" "$@" \
    --json --markdown "$out/boot-net-$name.md" > "$work/$name.json" || true
  python3 - "$work/$name.json" <<'PY'
import json, sys, statistics
r = json.load(open(sys.argv[1]))
print(f"{r['builtin'] or r['iso'].split('/')[-1]}: {r['runs_per_config']} runs each, accel {r['accel_used']}")
def link(src):
    return (src.get("delay_ms") or 0, src.get("rate_bits_per_s") or 0)
best = {}
for c in r["configs"]:
    src = c["config"]["source"]
    m = c["summary"]["median_seconds"]
    if src["kind"] != "file" and m is not None:
        best[link(src)] = min(best.get(link(src), m), m)
for c in sorted(r["configs"], key=lambda c: c["summary"]["rank"] or 99):
    s, src = c["summary"], c["config"]["source"]
    m = s["median_seconds"]
    if m is None:
        print(f"  {c['config']['name']:<32} failed: {c['failures'][:1]}")
        continue
    reqs = [run["server"]["requests"] for run in c["runs"] if run.get("server")]
    sent = [run["server"]["bytes"] for run in c["runs"] if run.get("server")]
    extra = (f"  {statistics.median(reqs):.0f} Range requests, "
             f"{statistics.median(sent) / 2**20:.1f} MiB sent") if reqs else ""
    ratio = ""
    if src["kind"] != "file":
        ratio = f"  {m / best[link(src)]:.2f}x the fastest on this link"
    print(f"  {c['config']['name']:<32} median {m:6.2f} s  (min {s['min_seconds']:.2f}, max {s['max_seconds']:.2f}){ratio}{extra}")
for a in r.get("source_advice", []):
    rate = a.get("rate_bits_per_s")
    rate = f"{rate / 1e6:g} Mbit/s" if rate else "unlimited"
    print(f"  advice at {a['delay_ms']} ms, {rate}: {a['best']}")
PY
}

boot firmware --payload-mib "$mib" --bus ahci "${net[@]}"
boot grub "$work/grub/grub.iso" --bus virtio-scsi "${net[@]}" \
  --marker 'grub=^isotune: grub-start' --until '^isotune: grub-done' --timeout 300
boot nbd-filters --payload-mib "$mib" --bus ahci --source nbd --net-delay 2 \
  --nbdkit-filter none --nbdkit-filter cache --nbdkit-filter readahead
boot ide-readahead --payload-mib 16 --bus ide --source file --source http --net-delay 2 \
  --readahead 2K --readahead 256K --readahead 2M
rate=(--source http --net-delay 2 --readahead 256K --readahead 2M
      --net-rate 0 --net-rate 100M --net-rate 20M)
boot rate-firmware --payload-mib 16 --bus ahci "${rate[@]}"
boot rate-grub "$work/grub/grub.iso" --bus virtio-scsi "${rate[@]}" \
  --marker 'grub=^isotune: grub-start' --until '^isotune: grub-done' --timeout 300
