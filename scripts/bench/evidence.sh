#!/usr/bin/env bash
# Reruns every evidence script of docs/evidence.md in a short mode (fewer
# runs, smaller inputs) and prints one table:
#
#   claim | quoted (the published number) | measured here | agrees?
#
# "agrees?" is `yes` or `DIFFERS`, followed by the criterion used (a ratio in
# the same direction, a target met, bytes per request equal...). Short runs
# are noisy: what should carry over from the published rows is the direction
# and rough size of each ratio and every byte count, not the seconds.
#
#   scripts/bench/evidence.sh
#   EVIDENCE_SKIP=boot,libvirt scripts/bench/evidence.sh   (skip some scripts)
#
# Script names for EVIDENCE_SKIP: boot accel verify hash_speed inspect fio
# doctor tune-readahead exporter libvirt iso-budget. The default runs them
# all; boot (three `isotune boot` matrices under TCG) takes about half of the
# 10-15 minutes on 2 cores.
#
# Exit status: 0 when every script ran (DIFFERS is information, not an
# error); 2 when a script could not run or its output could not be read (the
# table says which, and why, from the last line the script printed).
#
# Writes nothing into the repository: the scripts' outputs go to a temporary
# directory under /var/tmp (not tmpfs: fio needs O_DIRECT), removed at exit,
# also on Ctrl-C. Needs root for tune-readahead.sh (loop device) and a
# libvirtd on qemu:///system for libvirt.sh, like the scripts themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The published numbers, one place. Each "quoted" cell is also, word for
# word, in the "published result" column of docs/evidence.md (checked below:
# a quoted cell missing there is printed as a warning).
#   id | script | claim | quoted
claims="$(cat <<'CLAIMS'
boot-bytes|boot|SeaBIOS reads IDE in 2048 B requests, AHCI and virtio-scsi in 16-32 KiB|firmware 2048 B vs 32,693 B per request; GRUB 2048 B vs 16,373 B
boot-time|boot|The firmware phase is where IDE costs time|firmware 9.6x (AHCI), 6.0x (virtio-scsi) faster than IDE; GRUB 3.1x (AHCI), 1.9x (virtio-scsi)
boot-linux|boot|Once Linux runs, both buses read 128 KiB per request|128 KiB per request on both buses; virtio-scsi 1.26x [1.00, 1.54]
boot-ovmf|boot|OVMF reads AHCI in 2048 B requests, virtio-scsi in 110-620 KiB|AHCI 2048 B; virtio-scsi 114,217 B (to GRUB) and 622,895 B (initrd) per request
accel|accel|On kvm_pvm firmware runs tens of times slower than under TCG|39.9x slower
verify|verify|verify digests faster than coreutils and isomd5sum|3.39x (combined), 6.27x (--sha256)
md5fast|hash_speed|The hand-tuned MD5 (md5fast) is faster than RustCrypto's md-5|md5fast 1.10x md-5
inspect|inspect|inspect --files lists as fast as isoinfo -R -l|isoinfo 1.09x isotune's time
fio|fio|bench measures what fio measures (storage-bound jobs)|O_DIRECT jobs 0.92-0.99 of fio's IOPS
doctor|doctor|doctor over 50 domains in milliseconds (target < 200 ms)|0.008 s
readahead|tune-readahead|read_ahead_kb=16 slower than 4096 for a cold read (tune apply)|5.17x slower
exporter|exporter|exporter scrape with 50 VMs: p99 < 50 ms, idle CPU < 1%|p99 39.6 ms, idle 0.00% of a core
libvirt|libvirt|isotune-libvirt scan under 300 ms, faster than virsh dumpxml|0.119 s, virsh loop 36.5x slower
iso-budget|iso-budget|Crafted images up to 64 MiB: < 2 s CPU and < 256 MB|at most 1.27 s CPU and 156 MB
CLAIMS
)"

skip=",${EVIDENCE_SKIP:-},"
work="$(mktemp -d /var/tmp/isotune-evidence.XXXXXX)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== cargo build --release (isotune, hash_speed example)" >&2
cargo build --release --quiet -p isotune
cargo build --release --quiet -p isotune-verify --example hash_speed
export BIN="$PWD/target/release/isotune" ISOTUNE_BIN="$PWD/target/release/isotune"

