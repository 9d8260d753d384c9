"""Calls libjoulepilot from Python through joulepilot.py, against the fake NVML library.

Run by ctest (capi/CMakeLists.txt) with JOULEPILOT_LIBRARY, JOULEPILOT_NVML_LIBRARY (the fake) and
JOULEPILOT_FAKE_NVML_STATE (fake_nvml_state.txt: every energy read adds 1.5 J on GPU 0, 0.25 J on GPU 1).
"""

import ctypes
import os
import threading
import unittest

import joulepilot

STEP = {"gpu.0": 1.5, "gpu.1": 0.25}


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
        self.assertEqual(w.result.joules, STEP)
        self.assertEqual(w.joules, STEP)
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
        self.assertEqual(meter.domains, ["gpu.0", "gpu.1"])
        self.assertEqual(meter.unavailable, ["CPU energy (RAPL): not yet available in libjoulepilot"])

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
            joulepilot.Meter(nvml_library="/nonexistent/libnvidia-ml.so.1")
        self.assertEqual(caught.exception.status, 5)
        self.assertIn("NVML: not present", str(caught.exception))
        self.assertIn("JOULEPILOT_NVML_LIBRARY", str(caught.exception))

        with joulepilot.Meter(nvml_library="/nonexistent/libnvidia-ml.so.1", allow_empty=True) as meter:
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
