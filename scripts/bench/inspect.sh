#!/usr/bin/env bash
# Benchmark: `isotune inspect --files` against isoinfo and xorriso on an image
# with many files (default 100,000), one hyperfine invocation.
#
#   scripts/bench/inspect.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/../.."
files="${1:-100000}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
bin="$PWD/target/release/isotune"

# 100 directories of N/100 small files each, names long enough to need RR/Joliet.
python3 - "$work/tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per = max(1, n // 100)
for d in range(100):
    dd = os.path.join(root, f"directory-number-{d:03d}")
    os.makedirs(dd, exist_ok=True)
    for f in range(per):
        with open(os.path.join(dd, f"a-rather-long-file-name-{f:06d}.txt"), "w") as fh:
            fh.write("x")
PY
xorriso -as mkisofs -quiet -R -J -joliet-long -V MANY -o "$work/many.iso" "$work/tree" 2>/dev/null
rm -rf "$work/tree"
img="$work/many.iso"
cat "$img" > /dev/null

echo "image: $(stat -c %s "$img") bytes, $files files"
hyperfine --warmup 1 --runs "${RUNS:-10}" --style basic \
  --export-json "$work/inspect.json" \
  -n 'isotune inspect --files' "$bin inspect --files $img > /dev/null" \
  -n 'isoinfo -R -l' "isoinfo -R -l -i $img > /dev/null" \
  -n 'xorriso -find /' "xorriso -indev $img -find / > /dev/null 2>&1"
python3 scripts/bench/summarize.py "$work/inspect.json"

# Where isotune's time goes besides the listing: process start (isotune links
# libvirt and its dependencies; isoinfo links a handful of libraries), and
# each side's CPU time. With CALLGRIND=1 also the instructions each executes
# (deterministic, unlike time on a shared machine).
hyperfine -N --warmup 3 --runs 30 --style basic --export-json "$work/start.json" \
  -n 'isotune --version' "$bin --version" \
  -n 'isoinfo -version' "isoinfo -version" >/dev/null
python3 scripts/bench/summarize.py "$work/start.json"
echo "shared libraries: isotune $(ldd "$bin" | wc -l), isoinfo $(ldd "$(command -v isoinfo)" | wc -l)"
python3 - "$work/inspect.json" "$work/start.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        print(f"CPU (user+sys, mean): {r['command']}: {(r['user'] + r['system']) * 1e3:.1f} ms")
PY
if [ "${CALLGRIND:-0}" = 1 ]; then
  for cmd in "$bin --version" "$bin inspect --files $img" "isoinfo -R -l -i $img"; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" $cmd >/dev/null 2>"$work/cg.err"
    echo "instructions: $cmd: $(grep -o 'Collected : [0-9]*' "$work/cg.err" | cut -d' ' -f3)"
  done
fi
