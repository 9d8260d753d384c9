#!/usr/bin/env python3
"""Reads `twin run --compare static,harmful-clocks --json FILE` and reports what the SLO guard let through:
requests that met the SLO under static but not under harmful-clocks, as a share of the requests that arrived
from the harmful policy's start (bench/configs/harmful_at_peak.toml), and the guard's reaction times."""
import json
import sys

START_S = 79800


def main(path):
    results = json.load(open(path))["results"]
    by = {r["policy"]: r for r in results}
    s, h = by["static"], by["harmful-clocks"]
    met_static = s["slo_attainment"] * s["requests"]
    met_harmful = h["slo_attainment"] * h["requests"]
    window = [p for p in s["timeline"] if p["t_s"] >= START_S]
    arrived = sum(p["arrivals_rps"] * 300 for p in window)
    lost = met_static - met_harmful
    events = h["shield"]["events"]
    canary_t = {}
    reactions = []
    for e in events:
        if e["kind"] == "canary":
            canary_t[e["knob"]] = e["t_s"]
        elif e["kind"] == "rollback" and e["knob"] in canary_t and not e["reason"].startswith("canary failed"):
            reactions.append(e["t_s"] - canary_t.pop(e["knob"]))
    print(f"requests arrived from t={START_S} s: {arrived:.0f}")
    print(f"requests meeting the SLO: static {met_static:.0f}, harmful-clocks {met_harmful:.0f}; lost {lost:.0f} "
          f"= {100 * lost / arrived:.3f}% of the requests since the harmful policy started")
    print(f"canaries {h['shield']['canaries']}, rollbacks {h['shield']['rollbacks']}, "
          f"settings refused {h['shield']['refused']}")
    if reactions:
        print(f"canary to rollback (s): min {min(reactions):.0f}, max {max(reactions):.0f}, "
              f"mean {sum(reactions) / len(reactions):.1f} over {len(reactions)} rollbacks; each rollback is "
              f"written at the tick the guard saw the breach")


if __name__ == "__main__":
    main(sys.argv[1])
