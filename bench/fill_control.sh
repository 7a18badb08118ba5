#!/usr/bin/env bash
# The filling-control HTTP benchmark (issue 3): in one run, the same server's /healthz rate and
# POST /api/v1/fill-control rate and latency, with wrk on loopback, against a seeded database.
#
#   bash bench/fill_control.sh [CYLINDERS] [DURATION] [CONNECTIONS]
#
# Seeds DATA_DIR (default /tmp/cyltrace-bench-<CYLINDERS>) once with cyltrace-bench-seed and reuses it.
# Needs wrk (Debian package `wrk`). Results go to stdout; copy them into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CYLINDERS="${1:-1000000}"
DURATION="${2:-20s}"
CONNECTIONS="${3:-32}"
DATA_DIR="${DATA_DIR:-/tmp/cyltrace-bench-${CYLINDERS}}"
PORT="${PORT:-18999}"
BASE="http://127.0.0.1:${PORT}"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked -p cyltrace -p cyltrace-bench

if [[ ! -s "${DATA_DIR}/seed.json" ]]; then
    rm -rf "${DATA_DIR}" && mkdir -p "${DATA_DIR}"
    target/release/cyltrace-bench-seed --data-dir "${DATA_DIR}" --cylinders "${CYLINDERS}" > "${DATA_DIR}/seed.json.tmp"
    mv "${DATA_DIR}/seed.json.tmp" "${DATA_DIR}/seed.json"
fi
seed() { python3 -c "import json,sys; print(json.load(open('${DATA_DIR}/seed.json'))['$1'])"; }

CYLTRACE_LOG=warn CYLTRACE_MQTT_LISTEN= target/release/cyltrace serve --data-dir "${DATA_DIR}" --listen "127.0.0.1:${PORT}" >/dev/null &
SERVER=$!
trap 'kill ${SERVER} 2>/dev/null; wait ${SERVER} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "${BASE}/healthz" >/dev/null && break; sleep 0.2; done

TOKEN=$(curl -fs "${BASE}/api/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"username\":\"$(seed username)\",\"password\":\"$(seed password)\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export TOKEN SITE_ID="$(seed site_id)" FIRST_CODE="$(seed first_code)" CYLINDERS="$(seed cylinders)"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "== database: ${DATA_DIR} ($(du -sh "${DATA_DIR}" | cut -f1)), ${CYLINDERS} cylinders"
echo "== wrk -t1 -c${CONNECTIONS} -d${DURATION}"
# Warm the caches and the connection pool, then measure both in the same run.
wrk -t1 -c"${CONNECTIONS}" -d3s -s bench/fill_control.lua "${BASE}/api/v1/fill-control" >/dev/null 2>&1 || true
echo "--- GET /healthz"
wrk -t1 -c"${CONNECTIONS}" -d"${DURATION}" --latency "${BASE}/healthz" | tee /tmp/wrk_healthz.txt
echo "--- POST /api/v1/fill-control"
wrk -t1 -c"${CONNECTIONS}" -d"${DURATION}" --latency -s bench/fill_control.lua "${BASE}/api/v1/fill-control" | tee /tmp/wrk_fill.txt
h=$(awk '/Requests\/sec/{print $2}' /tmp/wrk_healthz.txt)
f=$(awk '/Requests\/sec/{print $2}' /tmp/wrk_fill.txt)
p99=$(awk '$1=="99%"{print $2}' /tmp/wrk_fill.txt)
echo "== summary: healthz ${h} req/s, fill-control ${f} req/s ($(python3 -c "print(round(100*${f}/${h},1))") % of healthz), fill-control p99 ${p99}"
