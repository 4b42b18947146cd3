#!/usr/bin/env bash
# Benchmark: the accelerator a boot really gets. Boots isotune's built-in
# firmware workload (SeaBIOS + isotune's real-mode boot program reading the
# payload through int13 from an AHCI cdrom) under KVM and under TCG,
# alternating KVM, TCG, KVM, TCG ... so both see the same machine load, and
# prints each median and the ratio KVM/TCG.
#
# On a normal host KVM is far faster than TCG. On a host whose /dev/kvm is a
# nested paravirtual KVM (module kvm_pvm) the ratio shows how much slower
# firmware code runs there, which is what the doctor's accel.nested-pvm rule
# quotes.
#
#   scripts/bench/accel.sh              (RUNS=3 PAYLOAD_MIB=2; BIN=path to use a built isotune)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-3}"
mib="${PAYLOAD_MIB:-2}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$PWD/target/release/isotune"
fi
[ -r /dev/kvm ] || { echo "accel.sh: no /dev/kvm on this host; nothing to compare" >&2; exit 2; }
work="$(mktemp -d /var/tmp/isotune-accel.XXXXXX)"
trap 'rm -rf "$work"' EXIT

for i in $(seq "$runs"); do
  for accel in kvm tcg; do
    "$BIN" boot --quiet --accel "$accel" --bus ahci --runs 1 --payload-mib "$mib" \
      --timeout 900 --json >"$work/$accel-$i.json" || true
  done
done

python3 - "$work" "$runs" <<'PY'
import json, statistics, sys, pathlib
work, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
med = {}
for accel in ("kvm", "tcg"):
    secs, got = [], set()
    for i in range(1, runs + 1):
        r = json.loads((work / f"{accel}-{i}.json").read_text())
        got.add(r.get("accel_used"))
        for c in r["configs"]:
            for run in c.get("runs", []):
                if run.get("seconds") is not None:
                    secs.append(run["seconds"])
    med[accel] = statistics.median(secs) if secs else None
    print(f"{accel}: accelerator used {sorted(map(str, got))}, {len(secs)} runs, median "
          + (f"{med[accel]:.2f} s" if med[accel] else "n/a"))
if med["kvm"] and med["tcg"]:
    print(f"ratio kvm/tcg: {med['kvm'] / med['tcg']:.1f}x (above 1: KVM is slower than TCG here)")
PY
