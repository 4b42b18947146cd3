#!/usr/bin/env python3
"""Helpers of scripts/bench/exporter.sh.

record SOCK OUT            ask a real QEMU for query-block and query-blockstats, save them
serve RECORDED DIR COUNT   answer QMP on DIR/vmN.sock (N < COUNT) with the recorded replies
measure PID EXP PROM N IDLE COUNT
                           N scrapes of each endpoint, alternating; p50/p99 and the
                           ratio of medians; the exporter's CPU idle and at 1 scrape/s
"""
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request


def qmp(sock_path, commands):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    f = s.makefile("rwb")
    f.readline()
    out = []
    for c in ["qmp_capabilities"] + commands:
        f.write(json.dumps({"execute": c}).encode() + b"\n")
        f.flush()
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                out.append(msg.get("return"))
                break
    s.close()
    return out[1:]


def record(sock, out):
    block, stats = qmp(sock, ["query-block", "query-blockstats"])
    # Counters of a VM that has read: the values of a TCG IDE boot.
    for s in stats:
        s["stats"].update(rd_operations=4096, rd_bytes=4096 * 2048, rd_total_time_ns=987654321)
    json.dump({"query-block": block, "query-blockstats": stats}, open(out, "w"))


def serve(recorded, d, count):
    rec = json.load(open(recorded))
    os.makedirs(d, exist_ok=True)
    greeting = {"QMP": {"version": {"qemu": {"major": 9, "minor": 2, "micro": 0}, "package": ""},
                        "capabilities": []}}

    def client(conn, name):
        f = conn.makefile("rwb")
        f.write(json.dumps(greeting).encode() + b"\r\n")
        f.flush()
        for line in f:
            msg = json.loads(line)
            cmd = msg.get("execute")
            ret = {"name": name} if cmd == "query-name" else rec.get(cmd, {})
            reply = {"return": ret}
            if "id" in msg:
                reply["id"] = msg["id"]
            f.write(json.dumps(reply).encode() + b"\r\n")
            f.flush()
        conn.close()

    def listen(i):
        path = os.path.join(d, f"vm{i:03d}.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(4)
        while True:
            conn, _ = s.accept()
            client(conn, f"vm{i:03d}")

    for i in range(count):
        threading.Thread(target=listen, args=(i,), daemon=True).start()
    while True:
        time.sleep(3600)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(port):
    t = time.perf_counter()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
    return time.perf_counter() - t, body


def measure(pid, exp, prom, n, idle, count):
    _, body = get(exp)
    cdroms = body.count(b"isotune_cdrom_read_requests_total{")
    # The exporter also finds QEMU processes of others on a shared host (the
    # /proc scan, and their -qmp sockets): more cdroms than COUNT is a host
    # that is not idle, said below; fewer means the replay was not reached.
    assert cdroms >= count, f"expected {count} cdroms in a scrape, got {cdroms}"
    if cdroms > count:
        print(f"note: each scrape also read {cdroms - count} cdroms of other QEMU processes on this host")
    lat = {"isotune exporter": [], "prometheus /metrics": []}
    for _ in range(n):
        lat["isotune exporter"].append(get(exp)[0])
        lat["prometheus /metrics"].append(get(prom)[0])
    med = {k: statistics.median(v) for k, v in lat.items()}
    print(f"scrape latency, {n} scrapes each, alternating, {count} VMs' stats:")
    print("| endpoint | p50 | p99 | ratio of medians |\n|---|---:|---:|---:|")
    for k, v in lat.items():
        p99 = statistics.quantiles(v, n=100)[98]
        print(f"| {k} | {med[k]*1e3:.1f} ms | {p99*1e3:.1f} ms | {med[k]/med['prometheus /metrics']:.2f} |")
    c0 = cpu_seconds(pid)
    time.sleep(idle)
    c1 = cpu_seconds(pid)
    for _ in range(idle):
        t = time.perf_counter()
        get(exp)
        time.sleep(max(0.0, 1 - (time.perf_counter() - t)))
    c2 = cpu_seconds(pid)
    print(f"exporter CPU idle: {100*(c1-c0)/idle:.2f}% of a core over {idle} s; "
          f"scraped once a second: {100*(c2-c1)/idle:.2f}% of a core")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "record":
        record(*args)
    elif cmd == "serve":
        serve(args[0], args[1], int(args[2]))
    else:
        measure(int(args[0]), int(args[1]), int(args[2]), int(args[3]), int(args[4]), int(args[5]))
