#!/usr/bin/env bash
# The HTTP API under wrk while the real agent loop runs (issue 5): start `joulepilot agent` on a free
# loopback port, let it settle, read its tick counters from /v1/status, load GET /v1/status with wrk, read
# the counters again. The loop met every deadline under load when tick_deadline_misses did not grow while
# ticks kept counting. Called by scripts/bench.sh; by hand:
#   scripts/api_under_load.sh BUILD_DIR OUT_DIR twin|node [WRK_SECONDS]
set -euo pipefail

build=${1:?usage: api_under_load.sh BUILD_DIR OUT_DIR twin|node [WRK_SECONDS]}
out=${2:?usage: api_under_load.sh BUILD_DIR OUT_DIR twin|node [WRK_SECONDS]}
world=${3:?usage: api_under_load.sh BUILD_DIR OUT_DIR twin|node [WRK_SECONDS]}
seconds=${4:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
joulepilot="$build/src/joulepilot"
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill "$agent_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

args=(agent --listen 127.0.0.1:0 --ledger "$work/ledger.db" --state-file "$work/shield-state.json")
if [ "$world" = twin ]; then
    args+=(--world twin --speed 1)
else
    # A fixture node (sysfs/procfs tree copied so the run cannot touch the fixture); GPUs only where
    # libnvidia-ml loads.
    cp -r "$root/tests/fixtures/act/node-2s" "$work/root"
    args+=(--world node --root "$work/root")
fi
"$joulepilot" "${args[@]}" >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
for _ in $(seq 1200); do
    grep -q 'listening on' "$work/agent.err" 2>/dev/null && break
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
done
address=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/agent.err")
if [ -z "$address" ]; then
    echo "api_under_load: the agent exited or did not listen within 120 s; its output:" >&2
    cat "$work/agent.out" "$work/agent.err" >&2
    exit 1
fi
url="http://$address"
sleep 10  # past start-up, so the first reading is a steady loop

counters() { curl -fsS "$url/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
loop = s.get("loop", s)
print(loop["ticks"], loop["tick_deadline_misses"])'; }
read -r ticks_before misses_before < <(counters)
wrk -t2 -c16 -d"${seconds}s" --latency "$url/v1/status" | tee "$out/api_under_load_$world.txt"
read -r ticks_after misses_after < <(counters)

python3 - "$world" "$seconds" "$ticks_before" "$ticks_after" "$misses_before" "$misses_after" \
    "$out/api_under_load_$world.txt" <<'EOF' | tee "$out/api_under_load_$world.json"
import json, re, sys
world, seconds, t0, t1, m0, m1, wrk_file = sys.argv[1:]
text = open(wrk_file).read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    m = re.search(rf"^\s+{label}%?\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
print(json.dumps({
    "world": world, "wrk_seconds": int(seconds), "requests_per_s": rate,
    "p50_ms": round(ms("50"), 3), "p99_ms": round(ms("99"), 3),
    "loop_ticks_during_load": int(t1) - int(t0),
    "tick_deadline_misses_during_load": int(m1) - int(m0),
}, indent=2))
EOF