# run NAME CMD...: runs one evidence script, its output (stdout and stderr)
# in $work/NAME.log and its exit status in $work/NAME.rc.
run() {
  local name="$1" rc=0 started=$SECONDS
  shift
  if [[ "$skip" == *",$name,"* ]]; then
    echo skipped >"$work/$name.rc"
    echo "== $name: skipped (EVIDENCE_SKIP)" >&2
    return
  fi
  echo "== $name: $*" >&2
  "$@" >"$work/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.rc"
  echo "   exit $rc after $((SECONDS - started)) s" >&2
}

mkdir -p "$work/boot-out" "$work/boot-json"
run boot env RUNS=3 PAYLOAD_MIB=16 JSON_DIR="$work/boot-json" scripts/bench/boot.sh "$work/boot-out"
run accel env RUNS=2 PAYLOAD_MIB=2 scripts/bench/accel.sh
run verify env RUNS=3 SPEED_SECONDS=1 scripts/bench/verify.sh 256
run hash_speed target/release/examples/hash_speed 128
run inspect env RUNS=5 scripts/bench/inspect.sh 20000
run fio python3 scripts/bench/fio-accuracy.py --size-mib 256 --runs 3 --dir "$work"
run doctor env RUNS=10 scripts/bench/doctor.sh 50
run tune-readahead env RUNS=5 SIZE_MIB=256 scripts/bench/tune-readahead.sh
run exporter env SCRAPES=200 IDLE_SECONDS=5 scripts/bench/exporter.sh 50
run libvirt env RUNS=5 scripts/bench/libvirt.sh 30 2
run iso-budget env RUNS=1 scripts/bench/iso-budget.sh 64

kvm_pvm=no
[ -d /sys/module/kvm_pvm ] && kvm_pvm=yes
python3 - "$work" "$kvm_pvm" docs/evidence.md "$claims" <<'PY'
import json, pathlib, re, statistics, sys

work, kvm_pvm, evidence_md = pathlib.Path(sys.argv[1]), sys.argv[2] == "yes", sys.argv[3]
claims = [l.split("|") for l in sys.argv[4].strip().splitlines()]
# The claims table: everything before the first "## " section (which quotes a run).
published = open(evidence_md).read().split("\n## ")[0]


class Unreadable(Exception):
    """The script ran but printed nothing this parser recognises."""


def log(name):
    return (work / f"{name}.log").read_text(errors="replace")


def rows(name):
    """Markdown table rows the script printed, as lists of cells."""
    out = []
    for line in log(name).splitlines():
        line = line.strip()
        if line.startswith("|") and not line.startswith("|---"):
            out.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    return out


def row(name, first):
    for r in rows(name):
        if r and r[0].startswith(first):
            return r
    raise Unreadable(f"no row {first!r}")


def num(cell):
    m = re.search(r"-?[0-9][0-9,]*\.?[0-9]*", cell)
    if not m:
        raise Unreadable(f"no number in {cell!r}")
    return float(m.group().replace(",", ""))


def line(name, pattern):
    m = re.search(pattern, log(name))
    if not m:
        raise Unreadable(f"no line matching {pattern!r}")
    return m


def boot(matrix):
    p = work / "boot-json" / f"{matrix}.json"
    try:
        r = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise Unreadable(f"{matrix} matrix: no JSON report ({e.__class__.__name__})")
    out = {}
    for c in r["configs"]:
        s = c["summary"]
        if s.get("median_seconds") is None:
            raise Unreadable(f"{matrix} matrix: {c['config']['name']} has no successful run")
        out[c["config"]["name"]] = s
    base = out[r["baseline"]] if isinstance(r["baseline"], str) else list(out.values())[r["baseline"]]
    for s in out.values():
        # Speed-up against the baseline: isotune's own (means, needs 3 runs a
        # side), else the ratio of medians.
        vs = s.get("vs_baseline")
        s["speedup"] = vs["speedup"] if vs else base["median_seconds"] / s["median_seconds"]
    return out


def bpr(s, phase=None):
    if phase is None:
        return s["median_bytes_per_request"]
    for p in s["phase_reads"]:
        if p["until"] == phase:
            return p["median_bytes_per_request"]
    raise Unreadable(f"no phase {phase!r}")


def b(x):
    return f"{x:,.0f} B"


