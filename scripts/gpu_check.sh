#!/usr/bin/env bash
# Read-only GPU energy check (see bench/gpu/README.md). Run on the GPU machine from the repository root:
#   OUT=<folder> scripts/gpu_check.sh <joulepilot binary> [seconds]
# Never changes a GPU setting.
set -euo pipefail
bin=$1
seconds=${2:-30}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"

nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv > "$out/gpu.csv"
"$bin" sensors --json > "$out/sensors.json" 2> "$out/sensors.stderr" || true

nvidia-smi --query-gpu=timestamp,power.draw.instant --format=csv,noheader,nounits -lms 100 > "$out/smi_power.csv" &
smi=$!
sleep 2
start=$(date +%s.%N)
python3 bench/gpu/nvml_energy.py -- "$bin" measure --interval-ms 100 --json "$out/measure.json" -- \
    python3 bench/gpu/matmul_loop.py "$seconds" > "$out/nvml_reference.json" 2> "$out/measure.stderr"
end=$(date +%s.%N)
sleep 1
kill "$smi"
echo "$start $end" > "$out/window.txt"

python3 - "$out" <<'PY'
import datetime, json, sys
out = sys.argv[1]
start, end = map(float, open(f"{out}/window.txt").read().split())
samples = []
for line in open(f"{out}/smi_power.csv"):
    stamp, watts = [x.strip() for x in line.split(",")]
    t = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
    try:
        samples.append((t, float(watts)))
    except ValueError:
        pass
inside = [(t, w) for t, w in samples if start <= t <= end]
integrated = sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(inside, inside[1:]))
# The reference's JSON is its last line (the workload and joulepilot print before it).
reference = json.loads(open(f"{out}/nvml_reference.json").read().strip().splitlines()[-1])
measured = json.load(open(f"{out}/measure.json"))["domains"][0]["energy_j"]["mean"]
print(json.dumps({"joulepilot_j": measured, "nvml_counter_j": reference["energy_j"],
                  "nvml_counter_s": reference["seconds"], "joulepilot_vs_smi": measured / integrated - 1,
                  "smi_integrated_j": integrated, "smi_samples": len(inside), "window_s": end - start}, indent=1))
PY
