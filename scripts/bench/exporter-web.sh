#!/usr/bin/env bash
# Benchmark: the CPU cost of `isotune exporter --web.config.file` basic auth
# (bcrypt cost 10, htpasswd -nbBC 10) over TLS, and what the cache of
# successful checks saves. SCRAPES scrapes with the right password (one
# bcrypt, then cache hits) against WRONG scrapes with a wrong password (one
# bcrypt each, never cached). The exporter's CPU comes from /proc/PID/stat
# (utime+stime) before and after each phase. Prints Markdown rows.
#
#   scripts/bench/exporter-web.sh      (SCRAPES=100 WRONG=20; BIN=path/to/isotune)
set -euo pipefail
cd "$(dirname "$0")/../.."
scrapes="${SCRAPES:-100}"
wrong="${WRONG:-20}"
work="$(mktemp -d /var/tmp/isotune-bench.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p isotune
  BIN="$PWD/target/release/isotune"
fi

cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout key.pem -out cert.pem 2>/dev/null
hash="$(htpasswd -nbBC 10 prometheus s3cret | cut -d: -f2-)"
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: %s\n' "$hash" >web.yml
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" exporter --listen "127.0.0.1:$port" --web.config.file "$work/web.yml" 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null --cacert cert.pem "https://localhost:$port/" && break; sleep 0.1; done

tck="$(getconf CLK_TCK)"
cpu() { awk -v t="$tck" '{printf "%.3f", ($14+$15)/t}' "/proc/$pid/stat"; }
scrape() { curl -s -o /dev/null -w '%{http_code}' --cacert cert.pem -u "prometheus:$1" "https://localhost:$port/metrics"; }

c0="$(cpu)"
for _ in $(seq "$scrapes"); do [ "$(scrape s3cret)" = 200 ] || { echo "scrape failed" >&2; exit 1; }; done
c1="$(cpu)"
for _ in $(seq "$wrong"); do [ "$(scrape nope)" = 401 ] || { echo "no 401" >&2; exit 1; }; done
c2="$(cpu)"

echo "| phase | requests | exporter CPU | per request |"
echo "|---|---:|---:|---:|"
awk -v a="$c0" -v b="$c1" -v n="$scrapes" 'BEGIN{printf "| right password (1 bcrypt, then cached) | %d | %.3f s | %.1f ms |\n", n, b-a, (b-a)*1000/n}'
awk -v a="$c1" -v b="$c2" -v n="$wrong" 'BEGIN{printf "| wrong password (1 bcrypt each) | %d | %.3f s | %.1f ms |\n", n, b-a, (b-a)*1000/n}'
