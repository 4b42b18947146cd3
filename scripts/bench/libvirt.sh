#!/usr/bin/env bash
# Benchmark: reading 100 libvirt domains (5 of them running TCG guests)
# through isotune-libvirt (live + persistent XML of each, parsed, plus cdrom
# read counters of the running ones), the whole `isotune doctor --json
# --connect URI` (that read plus the host, the ISO's storage, the rules and
# the JSON), and `virsh dumpxml` of each domain in a shell loop, in one
# hyperfine invocation. Target for `doctor`: under 300 ms.
#
# Needs root and a libvirtd serving qemu:///system (the test harness in
# crates/testutil/src/libvirtd.rs says what a host without systemd needs).
# Every domain it defines has the prefix isotune-bench-PID- and is destroyed
# and undefined on exit.
#
#   scripts/bench/libvirt.sh [COUNT] [RUNNING]      (RUNS=20)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-100}"
running="${2:-5}"
uri=qemu:///system
virsh -q -c "$uri" version >/dev/null 2>&1 || {
  echo "libvirt.sh: no libvirtd answers on $uri; start one (virtlogd -d; libvirtd -d)" >&2
  exit 2
}
work="$(mktemp -d /var/tmp/isotune-libvirt.XXXXXX)"
prefix="isotune-bench-$$-"
cleanup() {
  for d in $(virsh -q -c "$uri" list --all --name | grep "^$prefix" || true); do
    virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
    virsh -q -c "$uri" undefine "$d" >/dev/null 2>&1 || true
  done
  rm -f /var/log/libvirt/qemu/"$prefix"*.log
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet -p isotune-libvirt --example scan
cargo build --release --quiet -p isotune
bin="$PWD/target/release/examples/scan"
isotune="$PWD/target/release/isotune"

# An ISO whose boot image is `cli; hlt; jmp $-1`: running guests idle.
mkdir -p "$work/tree"
printf '\xfa\xf4\xeb\xfd' > "$work/tree/boot.img"
truncate -s 2048 "$work/tree/boot.img"
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b boot.img -no-emul-boot -boot-load-size 4 "$work/tree" 2>/dev/null

for i in $(seq 1 "$count"); do
  case $((i % 3)) in
    0) machine=pc; ctl=""; target=hdc; bus=ide ;;
    1) machine=q35; ctl=""; target=sda; bus=sata ;;
    2) machine=q35; ctl="<controller type='scsi' index='0' model='virtio-scsi'/>"; target=sda; bus=scsi ;;
  esac
  cat > "$work/d$i.xml" <<XML
<domain type='qemu'><name>${prefix}$i</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='$machine'>hvm</type><boot dev='cdrom'/></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>$ctl
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$work/boot.iso'/><target dev='$target' bus='$bus'/><readonly/></disk>
<video><model type='none'/></video></devices></domain>
XML
  virsh -q -c "$uri" define "$work/d$i.xml" >/dev/null
done
for i in $(seq 1 "$running"); do virsh -q -c "$uri" start "${prefix}$i" >/dev/null; done
"$bin" "$uri"

names="$(virsh -q -c "$uri" list --all --name | grep "^$prefix" | tr "\n" " ")"
hyperfine --warmup 2 --runs "${RUNS:-20}" --style basic \
  --export-json "$work/libvirt.json" \
  -n "isotune-libvirt scan ($count domains, $running running)" "$bin $uri" \
  -n "isotune doctor --json --connect $uri" "$isotune doctor --json --connect $uri > /dev/null" \
  -n "virsh dumpxml each domain (loop)" "for d in $names; do virsh -q -r -c $uri dumpxml \$d; done > /dev/null"
python3 scripts/bench/summarize.py "$work/libvirt.json"
