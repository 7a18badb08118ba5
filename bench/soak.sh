#!/usr/bin/env bash
# The soak benchmark (issue 22): a steady mixed load for a long time against a seeded node, sampling
# the server's RSS, open files and the load's p99 per window.
#
#   bash bench/soak.sh [DURATION_SECS] [RATE] [CYLINDERS]
#
# Defaults: one hour at 100 operations/s over 20,000 cylinders. Seeds DATA_DIR (default
# /tmp/cyltrace-soak-<CYLINDERS>) once with cyltrace-bench-seed and reuses it; the per-window samples
# go to ${DATA_DIR}/soak.csv. Results go to stdout; copy them into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${1:-3600}"
RATE="${2:-100}"
CYLINDERS="${3:-20000}"
DATA_DIR="${DATA_DIR:-/tmp/cyltrace-soak-${CYLINDERS}}"
PORT="${PORT:-18998}"
BASE="http://127.0.0.1:${PORT}"

cargo build --release --locked -p cyltrace -p cyltrace-bench

if [[ ! -s "${DATA_DIR}/seed.json" ]]; then
    rm -rf "${DATA_DIR}" && mkdir -p "${DATA_DIR}"
    target/release/cyltrace-bench-seed --data-dir "${DATA_DIR}" --cylinders "${CYLINDERS}" > "${DATA_DIR}/seed.json.tmp"
    mv "${DATA_DIR}/seed.json.tmp" "${DATA_DIR}/seed.json"
fi

# The soak writes events "now": the age limit does not matter, but the node runs as in production.
CYLTRACE_LOG=warn CYLTRACE_MQTT_LISTEN= target/release/cyltrace serve --data-dir "${DATA_DIR}" --listen "127.0.0.1:${PORT}" >"${DATA_DIR}/serve.log" 2>&1 &
SERVER=$!
trap 'kill ${SERVER} 2>/dev/null; wait ${SERVER} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "${BASE}/healthz" >/dev/null && break; sleep 0.2; done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "== database: ${DATA_DIR} ($(du -sh "${DATA_DIR}" | cut -f1)), ${CYLINDERS} cylinders"
target/release/cyltrace-bench-soak --base "${BASE}" --pid "${SERVER}" --seed "${DATA_DIR}/seed.json" \
    --duration-secs "${DURATION}" --rate "${RATE}" --window-secs "$((DURATION >= 600 ? 60 : 10))" \
    --out "${DATA_DIR}/soak.csv"
echo "== server log: $(grep -c ' ERROR ' "${DATA_DIR}/serve.log" || true) error lines"
