#!/usr/bin/env python3
"""Summarises the bandit benchmark of scripts/bench.sh (issue 6: "on a steady load, within 5% of the best
fixed setting after 10 simulated minutes, with at most 1% of requests missing the SLO while exploring").

Inputs in RESULTS_DIR, all runs of the same steady trace for the same simulated time:
  bandit_fixed_<MHz>_<cap>.json  each fixed arm, run with the shield's guard off and no canary, so the arm
                                 is held from the first decision to the end;
  bandit*.json                   the bandit runs (any other name starting with "bandit").
The yardstick, "best fixed": among the fixed runs that really held their arm (every timeline interval
after the first at the arm's batch cap and SM clock, no rollback) and met the SLO target over the whole
run, the one with the least IT energy over minutes 10 to the end. A fixed arm that breaks the SLO is
listed but not admissible. Energy after minute 10 comes from the 5-minute timeline; SLO misses per
interval are estimated from the interval's attainment x its arrivals (the timeline has no counts).
Usage: bandit_summary.py RESULTS_DIR [SLO_TARGET (default 0.99)]"""
import glob
import json
import os
import sys


def after(run, start_s):
    """IT energy (J) of the timeline intervals starting at or after start_s."""
    points = run["timeline"]
    step = points[1]["t_s"] - points[0]["t_s"] if len(points) > 1 else 300
    return sum(p["fleet_power_w"] * step for p in points if p["t_s"] >= start_s)


def misses(run, start_s, end_s):
    """(estimated requests missing the SLO, requests) over timeline intervals in [start_s, end_s)."""
    points = run["timeline"]
    step = points[1]["t_s"] - points[0]["t_s"] if len(points) > 1 else 300
    missed = total = 0.0
    for p in points:
        if start_s <= p["t_s"] < end_s:
            n = p["arrivals_rps"] * step
            missed += (1 - p["slo_attainment"]) * n
            total += n
    return missed, total


def held(run, mhz, cap):
    """Did a fixed run hold its arm (after the first interval, which starts at the defaults)?"""
    later = run["timeline"][1:]
    rollbacks = run.get("shield", {}).get("rollbacks", 0)
    return rollbacks == 0 and all(abs(p["mean_batch_cap"] - cap) < 0.5 and abs(p["mean_sm_clock_mhz"] - mhz) < 1
                                  for p in later)


def main(out, target):
    fixed = {}
    for path in sorted(glob.glob(out + "/bandit_fixed_*.json")):
        mhz, cap = os.path.basename(path)[len("bandit_fixed_"):-len(".json")].split("_")
        run = json.load(open(path))
        fixed[f"fixed {mhz} MHz / batch {cap}"] = (run, held(run, float(mhz), int(cap)))
    bandits = {}
    for path in sorted(glob.glob(out + "/bandit*.json")):
        name = os.path.basename(path)[:-len(".json")]
        if not name.startswith("bandit_fixed_"):
            bandits[name] = json.load(open(path))
    if not fixed:
        sys.exit(f"bandit_summary: no bandit_fixed_<MHz>_<cap>.json in {out} (run the bandit block of scripts/bench.sh)")
    admissible = {k: r for k, (r, ok) in fixed.items() if ok and r["slo_attainment"] >= target}
    if not admissible:
        sys.exit("bandit_summary: no fixed run held its arm and met the SLO target; nothing to compare with")
    best = min(admissible, key=lambda k: after(admissible[k], 600))
    yardstick = after(admissible[best], 600)
    print(f"{'run':<30} {'IT kWh':>7} {'kWh 10 min-end':>14} {'/best fixed':>11} {'SLO met':>8} "
          f"{'miss 0-10 min':>13} {'rollbacks':>9}  note")
    for label, (r, ok) in fixed.items():
        note = "BEST FIXED" if label == best else ("" if ok and r["slo_attainment"] >= target else
                                                  ("did not hold its arm" if not ok else "breaks the SLO"))
        m, n = misses(r, 0, 600)
        print(f"{label:<30} {r['it_energy_j'] / 3.6e6:7.3f} {after(r, 600) / 3.6e6:14.4f} "
              f"{after(r, 600) / yardstick:11.3f} {r['slo_attainment'] * 100:7.2f}% {100 * m / max(n, 1):12.2f}% "
              f"{r.get('shield', {}).get('rollbacks', 0):9d}  {note}")
    for label, r in bandits.items():
        m, n = misses(r, 0, 600)
        shield = r.get("shield", {})
        print(f"{label:<30} {r['it_energy_j'] / 3.6e6:7.3f} {after(r, 600) / 3.6e6:14.4f} "
              f"{after(r, 600) / yardstick:11.3f} {r['slo_attainment'] * 100:7.2f}% {100 * m / max(n, 1):12.2f}% "
              f"{shield.get('rollbacks', 0):9d}  canaries {shield.get('canaries', 0)}, "
              f"refused {shield.get('refused', 0)}; clocks per 5 min "
              + ",".join(f"{p['mean_sm_clock_mhz']:.0f}" for p in r["timeline"]))
    print(f"best fixed (held its arm, SLO >= {target:.0%} over the run; least IT energy from minute 10): {best}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 0.99)