# Each check returns (measured, agrees, criterion).
def check_boot_bytes():
    fw, grub = boot("firmware"), boot("grub")
    ide = [bpr(fw["ide"]), bpr(grub["ide/bios"])]
    big = [bpr(fw["ahci"]), bpr(fw["virtio-scsi"]), bpr(grub["ahci/bios"]), bpr(grub["virtio-scsi/bios"])]
    return (f"firmware IDE {b(ide[0])}, AHCI {b(big[0])}, virtio-scsi {b(big[1])}; "
            f"GRUB IDE {b(ide[1])}, AHCI {b(big[2])}, virtio-scsi {b(big[3])}",
            all(x == 2048 for x in ide) and all(16000 <= x <= 32768 for x in big),
            "IDE = 2048 B; AHCI, virtio-scsi 16,000-32,768 B (BIOS)")


def check_boot_time():
    fw, grub = boot("firmware"), boot("grub")
    v = [fw["ahci"]["speedup"], fw["virtio-scsi"]["speedup"],
         grub["ahci/bios"]["speedup"], grub["virtio-scsi/bios"]["speedup"]]
    return (f"firmware {v[0]:.1f}x (AHCI), {v[1]:.1f}x (virtio-scsi); GRUB {v[2]:.1f}x (AHCI), {v[3]:.1f}x (virtio-scsi)",
            all(x > 1 for x in v), "every speed-up over IDE > 1, same direction")


def check_boot_linux():
    lx = boot("linux")
    ide, vs = bpr(lx["ide"], "end"), bpr(lx["virtio-scsi"], "end")
    sp = lx["virtio-scsi"]["speedup"]
    ci = (lx["virtio-scsi"].get("vs_baseline") or {}).get("speedup_ci95")
    ci = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    return (f"after mount: IDE {b(ide)}, virtio-scsi {b(vs)} per request; virtio-scsi {sp:.2f}x{ci}",
            abs(ide - vs) <= 0.1 * max(ide, vs) and 96 << 10 <= ide <= 160 << 10 and sp > 1,
            "end-phase bytes/request equal (within 10%) and 96-160 KiB; speed-up > 1")


def check_boot_ovmf():
    grub = boot("grub")
    ahci = bpr(grub["ahci/uefi"])
    vs = [bpr(grub["virtio-scsi/uefi"], "grub"), bpr(grub["virtio-scsi/uefi"], "end")]
    return (f"AHCI {b(ahci)}; virtio-scsi {b(vs[0])} (to GRUB), {b(vs[1])} (initrd)",
            ahci == 2048 and all(x >= 64 << 10 for x in vs),
            "AHCI = 2048 B; virtio-scsi >= 64 KiB in both phases")


def check_accel():
    ratio = float(line("accel", r"ratio kvm/tcg: ([0-9.]+)x").group(1))
    used = line("accel", r"kvm: accelerator used (\[.*?\])").group(1)
    measured = f"{ratio:.1f}x slower (kvm runs used {used})"
    if not kvm_pvm:
        return measured + "; host has no kvm_pvm", None, "applies to kvm_pvm hosts only"
    return measured, ratio >= 10 and "kvm" in used, "kvm/tcg >= 10 on a kvm_pvm host"


def check_verify():
    comb = num(row("verify", "md5sum; sha256sum; checkisomd5")[5])
    sha = num(row("verify", "sha256sum")[5])
    cpu = line("verify", r"CPU time: .*\(([0-9]+%)\); combined .*\(([0-9]+%)\)")
    return (f"{comb:.2f}x (combined), {sha:.2f}x (--sha256); CPU time at "
            f"{cpu.group(2)} / {cpu.group(1)} of the digests' need",
            comb > 1 and sha > 1, "peers slower in both runs, ratio > 1 (the CPU share is shown, not judged)")


def check_md5fast(quoted):
    m = line("hash_speed", r"md5fast ([0-9.]+)x md-5")
    ratio, published_ratio = float(m.group(1)), num(quoted.split("md5fast", 1)[1])
    speeds = line("hash_speed", r"md5 \(isotune md5fast\): ([0-9.]+) GB/s; md5 \(md-5 crate\): ([0-9.]+) GB/s")
    return (f"md5fast {ratio:.2f}x md-5 ({speeds.group(1)} vs {speeds.group(2)} GB/s)",
            (ratio > 1) == (published_ratio > 1), "ratio on the same side of 1 as published")


def check_inspect():
    r = num(row("inspect", "isoinfo -R -l")[5])
    return (f"isoinfo {r:.2f}x isotune's time", 1 / r <= 1.2, "isotune <= 1.2x isoinfo's time, the target")


