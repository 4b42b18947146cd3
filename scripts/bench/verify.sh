#!/usr/bin/env bash
# Benchmark: `isotune verify` against the tools users run today, on the same
# 1 GiB image in page cache, in one hyperfine invocation (medians + ratios).
#
#   scripts/bench/verify.sh [SIZE_MIB]      (default 1024)
#
# Writes the hyperfine JSON/Markdown next to a temp image and prints where.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib="${1:-1024}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin="$PWD/target/release/isotune"

mkdir -p "$work/tree"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/tree/payload.bin"
xorriso -as mkisofs -quiet -R -J -V BENCH -o "$work/bench.iso" "$work/tree" 2>/dev/null
rm -rf "$work/tree"
implantisomd5 "$work/bench.iso" >/dev/null
cat "$work/bench.iso" > /dev/null   # page cache: measure CPU work, not the disk
img="$work/bench.iso"

echo "image: $(stat -c %s "$img") bytes; cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
hyperfine --warmup 1 --runs "${RUNS:-5}" --style basic \
  --export-json "$work/verify3.json" \
  -n 'isotune verify --md5 --sha256 --implanted' "$bin verify --quiet --md5 --sha256 --implanted $img" \
  -n 'md5sum; sha256sum; checkisomd5' "md5sum $img; sha256sum $img; checkisomd5 $img"
hyperfine --warmup 1 --runs "${RUNS:-5}" --style basic \
  --export-json "$work/verify1.json" \
  -n 'isotune verify --sha256' "$bin verify --quiet --sha256 $img" \
  -n 'sha256sum' "sha256sum $img"
python3 scripts/bench/summarize.py "$work/verify3.json" "$work/verify1.json"
