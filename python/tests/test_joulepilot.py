"""Calls libjoulepilot from Python through joulepilot.py, against the fake NVML library and a copy of a
two-socket RAPL fixture tree.

Run by ctest (capi/CMakeLists.txt) with JOULEPILOT_LIBRARY, JOULEPILOT_NVML_LIBRARY (the fake),
JOULEPILOT_FAKE_NVML_STATE (fake_nvml_state.txt: every energy read adds 1.5 J on GPU 0, 0.25 J on GPU 1)
and JOULEPILOT_TEST_SYSFS_FIXTURE (tests/fixtures/sysfs/intel-2s), which is copied to a temporary
directory named by JOULEPILOT_SYSFS_ROOT before any meter opens, so the tests can move its counters.
"""

import atexit
import ctypes
import os
import shutil
import tempfile
import threading
import unittest

_SYSFS = tempfile.mkdtemp(prefix="joulepilot-sysfs-")
atexit.register(shutil.rmtree, _SYSFS, True)
shutil.copytree(os.environ["JOULEPILOT_TEST_SYSFS_FIXTURE"], _SYSFS, dirs_exist_ok=True)
os.environ["JOULEPILOT_SYSFS_ROOT"] = _SYSFS

import joulepilot  # noqa: E402  (after the environment it reads at meter open)

STEP = {"gpu.0": 1.5, "gpu.1": 0.25}
CPU_DOMAINS = [
    "cpu.0.package", "cpu.0.core", "cpu.0.uncore", "cpu.0.dram",
    "cpu.1.package", "cpu.1.core", "cpu.1.uncore", "cpu.1.dram",
]


def rapl_file(zone: str) -> str:
    return os.path.join(_SYSFS, "sys", "class", "powercap", zone, "energy_uj")


def add_rapl_uj(zone: str, uj: int) -> None:
    """Moves a fixture RAPL counter forward, as the CPU would."""
    path = rapl_file(zone)
    with open(path) as f:
        value = int(f.read())
    with open(path, "w") as f:
        f.write(f"{value + uj}\n")


def gpu_joules(joules):
    return {d: j for d, j in joules.items() if d.startswith("gpu.")}


def fake_nvml() -> ctypes.CDLL:
    """The fake library the meter loaded (same path, so the same loaded copy) and its test controls."""
    lib = ctypes.CDLL(os.environ["JOULEPILOT_NVML_LIBRARY"])
    lib.jp_fake_nvml_apply.argtypes = [ctypes.c_char_p]
    lib.jp_fake_nvml_apply.restype = ctypes.c_int
    lib.jp_fake_nvml_call_count.argtypes = [ctypes.c_char_p]
    lib.jp_fake_nvml_call_count.restype = ctypes.c_ulonglong
    return lib


