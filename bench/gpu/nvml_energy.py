"""Independent reference for GPU energy: reads NVML's total energy counter (mJ) of GPU 0 directly through
ctypes before and after a command, so joulepilot's number can be checked against the counter itself.

Usage: python3 nvml_energy.py -- CMD ARGS...   -> prints JSON {"energy_j": ..., "seconds": ...}
Read-only: it calls no NVML set function.
"""
import ctypes
import json
import subprocess
import sys
import time


def main() -> None:
    cmd = sys.argv[sys.argv.index("--") + 1:]
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    assert nvml.nvmlInit_v2() == 0, "nvmlInit_v2 failed"
    handle = ctypes.c_void_p()
    assert nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(handle)) == 0
    energy_mj = ctypes.c_ulonglong()

    def read_mj() -> int:
        assert nvml.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(energy_mj)) == 0
        return energy_mj.value

    before, t0 = read_mj(), time.monotonic()
    status = subprocess.call(cmd)
    after, t1 = read_mj(), time.monotonic()
    nvml.nvmlShutdown()
    print(json.dumps({"energy_j": (after - before) / 1000.0, "seconds": t1 - t0, "status": status}))


if __name__ == "__main__":
    main()
