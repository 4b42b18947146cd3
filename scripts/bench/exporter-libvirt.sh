#!/usr/bin/env bash
# Benchmark: `isotune exporter --connect qemu:///system` (the libvirt source)
# scrape latency and CPU under a real libvirtd with COUNT domains defined and
# RUNNING of them running TCG guests that boot from an IDE cdrom and halt.
# The peer, run alternately in the same loop, is what a libvirt exporter
# does per scrape: `virsh -r domstats --block` of the running domains (one
# libvirt connection and one bulk stats call, as kumina/libvirt_exporter's
# virConnectGetAllDomainStats). Prints p50/p99 of each, and the exporter's
# CPU while idle and while scraped once a second. The exporter's first
# doctor scan (`--doctor-interval`, default 5 min) runs at its start, before
# the measurement.
#
# Needs root and a libvirtd serving qemu:///system (see scripts/bench/libvirt.sh).
# Every domain it defines has the prefix isotune-bench-PID- and is destroyed
# and undefined on exit.
#
#   scripts/bench/exporter-libvirt.sh [COUNT] [RUNNING]   (SCRAPES=200 IDLE_SECONDS=20)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-50}"
running="${2:-3}"
scrapes="${SCRAPES:-200}"
idle="${IDLE_SECONDS:-20}"
uri=qemu:///system
virsh -q -c "$uri" version >/dev/null 2>&1 || {
  echo "exporter-libvirt.sh: no libvirtd answers on $uri; start one (virtlogd -d; libvirtd -d)" >&2
  exit 2
}
work="$(mktemp -d /var/tmp/isotune-exporter-libvirt.XXXXXX)"
prefix="isotune-bench-$$-"
exp_pid=""
cleanup() {
  if [ -n "$exp_pid" ]; then kill "$exp_pid" 2>/dev/null || true; fi
  for d in $(virsh -q -c "$uri" list --all --name | grep "^$prefix" || true); do
    virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
    virsh -q -c "$uri" undefine "$d" >/dev/null 2>&1 || true
  done
  rm -f /var/log/libvirt/qemu/"$prefix"*.log
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p isotune
  BIN="$PWD/target/release/isotune"
fi

# An ISO whose boot image is `cli; hlt; jmp $-1`: running guests idle.
mkdir -p "$work/tree"
printf '\xfa\xf4\xeb\xfd' >"$work/tree/boot.img"
truncate -s 2048 "$work/tree/boot.img"
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b boot.img -no-emul-boot -boot-load-size 4 "$work/tree" 2>/dev/null

for i in $(seq 1 "$count"); do
  cat >"$work/d$i.xml" <<XML
<domain type='qemu'><name>${prefix}$i</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$work/boot.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
<video><model type='none'/></video></devices></domain>
XML
  virsh -q -c "$uri" define "$work/d$i.xml" >/dev/null
done
run_names=()
for i in $(seq 1 "$running"); do
  virsh -q -c "$uri" start "${prefix}$i" >/dev/null
  run_names+=("${prefix}$i")
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" exporter --listen "127.0.0.1:$port" --connect "$uri" 2>"$work/exporter.log" &
exp_pid=$!
sleep 3
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"

python3 - "$exp_pid" "$port" "$scrapes" "$idle" "$running" "$prefix" "${run_names[@]}" <<'PY'
import os, statistics, subprocess, sys, time, urllib.request
pid, port, n, idle, running = (int(a) for a in sys.argv[1:6])
prefix, names = sys.argv[6], sys.argv[7:]

def get():
    t = time.perf_counter()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
    return time.perf_counter() - t, body

def domstats():
    t = time.perf_counter()
    out = subprocess.run(["virsh", "-q", "-r", "-c", "qemu:///system", "domstats", "--block", *names],
                         check=True, capture_output=True).stdout
    return time.perf_counter() - t, out

def cpu_seconds():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

_, body = get()
mine = [l for l in body.decode().splitlines()
        if l.startswith("isotune_cdrom_read_requests_total{") and prefix in l and 'source="libvirt"' in l]
assert len(mine) == running, f"expected {running} libvirt cdroms of {prefix}*, got {mine}"
others = body.count(b'isotune_cdrom_read_requests_total{') - running
if others:
    print(f"note: each scrape also read {others} cdroms of other VMs on this host")
_, ds = domstats()
assert ds.count(b"block.0.rd.reqs=") == running, ds
lat = {"isotune exporter (libvirt source)": [], "virsh -r domstats --block (running)": []}
for _ in range(n):
    lat["isotune exporter (libvirt source)"].append(get()[0])
    lat["virsh -r domstats --block (running)"].append(domstats()[0])
print(f"scrape latency, {n} each, alternating; {running} running domains:")
print("| what | p50 | p99 |\n|---|---:|---:|")
for k, v in lat.items():
    print(f"| {k} | {statistics.median(v)*1e3:.1f} ms | {statistics.quantiles(v, n=100)[98]*1e3:.1f} ms |")
for k, v in lat.items():
    slow = sorted(range(n), key=lambda i: -v[i])[:3]
    print(f"{k}: slowest " + ", ".join(f"#{i} {v[i]*1e3:.0f} ms" for i in slow))
c0 = cpu_seconds(); time.sleep(idle); c1 = cpu_seconds()
for _ in range(idle):
    t = time.perf_counter(); get(); time.sleep(max(0.0, 1 - (time.perf_counter() - t)))
c2 = cpu_seconds()
print(f"exporter CPU idle: {100*(c1-c0)/idle:.2f}% of a core over {idle} s; "
      f"scraped once a second: {100*(c2-c1)/idle:.2f}% of a core")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
