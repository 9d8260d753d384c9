#!/usr/bin/env python3
"""Measure the energy of two phases of a job with joulepilot's in-code windows.

    JOULEPILOT_LIBRARY=build/release/capi/libjoulepilot.so PYTHONPATH=python \
        python3 python/examples/window_example.py

On a machine with an NVIDIA GPU it reports joules per GPU for each phase. Without one it says what is
missing and exits 0. The work here is plain Python so the example runs anywhere; put your GPU work
(a torch matmul loop, a model's prefill) inside the windows instead.
"""

import sys
import time

import joulepilot


def busy(seconds: float) -> int:
    """Stand-in for real work."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += sum(range(1000))
    return n


def main() -> int:
    try:
        meter = joulepilot.Meter()
    except joulepilot.JoulepilotError as e:
        print(f"nothing to measure here: {e}")
        return 0
    with meter:
        print("domains:", ", ".join(meter.domains))
        for line in meter.unavailable:
            print("unavailable:", line)

        with meter.window("job") as job:
            with meter.window("prefill") as prefill:
                busy(0.05)
            with meter.window("decode") as decode:
                busy(0.10)

        for w in (prefill, decode, job):
            per_domain = ", ".join(
                f"{d} {'unreadable' if j is None else f'{j:.3f} J'}" for d, j in w.result.joules.items()
            )
            watts = w.result.average_watts
            print(
                f"{w.name:8s} {w.result.seconds * 1e3:8.1f} ms  {w.result.total_joules:10.3f} J"
                f"  {'' if watts is None else f'{watts:8.1f} W'}  ({per_domain})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
