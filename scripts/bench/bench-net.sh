#!/usr/bin/env bash
# Benchmark: `isotune bench http://...` against curl on the same busybox
# httpd, in the same invocation: the same Range requests (sequential 64 KiB
# reads of a 32 MiB image, 512 requests), alternating isotune, curl,
# isotune, curl ... so both see the same machine load. curl makes all 512
# requests in one process (`--next` between them), so connection reuse is
# curl's own (busybox httpd closes each connection after one answer, for
# both). Prints the median wall time of a pass, the time per request and
# the ratio isotune/curl.
#
# Then the same comparison over ONE keep-alive connection: the image served
# by isotune's own Range server (crates/net/examples/serve_image.rs, the
# server `isotune boot --source http` starts), curl reusing its connection
# across `--next` (its `%{num_connects}` must sum to 1 per pass).
#
# Then the same 512 reads from nbdkit (`file` plugin, Unix socket),
# `isotune bench nbd+unix://...` against `fio --ioengine=nbd` (libnbd) on
# the same export, alternating: median IOPS and the ratio isotune/fio.
#
#   scripts/bench/bench-net.sh          (RUNS=5; BIN=path to use a built isotune)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-5}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p isotune
  BIN="$PWD/target/release/isotune"
fi
cargo build --release --quiet -p isotune-net --example serve_image
serve_bin="$PWD/target/release/examples/serve_image"
for t in busybox curl nbdkit fio; do
  command -v "$t" >/dev/null || { echo "bench-net.sh: needs $t (scripts/setup)" >&2; exit 2; }
done
work="$(mktemp -d /var/tmp/isotune-bench-net.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
head -c $((32 << 20)) /dev/urandom >"$work/image.iso"
busybox httpd -f -p "127.0.0.1:$port" -h "$work" &
httpd=$!
nbdkit -r -f -U "$work/nbd.sock" file "$work/image.iso" &
nbd=$!
trap 'kill $httpd $nbd 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/image.iso"
for _ in $(seq 50); do curl -sfI "$url" >/dev/null && break; sleep 0.1; done

# curl's argument list: one -r range per request, --next between them.
args=()
for i in $(seq 0 511); do
  [ "$i" -gt 0 ] && args+=(--next)
  args+=(-s -f -r "$((i * 65536))-$((i * 65536 + 65535))" -o /dev/null "$url")
done

for i in $(seq "$runs"); do
  "$BIN" bench --quiet --json -w seq --seq-block 64k --runs 1 --warmup 0 "$url" >"$work/isotune-$i.json"
  start=$(date +%s%N)
  curl "${args[@]}"
  echo $(( $(date +%s%N) - start )) >"$work/curl-$i.ns"
done

# One keep-alive connection: isotune's server; stdin closed = it stops.
coproc SRV { "$serve_bin" "$work/image.iso"; }
read -r ka_url <&"${SRV[0]}"
ka_args=()
for i in $(seq 0 511); do
  [ "$i" -gt 0 ] && ka_args+=(--next)
  ka_args+=(-s -f -w '%{num_connects} %{time_total}\n' -r "$((i * 65536))-$((i * 65536 + 65535))" -o /dev/null "$ka_url")
done
for i in $(seq "$runs"); do
  "$BIN" bench --quiet --json -w seq --seq-block 64k --runs 1 --warmup 0 "$ka_url" >"$work/isotune-ka-$i.json"
  start=$(date +%s%N)
  curl "${ka_args[@]}" >"$work/curl-ka-$i.conns"
  echo $(( $(date +%s%N) - start )) >"$work/curl-ka-$i.ns"
done
eval "exec ${SRV[1]}>&-"
read -r served <&"${SRV[0]}" || served="(no stats)"
echo "isotune's server served: $served" >&2

