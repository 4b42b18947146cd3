#!/usr/bin/env bash
# Benchmark: the reader's budget on crafted hostile images (the shapes of
# isotune_iso::crafted: Rock Ridge CE chains, overlapping multi-extent
# directories, a GPT of 8,192 partitions past the end). Goal: any image up
# to 64 MiB, however crafted, inspected in under 2 s and 256 MB.
#
#   scripts/bench/iso-budget.sh [SIZES_MIB...]     (default: 2 16 64)
#   RUNS=N (default 3) runs per command; the median wall time, CPU time
#   (user + system: what the goal means on a loaded machine) and peak RSS
#   (/usr/bin/time) are printed, with `isoinfo -R -l` on the same image as
#   the peer (killed after 20 s: it has no such budget) and the ratio of
#   median wall times (isoinfo's / isotune's; above 1: isotune is faster;
#   "> N" when isoinfo was killed).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("${@:-2 16 64}")
read -r -a sizes <<< "${sizes[*]}"
runs="${RUNS:-3}"
work="$(mktemp -d /var/tmp/isotune-budget.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet -p isotune -p isotune-iso --bin isotune --example crafted
bin="$PWD/target/release/isotune"
gen="$PWD/target/release/examples/crafted"

# Runs "${@:2}" RUNS times, killed after $1 seconds; prints
# "median_wall_s median_cpu_s median_maxrss_kb killed" (a killed run counts
# as the limit; killed is 1 when the median run was killed).
measure() {
  local limit="$1" rows=() i line
  shift
  for ((i = 0; i < runs; i++)); do
    rm -f "$work/t"
    timeout "$limit" /usr/bin/time -f '%e %U %S %M' -o "$work/t" "$@" > /dev/null 2>&1 || true
    line="$(tail -1 "$work/t" 2>/dev/null || true)"
    case "$line" in
      [0-9]*) rows+=("$line") ;;
      *) rows+=("$limit $limit 0 0") ;;
    esac
  done
  printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
wall = statistics.median(float(r[0]) for r in rows)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
rss = statistics.median(int(r[3]) for r in rows)
print(f"{wall:.2f} {cpu:.2f} {int(rss)} {int(wall >= float(sys.argv[1]))}")' "$limit"
}

echo "| shape | size | command | wall | CPU | peak RSS | isoinfo -R -l wall (peer) | isoinfo / isotune |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for shape in susp-ce multi-extent gpt; do
  for mib in "${sizes[@]}"; do
    img="$work/$shape-$mib.iso"
    "$gen" "$shape" $((mib << 20)) "$img"
    cat "$img" > /dev/null
    read -r peer_s _ _ peer_killed < <(measure 20 isoinfo -R -l -i "$img")
    for cmd in "inspect" "inspect --files --json"; do
      # shellcheck disable=SC2086
      read -r s cpu kb _ < <(measure 60 "$bin" $cmd "$img")
      ratio="$(python3 -c "import sys; a,b,k=float(sys.argv[1]),float(sys.argv[2]),sys.argv[3]=='1'; print('-' if a <= 0 else (('> ' if k else '') + f'{b/a:.1f}x'))" "$s" "$peer_s" "$peer_killed")"
      peer="${peer_s} s"
      [ "$peer_killed" = 1 ] && peer="> ${peer_s} s (killed)"
      # shellcheck disable=SC2016  # the backticks are Markdown, not a command
      printf '| %s | %d MiB | `isotune %s` | %s s | %s s | %d MB | %s | %s |\n' \
        "$shape" "$mib" "$cmd" "$s" "$cpu" $((kb / 1024)) "$peer" "$ratio"
    done
    rm -f "$img"
  done
done
