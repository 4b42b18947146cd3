#!/usr/bin/env bash
# Benchmark: `isotune fleet report --json` over 10,000 hosts (a doctor and a
# check report each; target: under 2 s and under 500 MB), in one hyperfine
# invocation with jq counting the findings by id over the same files, then
# the peak RSS of each (/usr/bin/time -v).
#
# The reports are the binary's own: 40 `doctor --json` runs over 1-8 QEMU
# command lines each (IDE, SATA, virtio-scsi, myths, aio=native without
# cache.direct: varied findings) and one `check --json` of a real ISO; each
# host gets one of them with its VM names made its own.
#
#   scripts/bench/fleet.sh [HOSTS]     RUNS=N for hyperfine's run count
set -euo pipefail
cd "$(dirname "$0")/../.."
hosts="${1:-10000}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet -p isotune
bin="$PWD/target/release/isotune"
export ISOTUNE_NO_LIBVIRT=1

mkdir -p "$work/seed" "$work/tree"
head -c 300000 /dev/urandom > "$work/tree/vmlinuz"
head -c 4096 /dev/zero > "$work/tree/boot.bin"
xorriso -as mkisofs -quiet -R -b boot.bin -no-emul-boot -o "$work/install.iso" "$work/tree"
iso="$work/install.iso"
drives=(
  "-drive file=$iso,media=cdrom"
  "-machine q35 -drive file=$iso,media=cdrom,if=none,id=cd -device ide-cd,drive=cd,bus=ide.0"
  "-device virtio-scsi-pci -drive file=$iso,if=none,id=cd,media=cdrom -device scsi-cd,drive=cd"
  "-enable-dma -drive file=$iso,media=cdrom,dmqueue_size=1024"
  "-drive file=$iso,media=cdrom,aio=native"
  "-accel tcg -drive file=$iso,media=cdrom,cache=none"
)
for s in $(seq 0 39); do
  args=()
  for v in $(seq 1 $((s % 8 + 1))); do
    args+=(--qemu-cmdline "qemu-system-x86_64 -name vm$v -m 2G ${drives[$(((s + v) % ${#drives[@]}))]}")
  done
  "$bin" doctor --json "${args[@]}" > "$work/seed/doctor$s.json" || true
done
"$bin" check --json --quiet --no-bench "$iso" > "$work/seed/check.json" || true
echo "seed reports: $(du -sh "$work/seed" | cut -f1) in 41 files"

python3 - "$work" "$hosts" <<'PY'
import os, re, sys
work, hosts = sys.argv[1], int(sys.argv[2])
vm = re.compile(r'(?<![A-Za-z_])vm(?=[0-9])')
seeds = [open(f"{work}/seed/doctor{s}.json").read() for s in range(40)]
check = open(f"{work}/seed/check.json").read()
for h in range(hosts):
    d = f"{work}/reports/host{h:05d}"
    os.makedirs(d)
    text = vm.sub(f'h{h}-vm', seeds[h % 40])
    open(f"{d}/doctor.json", "w").write(text)
    open(f"{d}/check.json", "w").write(check)
PY
files=$(find "$work/reports" -name '*.json' | wc -l)
echo "$hosts hosts, $files reports, $(du -sh "$work/reports" | cut -f1)"

# The peer: the same count of findings by id over the same files (every
# occurrence, not distinct hosts: jq keeps no per-host state here).
jq_cmd="find $work/reports -name '*.json' -print0 | xargs -0 cat | jq -n 'reduce (inputs | .findings[]?.id) as \$i ({}; .[\$i] += 1)' > /dev/null"
# -i: the fleet has error-severity findings, so `fleet report` exits 1.
hyperfine --warmup 1 --runs "${RUNS:-10}" --style basic -i \
  --export-json "$work/fleet.json" \
  -n "isotune fleet report --json ($hosts hosts)" "$bin fleet report --json $work/reports > /dev/null" \
  -n "jq: findings by id over the same files" "$jq_cmd"
python3 scripts/bench/summarize.py "$work/fleet.json"

rss() { /usr/bin/time -v sh -c "$1" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {printf "%.0f MB\n", $2 / 1024}'; }
echo "peak RSS isotune fleet report: $(rss "$bin fleet report --json $work/reports > /dev/null")"
echo "peak RSS jq (largest process of the pipeline): $(rss "$jq_cmd")"
cpu() { /usr/bin/time -f '%U %S' sh -c "$1" 2>&1 >/dev/null | tail -1 | awk '{printf "%.2f s CPU (user+sys)\n", $1 + $2}'; }
echo "CPU isotune: $(cpu "$bin fleet report --json $work/reports > /dev/null"); jq: $(cpu "$jq_cmd")"
"$bin" fleet report "$work/reports" | head -20 || true
