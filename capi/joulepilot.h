/*
 * joulepilot.h: in-code energy windows (C API of libjoulepilot.so).
 *
 * Measure the energy of a part of your program, per hardware domain, from the hardware's own counters:
 *
 *     joulepilot_meter* meter = NULL;
 *     if (joulepilot_meter_open(NULL, &meter) != JOULEPILOT_OK) {
 *         fprintf(stderr, "joulepilot: %s\n", joulepilot_last_error());
 *         return;
 *     }
 *     joulepilot_window w;
 *     joulepilot_window_begin(meter, "prefill", &w);
 *     run_prefill();
 *     joulepilot_window_end(meter, w);
 *     for (size_t d = 0; d < joulepilot_meter_domain_count(meter); ++d) {
 *         double joules;
 *         if (joulepilot_window_joules(meter, w, d, &joules) == JOULEPILOT_OK)
 *             printf("%s: %.3f J\n", joulepilot_meter_domain_name(meter, d), joules);
 *     }
 *     joulepilot_window_release(meter, w);
 *     joulepilot_meter_close(meter);
 *
 * Domains. Each energy counter the meter found is a domain, named after its signal: "gpu.0", "gpu.1", ...
 * (NVIDIA GPUs through NVML's total-energy counter, one per physical GPU; MIG instances are not split
 * out), and the CPU's RAPL counters (powercap sysfs): "cpu.<package>.package", "cpu.<package>.dram",
 * "cpu.<package>.core", "cpu.<package>.uncore", "node.psys". Overlaps: core and uncore are inside their
 * package and psys covers packages and DRAM, so add only packages, DRAM and GPUs. RAPL's energy_uj is
 * root-only on most systems since 2020: unreadable counters are listed in the unavailable entries with
 * the fix. sysfs is read below $JOULEPILOT_SYSFS_ROOT when set (a host /sys mounted elsewhere; tests).
 *
 * Windows. A window reads every counter when it begins and when it ends; its joules are the difference.
 * Windows are independent intervals: nest them or let them overlap freely. The counters are read only at
 * window edges, nothing runs in the background. Each begin or end costs one counter read per domain
 * (one NVML call per GPU, one small sysfs read per RAPL zone). RAPL counters wrap (every few minutes to
 * hours at full power): a window longer than one wrap period, with no other window edge inside it, can
 * under-count CPU energy by whole wraps; begin or read some window at least once a minute on a busy CPU. A domain whose counter could not be read at either edge (a GPU that fell off
 * the bus) has no value for that window: JOULEPILOT_ERROR_MISSING, never 0.
 *
 * Errors. Every function that can fail returns a joulepilot_status; on failure, joulepilot_last_error()
 * gives a message naming what failed. No function aborts or throws.
 *
 * Thread-safety. All functions may be called from any thread, also concurrently on one meter, except that
 * joulepilot_meter_close must not run concurrently with any other call on the same meter. The last-error
 * message is per thread.
 *
 * Versioning. JOULEPILOT_API_VERSION changes when this interface changes incompatibly; the library
 * refuses options built against another version (JOULEPILOT_ERROR_VERSION). New option fields are only
 * ever appended; struct_size tells the library which ones the caller knows.
 */
#ifndef JOULEPILOT_H
#define JOULEPILOT_H

#include <stddef.h>
#include <stdint.h>

#if defined(JOULEPILOT_CAPI_BUILDING)
#define JOULEPILOT_API __attribute__((visibility("default")))
#else
#define JOULEPILOT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define JOULEPILOT_API_VERSION 1

typedef enum joulepilot_status {
    JOULEPILOT_OK = 0,
    JOULEPILOT_ERROR_INVALID_ARGUMENT = 1, /* a NULL pointer, a domain index out of range, a bad option */
    JOULEPILOT_ERROR_NOT_FOUND = 2,        /* no such window (never begun, or already released) */
    JOULEPILOT_ERROR_STATE = 3,            /* the window has already ended */
    JOULEPILOT_ERROR_MISSING = 4,    /* the domain's counter was unreadable at the window's begin or end */
    JOULEPILOT_ERROR_NO_DOMAINS = 5, /* open: nothing here can be measured (see the message) */
    JOULEPILOT_ERROR_VERSION = 6,    /* options from an incompatible header */
    JOULEPILOT_ERROR_LIMIT = 7,      /* too many windows held: release the ended ones */
    JOULEPILOT_ERROR_INTERNAL = 99   /* a bug: the message says where */
} joulepilot_status;

