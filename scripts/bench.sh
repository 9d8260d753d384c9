#!/usr/bin/env bash
# `make bench`: the long measurements quoted in docs/benchmarks.md. Never part of `make test`.
# Writes raw results to bench/results/ and prints a summary; copy the numbers into docs/benchmarks.md
# together with this command.
set -euo pipefail
bin=${1:-build/release/src/joulepilot}
out=bench/results
mkdir -p "$out"
build=$(dirname "$(dirname "$bin")")

echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%F)"

echo "== micro-benchmarks (Google Benchmark)"
"$build/bench/twin_bench" --benchmark_min_time=0.5 --benchmark_out="$out/twin_bench.json" --benchmark_out_format=json

echo "== calibration: held-out error per source (joulepilot calibrate)"
"$bin" calibrate --json "$out/calibration.json"

echo "== twin speed: the whole default day, one policy at a time (wall seconds on this machine)"
for policy in static threshold idle-fsm; do
    "$bin" twin run --policy "$policy" --no-progress --json "$out/day_$policy.json" >/dev/null
done
python3 - "$out" <<'PY' 2>/dev/null || jq -r '.policy + " " + (.sim_wall_s|tostring)' "$out"/day_*.json
import json, sys, glob
for path in sorted(glob.glob(sys.argv[1] + "/day_*.json")):
    r = json.load(open(path))
    print(f"{r['policy']:>10}: {r['sim_wall_s']:.2f} s wall, {r['requests']} requests "
          f"({r['requests']/r['sim_wall_s']:.0f}/s), {r['decode_iterations']} decode iterations "
          f"({r['decode_iterations']/r['sim_wall_s']/1e6:.2f} M/s)")
PY

echo "== the default day, three policies compared (joulepilot twin run)"
"$bin" twin run --no-progress --json "$out/default_day.json" --report "$out/default_day.html"

for scenario in azure-conv azure-code; do
    echo "== $scenario"
    "$bin" twin run --scenario "$scenario" --no-progress --json "$out/$scenario.json"
done

echo "== node sensing cost per tick (fixture node) and NVML read cost (fake library)"
[ -x "$build/bench/sense_bench" ] && "$build/bench/sense_bench" --benchmark_out="$out/sense_bench.json" --benchmark_out_format=json
[ -x "$build/bench/nvml_bench" ] && "$build/bench/nvml_bench" --benchmark_out="$out/nvml_bench.json" --benchmark_out_format=json

echo "== scheduler: fast planner speed, and the carbon/forecast/gap study (joulepilot schedule study)"
[ -x "$build/bench/sched_bench" ] && "$build/bench/sched_bench" --benchmark_out="$out/sched_bench.json" --benchmark_out_format=json
"$bin" schedule study --jobs 2000 --time-limit 60 --json "$out/sched_study.json"
