#!/usr/bin/env python3
"""Writes a steady-load trace for `joulepilot twin run --trace FILE` (the bandit benchmark in
scripts/bench.sh): Poisson arrivals at one constant rate, each request's prompt and output lengths drawn
at random (with replacement) from a recorded Azure LLM inference trace, so the token mix is real and the
rate is flat. The twin's --scale-peak then sets how much of the fleet the load needs.
Output: JSONL, one {"timestamp": ms, "input_length": n, "output_length": m} per line (trace_reader.hpp).
Deterministic for a given seed.
Usage: steady_trace.py SOURCE.csv OUT.jsonl [--rate RPS] [--duration SECONDS] [--seed N]"""
import argparse
import csv
import json
import random
import sys


def read_lengths(path):
    """(prompt tokens, output tokens) of every row of an Azure trace CSV."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"steady_trace: cannot read {path}: {e.strerror}")
    try:
        lengths = [(int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in rows]
    except (KeyError, ValueError):
        sys.exit(f"steady_trace: {path} is not an Azure trace (header TIMESTAMP,ContextTokens,GeneratedTokens)")
    lengths = [(i, o) for i, o in lengths if i >= 0 and o >= 1]
    if not lengths:
        sys.exit(f"steady_trace: {path} has no usable rows")
    return lengths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (default 5)")
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of arrivals (default 1800)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0:
        sys.exit("steady_trace: --rate and --duration must be positive")
    lengths = read_lengths(args.source)
    rng = random.Random(args.seed)
    t = 0.0
    count = 0
    with open(args.out, "w") as out:
        while True:
            t += rng.expovariate(args.rate)
            if t >= args.duration:
                break
            prompt, output = lengths[rng.randrange(len(lengths))]
            out.write(json.dumps({"timestamp": round(t * 1000, 3), "input_length": prompt,
                                  "output_length": output}) + "\n")
            count += 1
    print(f"steady_trace: {count} requests over {args.duration:.0f} s ({count / args.duration:.2f}/s) "
          f"from {len(lengths)} recorded lengths -> {args.out}")


if __name__ == "__main__":
    main()
