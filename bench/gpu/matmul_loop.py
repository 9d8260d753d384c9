"""A real GPU workload for energy checks: bf16 matrix multiplies on GPU 0 for a fixed time.

Usage: python3 matmul_loop.py SECONDS [SIZE]
Prints the number of multiplies and the achieved TFLOP/s. Needs torch with CUDA.
"""
import sys
import time

import torch


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for _ in range(10):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        count += 10
    elapsed = time.monotonic() - start
    print(f"matmuls={count} elapsed_s={elapsed:.3f} tflops={2 * size**3 * count / elapsed / 1e12:.1f}")


if __name__ == "__main__":
    main()
