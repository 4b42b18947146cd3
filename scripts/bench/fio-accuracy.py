#!/usr/bin/env python3
"""isotune bench against fio: same file, same job, same invocation.

For each standard job (seq 1 MiB QD1 psync, rand 4 KiB QD1 psync, rand 4 KiB
QD32 io_uring; each buffered with a warm cache and with O_DIRECT; and a
time-based rand 4 KiB QD32 io_uring O_DIRECT job, `--runtime` against fio's
`--time_based`) it runs
`isotune bench` and fio alternately, RUNS times each, and prints the medians:
IOPS, isotune/fio IOPS ratio (target 0.9-1.1) and CPU time per request
(target: isotune's no higher than fio's).

Usage: scripts/bench/fio-accuracy.py [--size-mib 1024] [--runs 5] [--dir /var/tmp]
       JOBS=time-based scripts/bench/fio-accuracy.py ...   (only jobs whose name has a word)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def warm(path):
    """Reads the file once so it is in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def isotune(bin_, path, job, direct):
    cmd = [bin_, "bench", path, "--quiet", "--json", "--runs", "1", "--warmup", "0",
           "--engine", job["engine"], "--iodepth", str(job["qd"]),
           "--cache", "warm" if not direct else "cold"]
    if direct:
        cmd.append("--direct")
    if job["rw"] == "read":
        cmd += ["--workload", "seq", "--seq-block", job["bs"]]
    else:
        cmd += ["--workload", "rand", "--rand-block", job["bs"], "--size", job["io_size"]]
    if "runtime" in job:
        cmd += ["--runtime", str(job["runtime"])]
    w = json.loads(sh(cmd))["workloads"][0]
    run = w["runs"][0]
    return run["iops"], run["cpu_ns_per_request"]


def fio(path, job, direct):
    cmd = ["fio", "--name=j", f"--filename={path}", f"--rw={job['rw']}", f"--bs={job['bs']}",
           f"--ioengine={job['engine']}", f"--iodepth={job['qd']}", f"--direct={int(direct)}",
           "--output-format=json", "--invalidate=%d" % int(direct), "--thread",
           # fio's default malloc'd buffers make 1 MiB page-cache reads ~7x
           # slower than mmap'd ones (measured); isotune's export sets it too.
           "--iomem=mmap"]
    if job["rw"] == "randread":
        # isotune aligns random reads to 2 KiB ISO sectors, as a guest does.
        cmd += ["--norandommap", "--randrepeat=1", "--blockalign=2k"]
        if "runtime" in job:
            cmd += ["--time_based", f"--runtime={job['runtime']}"]
        else:
            cmd += [f"--io_size={job['io_size']}"]
    if job["engine"] == "io_uring":
        cmd += ["--fixedbufs=1", "--registerfiles=1"]
    out = json.loads(sh(cmd))
    j = out["jobs"][0]
    r = j["read"]
    ios = r["total_ios"]
    # usr_cpu/sys_cpu are percentages of the job's runtime (ms).
    cpu_ns = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] * 1e6
    return r["iops"], cpu_ns / max(ios, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp")
    a = ap.parse_args()

    bin_ = os.environ.get("ISOTUNE_BIN")
    if not bin_:
        sh(["cargo", "build", "--release", "--quiet", "-p", "isotune"], cwd=ROOT)
        bin_ = os.path.join(ROOT, "target", "release", "isotune")
    fd, path = tempfile.mkstemp(prefix="isotune-fio.", suffix=".img", dir=a.dir)
    os.close(fd)
    try:
        with open(path, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(a.size_mib):
                f.write(chunk)
        warm(path)
        jobs = [
            {"name": "seq 1M QD1 psync", "rw": "read", "bs": "1M", "engine": "psync", "qd": 1},
            {"name": "rand 4k QD1 psync", "rw": "randread", "bs": "4k", "engine": "psync", "qd": 1,
             "io_size": "64M"},
            {"name": "rand 4k QD32 io_uring", "rw": "randread", "bs": "4k", "engine": "io_uring",
             "qd": 32, "io_size": "64M"},
            # Time-based: isotune reads up to --size (a list of requests it
            # cannot finish in time) and stops at --runtime, as fio does.
            {"name": "rand 4k QD32 io_uring, 5 s time-based", "rw": "randread", "bs": "4k",
             "engine": "io_uring", "qd": 32, "io_size": "1000G", "runtime": 5, "direct_only": True},
        ]
        only = os.environ.get("JOBS")
        if only:
            jobs = [j for j in jobs if any(k in j["name"] for k in only.split(","))]
        print(f"file: {a.size_mib} MiB on {a.dir}; {a.runs} alternating runs each; medians")
        print("| job | cache | isotune IOPS | fio IOPS | ratio | isotune CPU/req | fio CPU/req |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for job in jobs:
            for direct in ((True,) if job.get("direct_only") else (False, True)):
                ours, theirs = [], []
                for _ in range(a.runs):
                    if not direct:
                        warm(path)
                    ours.append(isotune(bin_, path, job, direct))
                    if not direct:
                        warm(path)
                    theirs.append(fio(path, job, direct))
                oi = statistics.median(x[0] for x in ours)
                fi = statistics.median(x[0] for x in theirs)
                oc = statistics.median(x[1] for x in ours)
                fc = statistics.median(x[1] for x in theirs)
                print(f"| {job['name']} | {'O_DIRECT' if direct else 'buffered, warm'} | "
                      f"{oi:,.0f} | {fi:,.0f} | {oi / fi:.2f} | {oc / 1000:.2f} µs | {fc / 1000:.2f} µs |",
                      flush=True)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