def check_fio():
    direct = [(r[0], num(r[4])) for r in rows("fio") if len(r) > 4 and r[1] == "O_DIRECT"]
    if not direct:
        raise Unreadable("no O_DIRECT rows")
    return ("; ".join(f"{n} {v:.2f}" for n, v in direct),
            all(0.9 <= v <= 1.1 for _, v in direct), "every O_DIRECT ratio in 0.9-1.1, the target")


def check_doctor():
    med = num(row("doctor", "isotune doctor --xml DIR")[1])
    return f"{med:.3f} s", med < 0.2, "median < 200 ms, the target"


def check_readahead():
    r = float(line("tune-readahead", r"ratio 16/4096: ([0-9.]+)x").group(1))
    return f"{r:.2f}x slower", r > 1, "ratio > 1, same direction"


def check_exporter():
    r = row("exporter", "isotune exporter")
    idle = float(line("exporter", r"exporter CPU idle: ([0-9.]+)% of a core").group(1))
    others = re.search(r"also read ([0-9]+) cdroms of other QEMU", log("exporter"))
    others = f" (each scrape also read {others.group(1)} cdroms of other VMs here)" if others else ""
    return (f"p99 {r[2]}, idle {idle:.2f}% of a core{others}", num(r[2]) < 50 and idle < 1,
            "p99 < 50 ms and idle CPU < 1%, the targets")


def check_libvirt():
    scan = row("libvirt", "isotune-libvirt scan")
    loop = num(row("libvirt", "virsh dumpxml")[5])
    return (f"{num(scan[1]):.3f} s ({scan[0].split('(')[1].rstrip(')')}), virsh loop {loop:.1f}x slower",
            num(scan[1]) < 0.3 and loop > 1, "scan < 300 ms and the loop slower, ratio > 1")


def check_iso_budget():
    rs = [r for r in rows("iso-budget") if len(r) > 5 and r[2].startswith("isotune")]
    if not rs:
        raise Unreadable("no rows")
    cpu, rss = max(rs, key=lambda r: num(r[4])), max(rs, key=lambda r: num(r[5]))
    return (f"at most {num(cpu[4]):.2f} s CPU ({cpu[0]}, {cpu[2]}) and {num(rss[5]):.0f} MB ({rss[0]}) "
            f"at {', '.join(sorted({r[1] for r in rs}))}", num(cpu[4]) < 2 and num(rss[5]) < 256,
            "every shape and command: CPU < 2 s and peak RSS < 256 MB, the goal")


checks = {
    "boot-bytes": check_boot_bytes, "boot-time": check_boot_time, "boot-linux": check_boot_linux,
    "boot-ovmf": check_boot_ovmf, "accel": check_accel, "verify": check_verify,
    "md5fast": check_md5fast, "inspect": check_inspect, "fio": check_fio, "doctor": check_doctor,
    "readahead": check_readahead, "exporter": check_exporter, "libvirt": check_libvirt,
    "iso-budget": check_iso_budget,
}
script_file = {"hash_speed": "examples/hash_speed", "fio": "fio-accuracy.py"}

failed = []
print("| claim | quoted | measured here | agrees? |")
print("|---|---|---|---|")
for cid, script, claim, quoted in claims:
    rc = (work / f"{script}.rc").read_text().strip()
    shown = script_file.get(script, f"{script}.sh")
    if rc == "skipped":
        measured, verdict = "skipped (EVIDENCE_SKIP)", "-"
    elif rc != "0":
        last = (log(script).strip().splitlines() or ["(no output)"])[-1][:120]
        measured, verdict = f"could not run: {shown} exit {rc}: {last}", "-"
        failed.append(shown)
    else:
        try:
            f = checks[cid]
            measured, ok, criterion = f(quoted) if cid == "md5fast" else f()
            verdict = ("n/a" if ok is None else "yes" if ok else "DIFFERS") + f": {criterion}"
        except (Unreadable, KeyError, ValueError, IndexError, TypeError, ZeroDivisionError) as e:
            measured, verdict = f"could not read {shown}'s output: {e}", "-"
            failed.append(shown)
    print(f"| {claim} | {quoted} | {measured} | {verdict} |")

for cid, _, _, quoted in claims:
    if quoted not in published:
        print(f"warning: the quoted number of {cid!r} ({quoted}) is not in {evidence_md}", file=sys.stderr)
if failed:
    print("could not run: " + ", ".join(sorted(set(failed))), file=sys.stderr)
    sys.exit(2)
PY
