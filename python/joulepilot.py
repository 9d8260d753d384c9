"""In-code energy windows: how many joules did this part of my program take, per GPU and CPU?

    import joulepilot

    with joulepilot.window("prefill") as w:
        run_prefill()
    print(w.result.joules)        # {'gpu.0': 41.2, 'gpu.1': 39.8, 'cpu.0.package': 9.1, 'cpu.0.dram': 1.2}
    print(w.result.total_joules)  # 91.3 (GPUs + packages + DRAM: never core, uncore or psys, which overlap)

Windows nest and overlap freely. The numbers come from the hardware's own energy counters (NVIDIA's
total-energy counter through NVML; RAPL through powercap sysfs, read below $JOULEPILOT_SYSFS_ROOT when
set), read when a window begins and when it ends; nothing runs in the background. A domain whose counter
could not be read at either edge has ``None``, never 0.

This module is a thin ctypes wrapper over libjoulepilot.so (capi/joulepilot.h). It looks for the library
in $JOULEPILOT_LIBRARY, then next to this file, then through the dynamic loader (libjoulepilot.so.1).
NVML is found the same way the library finds it: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1.

Thread-safety: a Meter may be used from several threads at once; each ``with`` block is its own window.
The module-level ``window()`` shares one default meter, opened on first use and closed at exit.
"""

from __future__ import annotations

import atexit
import ctypes
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

__all__ = [
    "JoulepilotError",
    "Meter",
    "Window",
    "WindowResult",
    "window",
    "default_meter",
    "API_VERSION",
]

API_VERSION = 1

# joulepilot_status
_OK = 0
_ERROR_MISSING = 4
_STATUS_NAMES = {
    1: "invalid argument",
    2: "not found",
    3: "wrong state",
    4: "counter unreadable",
    5: "nothing to measure",
    6: "version mismatch",
    7: "too many windows",
    99: "internal error",
}

_DOMAIN_BITS = {"gpu": 0x1, "cpu": 0x2}


class JoulepilotError(RuntimeError):
    """A libjoulepilot call failed; ``status`` is the joulepilot_status, the message says what failed."""

    def __init__(self, status: int, message: str):
        super().__init__(message or _STATUS_NAMES.get(status, f"status {status}"))
        self.status = status


