#!/usr/bin/env bash
# Benchmark: `isotune boot` matrices for the three workloads, each matrix one
# invocation with its configurations' runs interleaved (A B C A B C ...):
#   - the built-in firmware workload (isotune's BIOS program reading the
#     payload through int13), IDE vs AHCI vs virtio-scsi;
#   - GRUB (grub-mkrescue, BIOS and UEFI) loading a kernel and the payload as
#     its initrd, as an installer's GRUB does;
#   - Linux (the Debian cloud kernel + a busybox initramfs that mounts the
#     cdrom and reads the payload), IDE (ata_piix) vs virtio-scsi.
# TCG: on a host whose /dev/kvm is kvm_pvm (nested paravirtual KVM) firmware
# code runs far slower under KVM than TCG (scripts/bench/accel.sh).
#
#   scripts/bench/boot.sh [OUTDIR]      (RUNS=5 PAYLOAD_MIB=64 by default)
#   JSON_DIR=DIR keeps each matrix's `isotune boot --json` report as
#   DIR/NAME.json (scripts/bench/evidence.sh reads them); by default they go
#   to the temporary directory and are removed.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs/bench}"
runs="${RUNS:-5}"
mib="${PAYLOAD_MIB:-64}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
json_dir="${JSON_DIR:-$work}"
mkdir -p "$out" "$json_dir"

cargo build --release --quiet
bin="$PWD/target/release/isotune"
cargo run --release --quiet -p isotune-testutil --example workloads -- "$work" "$mib" >/dev/null

boot() {
  local name="$1"; shift
  echo "== $name" >&2
  "$bin" boot --quiet --accel tcg --runs "$runs" "$@" \
    --json --markdown "$out/boot-$name.md" --chart "$out/boot-$name.svg" > "$json_dir/$name.json" || true
  python3 - "$json_dir/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['builtin'] or r['iso']}: baseline {r['baseline']}, accel {r['accel_used']}")
for c in sorted(r["configs"], key=lambda c: c["summary"]["rank"] or 99):
    s = c["summary"]
    vs = s.get("vs_baseline") or {}
    ci = vs.get("speedup_ci95")
    # No interval when it is unbounded (too few runs, or runs too spread).
    ci = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    print(f"  {c['config']['name']:<22} median {s['median_seconds']:.2f} s  "
          f"bytes/req {s['median_bytes_per_request']:.0f}  "
          + (f"speed-up {vs['speedup']:.2f}x{ci} {vs['verdict']}" if vs else "baseline"))
PY
}

boot firmware --payload-mib "$mib"
boot grub "$work/grub/grub.iso" --bus ide,ahci,virtio-scsi --firmware bios,uefi \
  --marker 'grub=^isotune: grub-start' --until '^isotune: grub-done' --timeout 120
boot linux "$work/linux/linux.iso" --bus ide,virtio-scsi --machine pc --memory-mib 512 \
  --marker 'linux=^isotune: linux-start' --marker 'mounted=^isotune: mounted' \
  --until '^isotune: linux-done' --timeout 180
