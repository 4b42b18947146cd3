#!/usr/bin/env bash
# The `isotune doctor --probe` examples of docs/doctor.md, reproduced: an
# isolinux-style ISO (a 1.5 MB kernel and a 3 MB initrd, like
# testutil's isolinux_image) served on loopback by
#   - a small Python HTTP server with Range support that waits DELAY_MS
#     (default 20) before every answer (this kernel has no sch_netem), and
#   - Python's http.server, which ignores Range requests,
# read by one libvirt domain XML with two network cdroms (default readahead).
# Prints the doctor's human output and exits with its exit code.
#
#   scripts/doctor-probe-demo.sh        (BIN=path to use a built isotune)
set -uo pipefail
cd "$(dirname "$0")/.."
delay="${DELAY_MS:-20}"
if [ -z "${BIN:-}" ]; then
  cargo build --quiet -p isotune || exit 2
  BIN="$PWD/target/debug/isotune"
fi
command -v genisoimage >/dev/null || { echo "doctor-probe-demo.sh: needs genisoimage (scripts/setup)" >&2; exit 2; }
work="$(mktemp -d /var/tmp/isotune-probe-demo.XXXXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/tree/isolinux" "$work/tree/live" "$work/www"
head -c 8192 /dev/zero | tr '\0' 'U' >"$work/tree/isolinux/isolinux.bin"
printf 'DEFAULT linux\nLABEL linux\n  KERNEL /live/vmlinuz\n  APPEND initrd=/live/initrd.img\n' \
  >"$work/tree/isolinux/isolinux.cfg"
head -c 1500000 /dev/urandom >"$work/tree/live/vmlinuz"
head -c 3000000 /dev/urandom >"$work/tree/live/initrd.img"
genisoimage -quiet -R -J -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 \
  -o "$work/www/image.iso" "$work/tree" || exit 2

cat >"$work/ranged.py" <<'EOF'
# HTTP/1.1 with single Range support, keep-alive, DELAY ms before each answer.
import http.server, os, sys, time
root, port, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def answer(self, body):
        time.sleep(delay)
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, b = rng[6:].split("-")
            start, end = int(a), min(int(b) if b else size - 1, size - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                f.seek(start); self.wfile.write(f.read(end - start + 1))
    def do_HEAD(self): self.answer(False)
    def do_GET(self): self.answer(True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
ranged="$(free_port)"
python3 "$work/ranged.py" "$work/www" "$ranged" "$delay" &
pids+=($!)
plain="$(free_port)"
python3 -m http.server "$plain" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
for p in "$ranged" "$plain"; do
  for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$p))" 2>/dev/null && break; sleep 0.1; done
done

disk() { # target port
  printf "<disk type='network' device='cdrom'><driver name='qemu' type='raw'/><source protocol='http' name='/image.iso'><host name='127.0.0.1' port='%s'/></source><target dev='%s' bus='scsi'/><readonly/></disk>" "$2" "$1"
}
cat >"$work/web1.xml" <<EOF
<domain type='kvm'><name>web1</name><memory unit='MiB'>2048</memory>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<controller type='scsi' index='0' model='virtio-scsi'/>
$(disk sda "$ranged")
$(disk sdb "$plain")
</devices></domain>
EOF
echo "\$ isotune doctor --xml web1.xml --probe    # sda: Range server, ${delay} ms per answer; sdb: python3 -m http.server"
"$BIN" doctor --no-libvirt --xml "$work/web1.xml" --probe