class _MeterOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("api_version", ctypes.c_uint32),
        ("domains", ctypes.c_uint32),
        ("allow_empty", ctypes.c_uint32),
        ("nvml_library", ctypes.c_char_p),
    ]


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    c_meter = ctypes.c_void_p
    c_window = ctypes.c_uint64
    signatures = {
        "joulepilot_api_version": (ctypes.c_uint32, []),
        "joulepilot_version": (ctypes.c_char_p, []),
        "joulepilot_meter_options_init": (None, [ctypes.POINTER(_MeterOptions)]),
        "joulepilot_meter_open": (ctypes.c_int, [ctypes.POINTER(_MeterOptions), ctypes.POINTER(c_meter)]),
        "joulepilot_meter_close": (None, [c_meter]),
        "joulepilot_meter_domain_count": (ctypes.c_size_t, [c_meter]),
        "joulepilot_meter_domain_name": (ctypes.c_char_p, [c_meter, ctypes.c_size_t]),
        "joulepilot_meter_unavailable_count": (ctypes.c_size_t, [c_meter]),
        "joulepilot_meter_unavailable": (ctypes.c_char_p, [c_meter, ctypes.c_size_t]),
        "joulepilot_window_begin": (ctypes.c_int, [c_meter, ctypes.c_char_p, ctypes.POINTER(c_window)]),
        "joulepilot_window_end": (ctypes.c_int, [c_meter, c_window]),
        "joulepilot_window_read": (
            ctypes.c_int,
            [
                c_meter,
                c_window,
                ctypes.POINTER(ctypes.c_double),
                ctypes.c_size_t,
                ctypes.POINTER(ctypes.c_double),
            ],
        ),
        "joulepilot_window_release": (ctypes.c_int, [c_meter, c_window]),
        "joulepilot_last_error": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_library: Optional[ctypes.CDLL] = None
_library_lock = threading.Lock()


def _load(path: Optional[str] = None) -> ctypes.CDLL:
    """The C library: ``path``, $JOULEPILOT_LIBRARY, next to this file, or the loader's search path."""
    global _library
    with _library_lock:
        if path is None and _library is not None:
            return _library
        candidates: List[str] = []
        if path:
            candidates.append(path)
        else:
            if os.environ.get("JOULEPILOT_LIBRARY"):
                candidates.append(os.environ["JOULEPILOT_LIBRARY"])
            here = os.path.dirname(os.path.abspath(__file__))
            candidates += [os.path.join(here, "libjoulepilot.so"), "libjoulepilot.so.1", "libjoulepilot.so"]
        errors = []
        for candidate in candidates:
            if os.sep in candidate and not os.path.exists(candidate):
                errors.append(f"{candidate}: no such file")
                continue
            try:
                lib = _declare(ctypes.CDLL(candidate))
            except OSError as e:
                errors.append(str(e))
                continue
            found = lib.joulepilot_api_version()
            if found != API_VERSION:
                errors.append(f"{candidate}: API version {found}, this module needs {API_VERSION}")
                continue
            if path is None:
                _library = lib
            return lib
        raise JoulepilotError(
            0, "joulepilot: cannot load libjoulepilot (set JOULEPILOT_LIBRARY): " + "; ".join(errors)
        )


def _adds_to_total(domain: str) -> bool:
    """The same rule as `joulepilot measure`'s total."""
    if domain.startswith("gpu."):
        return domain.count(".") == 1
    return domain.startswith("cpu.") and (domain.endswith(".package") or domain.endswith(".dram"))


def _text(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""


@dataclass(frozen=True)
class WindowResult:
    """Energy of one window: joules per domain (None where a counter was unreadable) and its duration."""

    name: str
    seconds: float
    joules: Dict[str, Optional[float]] = field(default_factory=dict)

    @property
    def total_joules(self) -> float:
        """Sum over the non-overlapping domains that were read (see ``missing`` for the others): GPUs,
        CPU packages and DRAM. Core and uncore are inside their package and psys covers packages and
        DRAM, so they are never added."""
        return sum(j for d, j in self.joules.items() if j is not None and _adds_to_total(d))

    @property
    def missing(self) -> List[str]:
        return [d for d, j in self.joules.items() if j is None]

    @property
    def average_watts(self) -> Optional[float]:
        return self.total_joules / self.seconds if self.seconds > 0 else None


class Meter:
    """An open libjoulepilot meter. Close it (or use ``with Meter() as m:``) to release NVML."""

    def __init__(
        self,
        domains: Sequence[str] = ("gpu", "cpu"),
        nvml_library: Optional[str] = None,
        allow_empty: bool = False,
        library: Optional[str] = None,
    ):
        self._lib = _load(library)
        options = _MeterOptions()
        self._lib.joulepilot_meter_options_init(ctypes.byref(options))
        bits = 0
        for d in domains:
            if d not in _DOMAIN_BITS:
                raise ValueError(f"joulepilot: unknown domain kind {d!r} (known: {sorted(_DOMAIN_BITS)})")
            bits |= _DOMAIN_BITS[d]
        options.domains = bits
        options.allow_empty = 1 if allow_empty else 0
        self._nvml_library = nvml_library.encode() if nvml_library else None  # kept alive for the call
        options.nvml_library = self._nvml_library
        handle = ctypes.c_void_p()
        self._check(self._lib.joulepilot_meter_open(ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        lib = self._lib
        self.domains: List[str] = [
            _text(lib.joulepilot_meter_domain_name(handle, i))
            for i in range(lib.joulepilot_meter_domain_count(handle))
        ]
        self.unavailable: List[str] = [
            _text(lib.joulepilot_meter_unavailable(handle, i))
            for i in range(lib.joulepilot_meter_unavailable_count(handle))
        ]
        self._joules = (ctypes.c_double * max(1, len(self.domains)))()
        self._read_lock = threading.Lock()  # guards the shared result buffer

    def _check(self, status: int) -> None:
        if status != _OK:
            raise JoulepilotError(status, _text(self._lib.joulepilot_last_error()))

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _require_open(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise JoulepilotError(1, "joulepilot: the meter is closed")
        return self._handle

    def close(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._lib.joulepilot_meter_close(self._handle)
            self._handle = None

    def __enter__(self) -> "Meter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def window(self, name: str) -> "Window":
        """A context manager measuring its block: ``with meter.window("decode") as w: ...``."""
        return Window(self, name)

    # Low-level calls, used by Window.
    def _begin(self, name: str) -> int:
        handle = self._require_open()
        window_id = ctypes.c_uint64()
        self._check(self._lib.joulepilot_window_begin(handle, name.encode(), ctypes.byref(window_id)))
        return window_id.value

    def _end_and_read(self, window_id: int, name: str) -> WindowResult:
        handle = self._require_open()
        try:
            self._check(self._lib.joulepilot_window_end(handle, window_id))
            seconds = ctypes.c_double()
            with self._read_lock:
                status = self._lib.joulepilot_window_read(
                    handle, window_id, self._joules, len(self.domains), ctypes.byref(seconds)
                )
                if status not in (_OK, _ERROR_MISSING):
                    self._check(status)
                values = [self._joules[i] for i in range(len(self.domains))]
        finally:
            self._lib.joulepilot_window_release(handle, window_id)
        joules = {d: (None if math.isnan(v) else v) for d, v in zip(self.domains, values)}
        return WindowResult(name=name, seconds=seconds.value, joules=joules)


class Window:
    """One measured block. After the ``with`` block, ``result`` holds its WindowResult."""

    def __init__(self, meter: Meter, name: str):
        self.meter = meter
        self.name = name
        self.result: Optional[WindowResult] = None
        self._id: Optional[int] = None

    def __enter__(self) -> "Window":
        if self._id is not None:
            raise JoulepilotError(3, f"joulepilot: window {self.name!r} is already running")
        self.result = None
        self._id = self.meter._begin(self.name)
        return self

    def __exit__(self, *exc) -> None:
        window_id, self._id = self._id, None
        if window_id is not None:
            self.result = self.meter._end_and_read(window_id, self.name)

    # Conveniences so ``w.joules`` reads like the result.
    @property
    def joules(self) -> Dict[str, Optional[float]]:
        return self._finished().joules

    @property
    def seconds(self) -> float:
        return self._finished().seconds

    @property
    def total_joules(self) -> float:
        return self._finished().total_joules

    def _finished(self) -> WindowResult:
        if self.result is None:
            raise JoulepilotError(3, f"joulepilot: window {self.name!r} has not ended")
        return self.result


_default: Optional[Meter] = None
_default_lock = threading.Lock()


def default_meter() -> Meter:
    """The meter behind ``window()``: every domain, opened on first use, closed at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Meter()
            atexit.register(_default.close)
        return _default


def window(name: str) -> Window:
    """``with joulepilot.window("prefill") as w: ...`` on the default meter; ``w.result`` afterwards."""
    return Window(default_meter(), name)