class WindowTest(unittest.TestCase):
    def test_window_gives_joules_per_gpu(self):
        with joulepilot.window("prefill") as w:
            sum(range(1000))
        self.assertEqual(w.result.name, "prefill")
        self.assertEqual(gpu_joules(w.result.joules), STEP)
        self.assertEqual(gpu_joules(w.joules), STEP)
        for domain in CPU_DOMAINS:
            self.assertEqual(w.joules[domain], 0.0)  # the fixture's counters did not move
        self.assertAlmostEqual(w.total_joules, 1.75)
        self.assertGreaterEqual(w.seconds, 0.0)
        self.assertEqual(w.result.missing, [])

    def test_nested_windows(self):
        with joulepilot.window("request") as outer:
            with joulepilot.window("prefill") as inner:
                pass
        self.assertEqual(inner.joules["gpu.0"], 1.5)
        self.assertEqual(outer.joules["gpu.0"], 4.5)  # its edges and the inner window's two reads
        self.assertGreaterEqual(outer.seconds, inner.seconds)

    def test_default_meter_lists_domains_and_what_is_missing(self):
        meter = joulepilot.default_meter()
        self.assertEqual(meter.domains[:2], ["gpu.0", "gpu.1"])
        self.assertEqual(sorted(meter.domains[2:]), sorted(CPU_DOMAINS))
        self.assertEqual(meter.unavailable, [])

    def test_cpu_window_counts_rapl_energy_and_the_total_skips_overlaps(self):
        with joulepilot.Meter(domains=("cpu",)) as meter:
            self.assertEqual(sorted(meter.domains), sorted(CPU_DOMAINS))
            with meter.window("tokenize") as w:
                add_rapl_uj("intel-rapl:0", 2_500_000)  # package 0: 2.5 J
                add_rapl_uj("intel-rapl:0:0", 2_000_000)  # its cores: 2 J of those 2.5
                add_rapl_uj("intel-rapl:1:2", 250_000)  # DRAM 1: 0.25 J
        self.assertEqual(w.joules["cpu.0.package"], 2.5)
        self.assertEqual(w.joules["cpu.0.core"], 2.0)
        self.assertEqual(w.joules["cpu.1.dram"], 0.25)
        self.assertEqual(w.joules["cpu.1.package"], 0.0)
        self.assertAlmostEqual(w.total_joules, 2.75)  # package + DRAM; the core is inside the package

    def test_cpu_window_across_a_counter_wrap(self):
        # DRAM's counter wraps at max_energy_range_uj (65712999613 in the fixture): the window still
        # gets the energy across the wrap. The counter is near the top before the meter opens (a jump
        # there in a millisecond would be an implausible step, i.e. a reset) and restored after, so the
        # shared default meter of the other tests never sees the wrap.
        path = rapl_file("intel-rapl:0:2")
        with open(path) as f:
            original = f.read()
        try:
            with open(path, "w") as f:
                f.write("65712999000\n")
            with joulepilot.Meter(domains=("cpu",)) as meter:
                with meter.window("wrap") as w:
                    with open(path, "w") as f:
                        f.write("400\n")  # 613 uJ to the top, then 0..400: 1014 uJ in all
        finally:
            with open(path, "w") as f:
                f.write(original)
        self.assertAlmostEqual(w.joules["cpu.0.dram"], 1014e-6, places=9)

    def test_windows_read_only_the_energy_counters(self):
        fake = fake_nvml()
        meter = joulepilot.default_meter()
        energy = fake.jp_fake_nvml_call_count(b"nvmlDeviceGetTotalEnergyConsumption")
        temperature = fake.jp_fake_nvml_call_count(b"nvmlDeviceGetTemperature")
        with meter.window("cheap"):
            pass
        self.assertEqual(fake.jp_fake_nvml_call_count(b"nvmlDeviceGetTotalEnergyConsumption"), energy + 4)
        self.assertEqual(fake.jp_fake_nvml_call_count(b"nvmlDeviceGetTemperature"), temperature)

    def test_lost_gpu_has_no_value_and_the_other_still_counts(self):
        fake = fake_nvml()
        with joulepilot.Meter(domains=("gpu",)) as meter:
            try:
                with meter.window("decode") as w:
                    self.assertEqual(fake.jp_fake_nvml_apply(b"device 1 lost\n"), 0)
            finally:
                # The fake's state is shared with the other tests: bring GPU 1 back.
                fake.jp_fake_nvml_apply(b"device 1 lost_after_calls 1000000000\n")
        self.assertEqual(w.joules["gpu.0"], 1.5)
        self.assertIsNone(w.joules["gpu.1"])
        self.assertEqual(w.result.missing, ["gpu.1"])
        self.assertEqual(w.total_joules, 1.5)

    def test_no_nvml_is_an_error_that_says_why(self):
        with self.assertRaises(joulepilot.JoulepilotError) as caught:
            # GPUs only: the CPU domains of the fixture tree would be something to measure.
            joulepilot.Meter(nvml_library="/nonexistent/libnvidia-ml.so.1", domains=("gpu",))
        self.assertEqual(caught.exception.status, 5)
        self.assertIn("NVML: not present", str(caught.exception))
        self.assertIn("JOULEPILOT_NVML_LIBRARY", str(caught.exception))

        with joulepilot.Meter(
            nvml_library="/nonexistent/libnvidia-ml.so.1", domains=("gpu",), allow_empty=True
        ) as meter:
            self.assertEqual(meter.domains, [])
            with meter.window("nothing") as w:
                pass
        self.assertEqual(w.joules, {})
        self.assertGreaterEqual(w.seconds, 0.0)

    def test_misuse_raises(self):
        meter = joulepilot.Meter(domains=("gpu",))
        w = meter.window("x")
        with self.assertRaises(joulepilot.JoulepilotError):
            w.joules  # not ended yet
        with self.assertRaises(ValueError):
            joulepilot.Meter(domains=("tpu",))
        meter.close()
        with self.assertRaises(joulepilot.JoulepilotError):
            with meter.window("after close"):
                pass

    def test_windows_from_many_threads(self):
        meter = joulepilot.default_meter()
        results = []
        errors = []

        def work(tag):
            try:
                for i in range(50):
                    with meter.window(f"{tag}-{i}") as w:
                        pass
                    results.append(w.result)
            except Exception as e:  # handed to the main thread, not swallowed
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 200)
        for r in results:
            # A window spans its own end read and possibly other threads' reads: whole steps, at least one.
            steps = r.joules["gpu.0"] / STEP["gpu.0"]
            self.assertGreaterEqual(steps, 1)
            self.assertEqual(steps, round(steps))
            self.assertEqual(r.joules["gpu.1"] / STEP["gpu.1"], steps)


if __name__ == "__main__":
    unittest.main()