nbd_url="nbd+unix:///?socket=$work/nbd.sock"
for _ in $(seq 50); do [ -S "$work/nbd.sock" ] && break; sleep 0.1; done
for i in $(seq "$runs"); do
  "$BIN" bench --quiet --json -w seq --seq-block 64k --runs 1 --warmup 0 "$nbd_url" >"$work/isotune-nbd-$i.json"
  fio --name=nbd --ioengine=nbd --uri="$nbd_url" --rw=read --bs=64k --size=32M \
    --iodepth=1 --output-format=json --output="$work/fio-nbd-$i.json" >/dev/null
done

python3 - "$work" "$runs" <<'PY'
import json, statistics, sys, pathlib
work, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
iso, cur, reqs = [], [], set()
for i in range(1, runs + 1):
    r = json.loads((work / f"isotune-{i}.json").read_text())
    run = r["workloads"][0]["runs"][0]
    reqs.add(run["requests"])
    iso.append(run["elapsed_ns"] / 1e9)
    cur.append(int((work / f"curl-{i}.ns").read_text()) / 1e9)
assert reqs == {512}, reqs
mi, mc = statistics.median(iso), statistics.median(cur)
print(f"requests per pass: 512 x 64 KiB, {runs} passes each")
print(f"isotune bench: median {mi:.3f} s (min {min(iso):.3f}, max {max(iso):.3f}), {mi / 512 * 1e6:.0f} us/request")
print(f"curl --next:   median {mc:.3f} s (min {min(cur):.3f}, max {max(cur):.3f}), {mc / 512 * 1e6:.0f} us/request")
print(f"ratio isotune/curl (time): {mi / mc:.2f}")
ki, kc, kt = [], [], []
for i in range(1, runs + 1):
    run = json.loads((work / f"isotune-ka-{i}.json").read_text())["workloads"][0]["runs"][0]
    assert run["requests"] == 512, run["requests"]
    rows = [l.split() for l in (work / f"curl-ka-{i}.conns").read_text().splitlines()]
    conns = [int(r[0]) for r in rows]
    assert len(conns) == 512 and sum(conns) == 1, (len(conns), sum(conns))
    kt.append(sum(float(r[1]) for r in rows))
    ki.append(run["elapsed_ns"] / 1e9)
    kc.append(int((work / f"curl-ka-{i}.ns").read_text()) / 1e9)
mi, mc = statistics.median(ki), statistics.median(kc)
print("one keep-alive connection (isotune's server; curl connected once per pass):")
print(f"isotune bench: median {mi:.3f} s (min {min(ki):.3f}, max {max(ki):.3f}), {mi / 512 * 1e6:.0f} us/request")
print(f"curl --next:   median {mc:.3f} s (min {min(kc):.3f}, max {max(kc):.3f}), {mc / 512 * 1e6:.0f} us/request")
mt = statistics.median(kt)
print(f"curl's transfers alone (sum of %{{time_total}}, no process start or option parsing): median {mt:.3f} s, {mt / 512 * 1e6:.0f} us/request")
print(f"ratio isotune/curl (time): {mi / mc:.2f} whole process, {mi / mt:.2f} transfers alone; "
      f"IOPS ratio isotune/curl: {mc / mi:.2f}, {mt / mi:.2f}")
ii, fi = [], []
for i in range(1, runs + 1):
    w = json.loads((work / f"isotune-nbd-{i}.json").read_text())["workloads"][0]["runs"][0]
    f = json.loads((work / f"fio-nbd-{i}.json").read_text())["jobs"][0]["read"]
    assert w["requests"] == f["total_ios"] == 512, (w["requests"], f["total_ios"])
    ii.append(w["iops"])
    fi.append(f["iops"])
m1, m2 = statistics.median(ii), statistics.median(fi)
print(f"NBD: isotune bench median {m1:.0f} IOPS (min {min(ii):.0f}, max {max(ii):.0f}); "
      f"fio --ioengine=nbd median {m2:.0f} IOPS (min {min(fi):.0f}, max {max(fi):.0f}); "
      f"ratio isotune/fio (IOPS): {m1 / m2:.2f}")
PY
