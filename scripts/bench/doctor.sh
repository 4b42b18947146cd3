#!/usr/bin/env bash
# Benchmark: `isotune doctor` over 50 libvirt domain definitions (target:
# under 200 ms), in one hyperfine invocation with its peers: the doctor with
# no definitions (the fixed cost: host facts, /proc scan) and the same 50
# definitions given as QEMU command lines.
#
#   scripts/bench/doctor.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-50}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin="$PWD/target/release/isotune"
mkdir -p "$work/qemu"

# Realistic definitions: virt-install's own XML when it is installed (IDE,
# SATA and virtio-scsi cdroms in turn), else a hand-written equivalent.
touch "$work/install.iso"
cmdlines=()
for i in $(seq 1 "$count"); do
  case $((i % 3)) in
    0) bus=ide; extra=() ;;
    1) bus=sata; extra=(--xml ./os/type/@machine=q35) ;;
    2) bus=scsi; extra=(--controller "type=scsi,model=virtio-scsi") ;;
  esac
  if command -v virt-install >/dev/null; then
    virt-install --connect test:///default --print-xml --name "vm$i" --memory 2048 --vcpus 2 \
      --osinfo detect=on,require=off --disk "path=$work/install.iso,device=cdrom,bus=$bus" \
      "${extra[@]}" > "$work/qemu/vm$i.xml"
  else
    printf "<domain type='kvm'><name>vm%s</name><devices><disk type='file' device='cdrom'><source file='%s'/><target dev='sda' bus='%s'/><readonly/></disk></devices></domain>\n" \
      "$i" "$work/install.iso" "$bus" > "$work/qemu/vm$i.xml"
  fi
  cmdlines+=(--qemu-cmdline "qemu-system-x86_64 -name vm$i -machine q35 -m 2G -device virtio-scsi-pci,id=scsi0 -drive if=none,id=cd0,media=cdrom,format=raw,file=$work/install.iso -device scsi-cd,bus=scsi0.0,drive=cd0")
done
printf '%q ' "${cmdlines[@]}" > "$work/cmdlines"

echo "$count definitions in $work/qemu"
hyperfine --warmup 3 --runs "${RUNS:-30}" --style basic -i \
  --export-json "$work/doctor.json" \
  -n "isotune doctor --xml DIR ($count domains)" "$bin doctor --json --xml $work/qemu > /dev/null" \
  -n "isotune doctor (host only)" "$bin doctor --json > /dev/null" \
  -n "isotune doctor ($count --qemu-cmdline)" "$bin doctor --json $(cat "$work/cmdlines") > /dev/null"
python3 scripts/bench/summarize.py "$work/doctor.json"
