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

echo "== node actuation: one batch (8 fake GPUs x 2 knobs, 2 RAPL limits, cpufreq on 8/64 policies; target <= 1 ms)"
[ -x "$build/bench/act_bench" ] && "$build/bench/act_bench" --benchmark_out="$out/act_bench.json" --benchmark_out_format=json

echo "== shield: a deliberately harmful policy (minimum SM clocks from just before the default day's peak) vs static"
"$bin" twin run --config bench/configs/harmful_at_peak.toml --compare static,harmful-clocks --duration 23.25h \
    --no-progress --json "$out/harmful_at_peak.json" | tail -6
python3 bench/harmful_guard_report.py "$out/harmful_at_peak.json"

echo "== scheduler: fast planner speed, and the carbon/forecast/gap study (joulepilot schedule study)"
[ -x "$build/bench/sched_bench" ] && "$build/bench/sched_bench" --benchmark_out="$out/sched_bench.json" --benchmark_out_format=json
"$bin" schedule study --jobs 2000 --time-limit 60 --json "$out/sched_study.json"

echo "== ledger: ingest of a day of 1 s samples for 100 series (8.64 M samples), then that day queried back"
# The day's file (~100 MB) goes to $JOULEPILOT_BENCH_DIR (default /tmp) and is removed afterwards.
# BM_MigrateDayFromV2 reports "skipped" unless JOULEPILOT_BENCH_V2_LEDGER names a schema-2 ledger to copy.
if [ -x "$build/bench/ledger_bench" ]; then
    "$build/bench/ledger_bench" --benchmark_out="$out/ledger_bench.json" --benchmark_out_format=json
    rm -f "${JOULEPILOT_BENCH_DIR:-/tmp}"/joulepilot-ledger-bench.db*
fi

echo "== issue 6: the learned energy model (held-out error), then every policy per scenario with Shapley attribution"
"$bin" train model --out "$out/energy_model.json" | tee "$out/train_model.txt"
for scenario in default azure-conv azure-code; do
    echo "-- bench $scenario"
    "$bin" bench --scenario "$scenario" --model "$out/energy_model.json" --no-progress \
        --json "$out/bench_$scenario.json" --report "$out/bench_$scenario.html" | tee "$out/bench_$scenario.txt"
done

echo "== HTTP API under load (issue 5): wrk on loopback against GET /v1/status, the view updated every second"
if [ -x "$build/bench/api_bench_server" ] && command -v wrk >/dev/null; then
    "$build/bench/api_bench_server" --seconds 14 >"$out/api_bench_url.txt" 2>"$out/api_bench_server.txt" &
    api_pid=$!
    for _ in $(seq 50); do grep -q '^http' "$out/api_bench_url.txt" 2>/dev/null && break; sleep 0.1; done
    wrk -t2 -c16 -d10s --latency "$(grep '^http' "$out/api_bench_url.txt")/v1/status" | tee "$out/api_wrk_status.txt"
    wait "$api_pid"
    cat "$out/api_bench_server.txt"
else
    echo "skipped: needs $build/bench/api_bench_server and wrk (Debian package wrk)"
fi

echo "== the real agent's API under wrk while its loop runs: tick deadline misses during the load (issue 5)"
if command -v wrk >/dev/null; then
    for world in twin node; do
        "$(dirname "$0")/api_under_load.sh" "$build" "$out" "$world" 30
    done
else
    echo "skipped: needs wrk (Debian package wrk)"
fi

echo "== issue 6: bandit on a steady load (30 simulated minutes) against every fixed arm"
# The load: Poisson arrivals at one rate with the Azure conversation trace's real token lengths
# (scripts/steady_trace.py), scaled so it needs 50% (then 75%) of the fleet at default settings.
# Each fixed arm is the bandit policy holding one setting ([policy.bandit] fixed = "MHz,cap") with the
# shield's guard off and no canary, so it really holds its arm (the yardstick; scripts/bandit_summary.py
# says which are admissible). The bandit runs under the twin's default shield (canary 30 s, SLO guard on),
# with the shipped energy model's priors and without a model.
bandit_dir=$(mktemp -d)
python3 scripts/steady_trace.py data/azure-llm-2023/AzureLLMInferenceTrace_conv.csv "$bandit_dir/steady.jsonl"
printf '[policy.bandit]\nmodel = "/nonexistent"\n' > "$bandit_dir/nomodel.toml"
for peak in 0.5 0.75; do
    dir="$out/bandit_steady_$peak"
    mkdir -p "$dir"
    run=("$bin" twin run --trace "$bandit_dir/steady.jsonl" --scale-peak "$peak" --duration 30m --policy bandit
         --no-progress)
    for clock in 1980 1740 1500 1260; do
        for cap in 64 128 256; do
            printf '[shield]\nguard.enabled = false\ncanary.hold_s = 0\n[policy.bandit]\nfixed = "%s,%s"\n' \
                "$clock" "$cap" > "$bandit_dir/fixed.toml"
            "${run[@]}" --config "$bandit_dir/fixed.toml" --json "$dir/bandit_fixed_${clock}_${cap}.json" >/dev/null
        done
    done
    "${run[@]}" --json "$dir/bandit_model.json" >/dev/null
    "${run[@]}" --config "$bandit_dir/nomodel.toml" --json "$dir/bandit_nomodel.json" >/dev/null
    echo "-- steady load needing ${peak} of the fleet"
    python3 scripts/bandit_summary.py "$dir"
done
rm -rf "$bandit_dir"

echo "== issue 6: rl decision latency (forward pass) and training (joulepilot train rl; budget --minutes)"
[ -x "$build/bench/rl_bench" ] && "$build/bench/rl_bench" --benchmark_out="$out/rl_bench.json" --benchmark_out_format=json
