#!/usr/bin/env bash
# Benchmark: what `isotune tune apply` buys for storage.low-readahead. A cold
# sequential read (`cat`) of an ISO on ext4 on a loop device with
# read_ahead_kb=16 (what the doctor flags) against the same read with 4096
# (what `tune apply` sets), in one hyperfine invocation, each run cold: the
# loop device uses direct I/O to its backing file (so the host's page cache
# of that file does not serve the reads) and the ISO's own pages are dropped
# before every run (`dd iflag=nocache count=0`, that file only).
#
#   scripts/bench/tune-readahead.sh      (root; RUNS=5 SIZE_MIB=256)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-5}"
mib="${SIZE_MIB:-256}"
[ "$(id -u)" -eq 0 ] || { echo "tune-readahead.sh: needs root (losetup, mount, sysfs)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "tune-readahead.sh: hyperfine missing (scripts/setup)" >&2; exit 2; }
work="$(mktemp -d /var/tmp/isotune-readahead.XXXXXX)"
dev=""
cleanup() {
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  [ -n "$dev" ] && losetup -d "$dev"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/stage" "$work/mnt"
head -c "$((mib << 20))" /dev/urandom >"$work/stage/image.iso"
mke2fs -q -t ext4 -d "$work/stage" "$work/fs.img" "$((mib + 64))M"
rm -f "$work/stage/image.iso"
dev="$(losetup -f --show --direct-io=on "$work/fs.img")"
mount -o ro "$dev" "$work/mnt"
ra="/sys/block/$(basename "$dev")/queue/read_ahead_kb"
f="$work/mnt/image.iso"
echo "loop device $dev, direct I/O $(cat "/sys/block/$(basename "$dev")/loop/dio"), file $mib MiB"
hyperfine --runs "$runs" --export-json "$work/h.json" \
  -n "read_ahead_kb=16" --prepare "echo 16 > $ra; dd if=$f iflag=nocache count=0 status=none" "cat $f > /dev/null" \
  -n "read_ahead_kb=4096" --prepare "echo 4096 > $ra; dd if=$f iflag=nocache count=0 status=none" "cat $f > /dev/null"
python3 - "$work/h.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
med = {x["command"]: statistics.median(x["times"]) for x in r}
for name, m in med.items():
    print(f"{name}: median {m:.3f} s")
a, b = med["read_ahead_kb=16"], med["read_ahead_kb=4096"]
print(f"ratio 16/4096: {a / b:.2f}x")
PY