/* Bits for joulepilot_meter_options.domains. */
#define JOULEPILOT_DOMAIN_GPU 0x1u
#define JOULEPILOT_DOMAIN_CPU 0x2u /* RAPL: cpu.<pkg>.{package,dram,core,uncore}, node.psys */
#define JOULEPILOT_DOMAIN_ALL 0xFFFFFFFFu

typedef struct joulepilot_meter_options {
    uint32_t struct_size;     /* sizeof(joulepilot_meter_options) */
    uint32_t api_version;     /* JOULEPILOT_API_VERSION */
    uint32_t domains;         /* JOULEPILOT_DOMAIN_* bits; default JOULEPILOT_DOMAIN_ALL */
    uint32_t allow_empty;     /* nonzero: open succeeds even when no domain can be measured; default 0 */
    const char* nvml_library; /* NVML to load; NULL: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1 */
} joulepilot_meter_options;

typedef struct joulepilot_meter joulepilot_meter;
typedef uint64_t joulepilot_window; /* never 0 for a window that exists */

/* JOULEPILOT_API_VERSION of the loaded library. */
JOULEPILOT_API uint32_t joulepilot_api_version(void);
/* The library's release, "0.1.0". */
JOULEPILOT_API const char* joulepilot_version(void);

/* Fills `options` with the defaults (and struct_size, api_version). */
JOULEPILOT_API void joulepilot_meter_options_init(joulepilot_meter_options* options);

/* Discovers the domains and opens a meter. `options` may be NULL (defaults). On success *meter is set;
 * with no measurable domain and allow_empty == 0, fails with JOULEPILOT_ERROR_NO_DOMAINS and a message
 * saying what is missing and how to fix it. */
JOULEPILOT_API joulepilot_status joulepilot_meter_open(const joulepilot_meter_options* options,
                                                       joulepilot_meter** meter);
/* Frees the meter and every window it holds. NULL is ignored. */
JOULEPILOT_API void joulepilot_meter_close(joulepilot_meter* meter);

JOULEPILOT_API size_t joulepilot_meter_domain_count(const joulepilot_meter* meter);
/* "gpu.0"; NULL when `index` is out of range. Valid until the meter is closed. */
JOULEPILOT_API const char* joulepilot_meter_domain_name(const joulepilot_meter* meter, size_t index);
/* What could not be measured and why: "NVML: not present (install the NVIDIA driver or set
 * JOULEPILOT_NVML_LIBRARY)". NULL when `index` is out of range. Valid until the meter is closed. */
JOULEPILOT_API size_t joulepilot_meter_unavailable_count(const joulepilot_meter* meter);
JOULEPILOT_API const char* joulepilot_meter_unavailable(const joulepilot_meter* meter, size_t index);

/* Begins a window named `name` (any text, may be NULL; kept for messages). */
JOULEPILOT_API joulepilot_status joulepilot_window_begin(joulepilot_meter* meter, const char* name,
                                                         joulepilot_window* window);
/* Ends the window: its readings are frozen. */
JOULEPILOT_API joulepilot_status joulepilot_window_end(joulepilot_meter* meter, joulepilot_window window);
/* Joules of domain `domain` in the window: the total once ended, so far while open. */
JOULEPILOT_API joulepilot_status joulepilot_window_joules(joulepilot_meter* meter, joulepilot_window window,
                                                          size_t domain, double* joules);
/* Every domain at once: fills joules[0 .. min(count, domains)); an unreadable domain gets NaN. Returns
 * JOULEPILOT_ERROR_MISSING when any of them was unreadable (the others are still filled). */
JOULEPILOT_API joulepilot_status joulepilot_window_read(joulepilot_meter* meter, joulepilot_window window,
                                                        double* joules, size_t count, double* seconds);
/* Seconds between begin and end (or now, while open), from a monotonic clock. */
JOULEPILOT_API joulepilot_status joulepilot_window_seconds(joulepilot_meter* meter, joulepilot_window window,
                                                           double* seconds);
/* Forgets the window (open or ended). */
JOULEPILOT_API joulepilot_status joulepilot_window_release(joulepilot_meter* meter, joulepilot_window window);

/* The message of this thread's latest failure ("" when none). Valid until this thread's next call. */
JOULEPILOT_API const char* joulepilot_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* JOULEPILOT_H */
