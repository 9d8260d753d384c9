#!/usr/bin/env python3
"""Summarises the bandit benchmark of scripts/bench.sh: each fixed arm's and the bandit's energy over the
whole run and over minutes 10-30 (from the 5-minute timeline), energy per token and SLO attainment.
The load (azure-conv, first 30 minutes) is the same in every run, so energy after minute 10 compares
the settings the runs hold then. Usage: bandit_summary.py RESULTS_DIR"""
import glob
import json
import sys


def after(run, start_s):
    """IT energy (J) of the timeline intervals starting at or after start_s."""
    points = run["timeline"]
    step = points[1]["t_s"] - points[0]["t_s"] if len(points) > 1 else 300
    return sum(p["fleet_power_w"] * step for p in points if p["t_s"] >= start_s)


def main(out):
    runs = {}
    for path in sorted(glob.glob(out + "/bandit_fixed_*.json")):
        name = path.rsplit("/", 1)[1][len("bandit_fixed_"):-len(".json")].replace("_", " MHz / batch ")
        runs["fixed " + name] = json.load(open(path))
    fixed = dict(runs)
    for label, file in (("bandit (default model file)", "bandit.json"), ("bandit (no model)", "bandit_nomodel.json")):
        try:
            runs[label] = json.load(open(out + "/" + file))
        except FileNotFoundError:
            pass
    best = min(fixed, key=lambda k: after(fixed[k], 600) if fixed[k]["slo_attainment"] >= 0.99 else 1e30)
    print(f"{'run':<34} {'IT kWh':>7} {'J/token':>8} {'kWh 10-30 min':>13} {'vs best fixed':>13} {'SLO met':>8}")
    for label, r in runs.items():
        late = after(r, 600)
        print(f"{label:<34} {r['it_energy_j'] / 3.6e6:7.3f} {r['energy_per_token_j']:8.4f} {late / 3.6e6:13.3f} "
              f"{late / after(fixed[best], 600):13.3f} {r['slo_attainment'] * 100:7.2f}%")
    print(f"best fixed arm meeting 99% SLO over minutes 10-30: {best}")


if __name__ == "__main__":
    main(sys.argv[1])
