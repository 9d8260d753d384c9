// `joulepilot measure -- CMD ARGS...`: `perf stat` for energy. Runs the command (stdio inherited, exit
// status passed through), reads every energy sensor of the node at a fixed interval while it runs, and
// reports per domain (each CPU package, DRAM, each GPU, node meters) joules, average and peak watts and the
// duration; net of an idle baseline, in grams of CO2, and over repeats with a Student t interval.
//
// Where the joules come from: the difference of each energy counter (RAPL, NVML, hwmon) between the read
// just before the command starts and the read just after it ends. The sensors fold counter wraps in, and
// the reads in between are what makes that exact (a RAPL counter must be read at least once per wrap
// period) and what gives the peak power. A meter that only reports power (an ACPI power meter) is
// integrated over the reads (trapezoids) and labelled `derived`. Nothing is summed that overlaps: the
// total adds packages, DRAM and GPUs only (never core/uncore, which are inside their package, nor psys,
// which covers both).
//
// Threads: one. The main thread starts the child, then alternates between waiting (poll on a pidfd, so
// the child's exit ends the wait at once and the duration is exact to the syscall) and reading the
// sensors. SIGINT and SIGTERM are forwarded to the child; the run it ends is still reported.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/measure_attribution.hpp"
#include "cli/measure_sampler.hpp"
#include "cli/measure_stats.hpp"
#include "cli/node_sensors.hpp"
#include "core/units.hpp"
#include "sense/energy_domain.hpp"
#include "twin/facility/facility_model.hpp"

namespace joulepilot::cli {
namespace {

// The shell's conventions, so scripts that check for them keep working.
constexpr int kExitNotFound = 127;
constexpr int kExitCannotExecute = 126;
constexpr int kExitSignalBase = 128;

constexpr double kConfidenceLevel = 0.95;
// GPUs are read at most this often (and always right before and after the command): one NVML energy read
// costs ~3.4 ms of CPU on an H100 with driver 580.159 (measured; the power reading costs 1 us), so eight
// GPUs read every 100 ms would take a quarter of a core. The counter never wraps, so the joules stay
// exact; only the GPUs' peak power has this resolution.
constexpr std::chrono::milliseconds kGpuMinInterval{1000};

struct MeasureOptions {
    int repeat = 1;
    double idle_baseline_s = 0.0;
    int interval_ms = 100;
    std::string zone;
    double intensity_g_per_kwh = 0.0;
    bool intensity_given = false;
    std::string json_path;  // "" or "-" with json_given: to stdout
    bool json_given = false;
    std::string root = "/";
    std::string nvml_library;
    std::string config_path;
    bool per_process = false;
    bool per_cgroup = false;
    std::vector<std::string> command;
};

// This process's peak resident memory, KiB: VmHWM of /proc/self/status (the high-water mark of this
// program's own memory). getrusage's ru_maxrss is the fallback only: it keeps the mark of the image before
// exec, so under a large parent (a Python script that starts joulepilot) it reports the parent's size.
long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmHWM:")) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    return self.ru_maxrss;
}

// ---- Signal forwarding ----------------------------------------------------------------------------------
// The only mutable globals of the command: a signal handler can reach nothing else. Lock-free atomics, so
// the handler is async-signal-safe.
std::atomic<pid_t> g_child{0};
std::atomic<int> g_interrupt{0};  // the last SIGINT/SIGTERM received; 0: none
static_assert(std::atomic<pid_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

extern "C" void forward_signal(int sig, siginfo_t* info, void* /*context*/) {
    g_interrupt.store(sig);
    const pid_t child = g_child.load();
    // A terminal's ^C reaches the whole foreground process group, the child included (the kernel sends it
    // with si_code SI_KERNEL): sending it again would make a program that counts interrupts see two.
    if (child > 0 && (info == nullptr || info->si_code != SI_KERNEL)) ::kill(child, sig);
}

// Installs the forwarding handlers for its lifetime and restores the previous ones after. A signal the
// shell told us to ignore (a background job's SIGINT) stays ignored, for us and for the child.
class SignalForwarding {
public:
    SignalForwarding() {
        for (std::size_t i = 0; i < kSignals.size(); ++i) {
            struct sigaction old {};
            ::sigaction(kSignals[i], nullptr, &old);
            m_old[i] = old;
            if (old.sa_handler == SIG_IGN) continue;
            struct sigaction action {};
            action.sa_sigaction = forward_signal;
            action.sa_flags = SA_SIGINFO;  // no SA_RESTART: the wait must wake to notice the interrupt
            sigemptyset(&action.sa_mask);
            ::sigaction(kSignals[i], &action, nullptr);
        }
    }
    ~SignalForwarding() {
        for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &m_old[i], nullptr);
    }
    SignalForwarding(const SignalForwarding&) = delete;
    SignalForwarding& operator=(const SignalForwarding&) = delete;

private:
    static constexpr std::array<int, 2> kSignals{SIGINT, SIGTERM};
    std::array<struct sigaction, 2> m_old{};
};

std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    const char* description = ::strsignal(sig);
    return fmt::format("SIG{} ({})", abbrev != nullptr ? abbrev : std::to_string(sig),
                       description != nullptr ? description : "unknown");
}

// Sleeps until `deadline` or until a signal arrives (poll with no descriptors returns EINTR), so an
// interrupt during the idle baseline is noticed at once rather than at the next tick.
void sleep_until_or_signal(SteadyTime deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    ::poll(nullptr, 0, static_cast<int>(std::min<long long>(left_ms, 1'000'000'000LL)));
}

// ---- Running the command --------------------------------------------------------------------------------

struct RunResult {
    int exit_status = 0;         // what joulepilot passes through: the code, or 128 + signal
    int signal = 0;              // the signal that killed it; 0 when it exited
    bool interrupted = false;    // SIGINT/SIGTERM reached us during the run
    double duration_s = 0.0;     // from the read before the start to the read after the end
    double command_cpu_s = 0.0;  // user + system CPU of the command and its waited-for children
    std::size_t samples = 0;
    std::vector<DomainResult> domains;
};

// Why a command could not start: it is not a measurement, so nothing is reported.
struct SpawnFailure {
    int exit_status;
    std::string message;
};

class Child {
public:
    // Starts argv with our stdio and environment; SIGINT/SIGTERM at their defaults unless ignored.
    static std::variant<Child, SpawnFailure> spawn(const std::vector<std::string>& command) {
        std::vector<char*> argv;
        argv.reserve(command.size() + 1);
        for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);

        posix_spawnattr_t attr;
        ::posix_spawnattr_init(&attr);
        sigset_t defaults;
        sigemptyset(&defaults);
        for (int sig : {SIGINT, SIGTERM}) {
            struct sigaction current {};
            ::sigaction(sig, nullptr, &current);
            if (current.sa_handler != SIG_IGN) sigaddset(&defaults, sig);
        }
        sigset_t empty;
        sigemptyset(&empty);
        ::posix_spawnattr_setsigdefault(&attr, &defaults);
        ::posix_spawnattr_setsigmask(&attr, &empty);
        ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        pid_t pid = 0;
        // glibc's posix_spawnp reports a failed exec (ENOENT, EACCES) as its return value.
        const int error = ::posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), environ);
        ::posix_spawnattr_destroy(&attr);
        if (error != 0) {
            const bool not_found = error == ENOENT || error == ENOTDIR;
            return SpawnFailure{
                not_found ? kExitNotFound : kExitCannotExecute,
                fmt::format("measure: cannot run '{}': {}{}", command.front(), std::strerror(error),
                            not_found && command.front().find('/') == std::string::npos
                                ? " (not found in PATH)"
                                : "")};
        }
        return Child(pid);
    }

    Child(Child&& other) noexcept
        : m_pid(std::exchange(other.m_pid, 0)), m_pidfd(std::exchange(other.m_pidfd, -1)) {}
    Child& operator=(Child&&) = delete;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (m_pidfd >= 0) ::close(m_pidfd);
    }

    [[nodiscard]] pid_t pid() const { return m_pid; }

    // Waits until the child exits or `deadline` passes. True when it exited (then status/usage are set).
    bool wait_until(SteadyTime deadline, int& status, rusage& usage) {
        while (true) {
            const pid_t reaped = ::wait4(m_pid, &status, WNOHANG, &usage);
            if (reaped == m_pid) return true;
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) return false;
            const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
            if (m_pidfd >= 0) {
                pollfd fd{m_pidfd, POLLIN, 0};
                ::poll(&fd, 1, static_cast<int>(left_ms));  // EINTR (a forwarded signal) just loops
            } else {
                // No pidfd (Linux < 5.3): look again every 5 ms, so the end is still seen within 5 ms.
                std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long>(left_ms, 5)));
            }
        }
    }

private:
    explicit Child(pid_t pid) : m_pid(pid) {
#ifdef SYS_pidfd_open
        m_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#endif
    }
    pid_t m_pid = 0;
    int m_pidfd = -1;
};

struct Baseline {
    double duration_s = 0.0;
    std::vector<std::optional<double>> idle_w;  // per domain
};

class Measurement {
public:
    Measurement(NodeSensors& node, const std::vector<Domain>& domains, std::chrono::milliseconds interval,
                EnergyAttribution* attribution = nullptr)
        : m_node(node), m_domains(domains), m_interval(interval), m_attribution(attribution) {}

    // Reads the idle node for `seconds`. Nullopt when interrupted.
    std::optional<Baseline> idle_baseline(double seconds) {
        IntervalSampler sampler(m_node, m_domains, interval_s());
        const SteadyTime start = std::chrono::steady_clock::now();
        const SteadyTime end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                           std::chrono::duration<double>(seconds));
        sampler.sample(start, true);
        SteadyTime next = start + m_interval;
        while (g_interrupt.load() == 0) {
            const SteadyTime deadline = std::min(next, end);
            sleep_until_or_signal(deadline);
            if (g_interrupt.load() != 0) break;
            if (std::chrono::steady_clock::now() < deadline) continue;  // woken early by another signal
            sampler.sample(start, deadline >= end);
            if (deadline >= end) break;
            next += m_interval;
        }
        account(sampler);
        if (g_interrupt.load() != 0) return std::nullopt;
        Baseline b;
        b.duration_s = sampler.end_t();
        for (std::size_t d = 0; d < m_domains.size(); ++d) {
            const DomainResult r = finish_domain(sampler.track(d), b.duration_s);
            b.idle_w.push_back(r.complete ? r.average_w : std::nullopt);
        }
        return b;
    }

    // Runs the command once, sampling until it ends.
    std::variant<RunResult, SpawnFailure> run(const std::vector<std::string>& command,
                                              const std::optional<Baseline>& baseline) {
        IntervalSampler sampler(m_node, m_domains, interval_s());
        if (m_attribution != nullptr) {
            m_attribution->start_run(baseline ? &baseline->idle_w : nullptr);
            sampler.on_sample([this](const IntervalSampler& s, double t) { m_attribution->sample(s, t); });
        }
        const SteadyTime start = std::chrono::steady_clock::now();
        sampler.sample(start, true);  // the read the joules count from: before the command exists
        auto spawned = Child::spawn(command);
        if (auto* failure = std::get_if<SpawnFailure>(&spawned)) return *failure;
        auto& child = std::get<Child>(spawned);
        g_child.store(child.pid());
        // A signal that came between the spawn and the line above was not forwarded: do it now.
        if (const int pending = g_interrupt.load(); pending != 0) ::kill(child.pid(), pending);

        int status = 0;
        rusage usage{};
        SteadyTime next = start + m_interval;
        while (!child.wait_until(next, status, usage)) {
            sampler.sample(start, false);
            // After a stall (a slow NVML call, a stopped process), skip missed ticks instead of bursting.
            next += m_interval;
            if (const auto now = std::chrono::steady_clock::now(); next < now) next = now + m_interval;
        }
        g_child.store(0);
        sampler.sample(start, true);  // the read the joules count to: the command has ended
        account(sampler);

        RunResult r;
        r.duration_s = sampler.end_t();
        r.samples = sampler.samples();
        r.interrupted = g_interrupt.load() != 0;
        r.command_cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                          static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
        if (WIFSIGNALED(status)) {
            r.signal = WTERMSIG(status);
            r.exit_status = kExitSignalBase + r.signal;
        } else {
            r.exit_status = WEXITSTATUS(status);
        }
        for (std::size_t d = 0; d < m_domains.size(); ++d) {
            DomainResult dr = finish_domain(sampler.track(d), r.duration_s);
            if (baseline && baseline->idle_w[d] && dr.energy_j && dr.complete) {
                dr.net_energy_j = *dr.energy_j - *baseline->idle_w[d] * r.duration_s;
            }
            r.domains.push_back(dr);
        }
        return r;
    }

    [[nodiscard]] std::size_t samples() const { return m_samples; }
    [[nodiscard]] double sampling_cpu_s() const { return m_cpu_s; }

private:
    [[nodiscard]] double interval_s() const { return std::chrono::duration<double>(m_interval).count(); }
    void account(const IntervalSampler& sampler) {
        m_samples += sampler.samples();
        m_cpu_s += sampler.cpu_s();
    }

    NodeSensors& m_node;
    const std::vector<Domain>& m_domains;
    std::chrono::milliseconds m_interval;
    EnergyAttribution* m_attribution;  // null without --per-process/--per-cgroup
    std::size_t m_samples = 0;
    double m_cpu_s = 0.0;
};

// ---- Carbon ---------------------------------------------------------------------------------------------

struct Carbon {
    double g_per_kwh = 0.0;
    std::string basis;  // what the intensity is
    std::string zone;   // empty for a given intensity
};

std::optional<Carbon> resolve_carbon(const MeasureOptions& options, const std::string& data_dir) {
    if (options.intensity_given) {
        return Carbon{options.intensity_g_per_kwh, "given with --intensity", ""};
    }
    if (options.zone.empty()) return std::nullopt;
    const std::vector<std::string> zones = twin::known_zones();
    if (std::find(zones.begin(), zones.end(), options.zone) == zones.end()) {
        throw BadInput(fmt::format("--zone '{}' is not a zone with shipped data (known zones: {})",
                                   options.zone, fmt::join(zones, ", ")));
    }
    auto series = twin::load_carbon_intensity_csv(twin::carbon_intensity_path(data_dir, options.zone));
    if (!series) throw BadInput("--zone " + options.zone + ": " + series.error().message);
    double sum = 0.0;
    std::size_t n = 0;
    for (double v : series->values()) {
        if (std::isfinite(v)) {
            sum += v;
            ++n;
        }
    }
    if (n == 0) throw BadInput("--zone " + options.zone + ": the carbon intensity file has no values");
    // The command runs now, not in 2023: the year's mean is the honest single number, and it is labelled.
    return Carbon{sum / static_cast<double>(n),
                  fmt::format("{} annual mean of 2023 hourly direct intensity ({} hours, Electricity Maps)",
                              options.zone, n),
                  options.zone};
}

double grams_co2(double joules, const Carbon& carbon) {
    return core::to_kwh(core::Joules(joules)) * carbon.g_per_kwh;
}

// ---- Report ---------------------------------------------------------------------------------------------

struct Report {
    std::vector<std::string> command;
    std::vector<Domain> domains;
    std::optional<Baseline> baseline;
    std::vector<RunResult> runs;
    std::optional<Carbon> carbon;
    std::vector<sense::Unavailable> unavailable;
    bool cpu_estimated = false;
    double interval_s = 0.0;
    int repeat_requested = 1;
    std::string stopped_early;  // why fewer runs than asked; empty when all ran
    std::size_t samples = 0;
    double sampling_cpu_s = 0.0;
    long peak_rss_kib = 0;
    std::vector<AttributionView> attribution;  // per process and/or per cgroup, over all runs
};

// Each domain's joules summed over the runs (what attribution's residual is checked against).
std::vector<double> joules_over_runs(const Report& report) {
    std::vector<double> out(report.domains.size(), 0.0);
    for (const RunResult& run : report.runs) {
        for (std::size_t d = 0; d < out.size(); ++d) out[d] += run.domains[d].energy_j.value_or(0.0);
    }
    return out;
}

std::string quoted_command(const std::vector<std::string>& command) {
    std::string out;
    for (const std::string& arg : command) {
        const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
        if (!out.empty()) out += ' ';
        if (plain) {
            out += arg;
        } else {
            out += '\'';
            for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
            out += '\'';
        }
    }
    return out;
}

template <class Get>
std::vector<double> collect(const Report& report, std::size_t d, Get get) {
    std::vector<double> values;
    for (const RunResult& run : report.runs) {
        if (auto v = get(run.domains[d])) values.push_back(*v);
    }
    return values;
}

nlohmann::json optional_json(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json summary_json(std::span<const double> values) {
    const RepeatSummary s = summarize_repeats(values, kConfidenceLevel);
    if (s.n == 0) return nullptr;
    return {{"n", s.n},
            {"mean", s.mean},
            {"std", optional_json(s.stddev)},
            {"ci95_low", optional_json(s.ci_low)},
            {"ci95_high", optional_json(s.ci_high)},
            {"min", s.min},
            {"max", s.max}};
}

nlohmann::json report_json(const Report& report) {
    nlohmann::json out;
    out["command"] = report.command;
    out["exit_status"] =
        report.runs.empty() ? nlohmann::json(nullptr) : nlohmann::json(report.runs.back().exit_status);
    out["interval_s"] = report.interval_s;
    out["gpu_interval_s"] =
        std::max(report.interval_s, std::chrono::duration<double>(kGpuMinInterval).count());
    out["repeat_requested"] = report.repeat_requested;
    out["runs_completed"] = report.runs.size();
    out["stopped_early"] =
        report.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(report.stopped_early);
    out["confidence_level"] = kConfidenceLevel;
    out["cpu_power_estimated"] = report.cpu_estimated;

    std::vector<double> durations;
    out["runs"] = nlohmann::json::array();
    for (const RunResult& run : report.runs) {
        durations.push_back(run.duration_s);
        out["runs"].push_back(
            {{"exit_status", run.exit_status},
             {"signal", run.signal == 0 ? nlohmann::json(nullptr) : nlohmann::json(run.signal)},
             {"interrupted", run.interrupted},
             {"duration_s", run.duration_s},
             {"command_cpu_s", run.command_cpu_s},
             {"samples", run.samples}});
    }
    out["duration_s"] = summary_json(durations);

    if (report.baseline) {
        out["idle_baseline"] = {{"duration_s", report.baseline->duration_s}};
    } else {
        out["idle_baseline"] = nullptr;
    }
    if (report.carbon) {
        out["carbon"] = {{"intensity_g_per_kwh", report.carbon->g_per_kwh},
                         {"zone", report.carbon->zone.empty() ? nlohmann::json(nullptr)
                                                              : nlohmann::json(report.carbon->zone)},
                         {"basis", report.carbon->basis}};
    } else {
        out["carbon"] = nullptr;
    }

    out["domains"] = nlohmann::json::array();
    for (std::size_t d = 0; d < report.domains.size(); ++d) {
        const Domain& domain = report.domains[d];
        nlohmann::json j;
        j["name"] = domain.name;
        j["provenance"] = std::string(sense::to_string(domain.provenance));
        switch (domain.source) {
            case DomainSource::counter:
                j["source"] = "energy counter " + domain.signal_name;
                break;
            case DomainSource::power:
                j["source"] = "integrated power " + domain.signal_name;
                break;
            case DomainSource::sum:
                j["source"] = "sum of " + total_description(report.domains, domain);
                break;
        }
        j["in_total"] = adds_to_total(domain.name) && domain.source != DomainSource::sum;
        j["idle_power_w"] =
            report.baseline ? optional_json(report.baseline->idle_w[d]) : nlohmann::json(nullptr);
        j["runs"] = nlohmann::json::array();
        for (const RunResult& run : report.runs) {
            const DomainResult& r = run.domains[d];
            nlohmann::json rj{{"energy_j", optional_json(r.energy_j)},
                              {"average_power_w", optional_json(r.average_w)},
                              {"peak_power_w", optional_json(r.peak_w)},
                              {"net_energy_j", optional_json(r.net_energy_j)},
                              {"complete", r.complete},
                              {"reads", r.reads},
                              {"missing_reads", r.missing_reads}};
            if (report.carbon) {
                rj["co2_g"] = r.energy_j ? nlohmann::json(grams_co2(*r.energy_j, *report.carbon))
                                         : nlohmann::json(nullptr);
                rj["net_co2_g"] = r.net_energy_j ? nlohmann::json(grams_co2(*r.net_energy_j, *report.carbon))
                                                 : nlohmann::json(nullptr);
            }
            j["runs"].push_back(std::move(rj));
        }
        const auto energy = collect(report, d, [](const DomainResult& r) { return r.energy_j; });
        j["energy_j"] = summary_json(energy);
        j["net_energy_j"] =
            summary_json(collect(report, d, [](const DomainResult& r) { return r.net_energy_j; }));
        j["average_power_w"] =
            summary_json(collect(report, d, [](const DomainResult& r) { return r.average_w; }));
        j["peak_power_w"] = summary_json(collect(report, d, [](const DomainResult& r) { return r.peak_w; }));
        if (report.carbon) {
            std::vector<double> grams;
            grams.reserve(energy.size());
            for (double e : energy) grams.push_back(grams_co2(e, *report.carbon));
            j["co2_g"] = summary_json(grams);
        }
        out["domains"].push_back(std::move(j));
    }
    out["unavailable"] = nlohmann::json::array();
    for (const sense::Unavailable& u : report.unavailable) {
        out["unavailable"].push_back({{"what", u.what}, {"reason", u.reason}, {"fix", u.fix}});
    }
    out["overhead"] = {
        {"samples", report.samples},
        {"sampling_cpu_s", report.sampling_cpu_s},
        {"cpu_s_per_sample",
         report.samples > 0 ? report.sampling_cpu_s / static_cast<double>(report.samples) : 0.0},
        {"peak_rss_bytes", report.peak_rss_kib * 1024}};
    out["attribution"] = nullptr;
    if (!report.attribution.empty()) {
        const std::vector<double> joules = joules_over_runs(report);
        out["attribution"] = nlohmann::json::object();
        for (const AttributionView& view : report.attribution) {
            out["attribution"]["per_" + view.kind] = attribution_json(view, report.domains, joules);
        }
    }
    return out;
}

// "5.000" or "5.000 ± 0.012" (the 95% interval's half width) over repeats.
std::string mean_and_interval(std::span<const double> values, int decimals) {
    const RepeatSummary s = summarize_repeats(values, kConfidenceLevel);
    if (s.n == 0) return "-";
    if (!s.ci_high) return fmt::format("{:.{}f}", s.mean, decimals);
    return fmt::format("{:.{}f} ± {:.{}f}", s.mean, decimals, *s.ci_high - s.mean, decimals);
}

int decimals_for(std::span<const double> values) {
    double largest = 0.0;
    for (double v : values) largest = std::max(largest, std::abs(v));
    if (largest >= 1000) return 1;
    if (largest >= 10) return 2;
    return 3;
}

void print_report(std::ostream& out, const Report& report) {
    const std::size_t n = report.runs.size();
    out << fmt::format("\n Energy of: {}{}\n\n", quoted_command(report.command),
                       n > 1 ? fmt::format(" ({} runs; mean ± 95% confidence interval, Student t)", n) : "");
    if (report.domains.empty()) {
        out << "  no energy domain: nothing on this machine measures energy (see below for why)\n";
    } else {
        const bool net = report.baseline.has_value();
        // Columns as wide as their content: "mean ± half width" over repeats, a plain number otherwise.
        std::size_t name_width = 8;
        for (const Domain& domain : report.domains) name_width = std::max(name_width, domain.name.size() + 2);
        const std::size_t energy_width = n > 1 ? 20 : 10;
        const std::size_t power_width = n > 1 ? 18 : 10;
        out << fmt::format("  {:<{}} {:>{}} {:>{}} {:>10}{} {}\n", "domain", name_width, "joules",
                           energy_width, "avg watts", power_width, "peak watts",
                           net ? fmt::format(" {:>{}}", "net joules", energy_width) : "", "provenance");
        for (std::size_t d = 0; d < report.domains.size(); ++d) {
            const Domain& domain = report.domains[d];
            const auto energy = collect(report, d, [](const DomainResult& r) { return r.energy_j; });
            const auto average = collect(report, d, [](const DomainResult& r) { return r.average_w; });
            const auto peaks = collect(report, d, [](const DomainResult& r) { return r.peak_w; });
            const auto nets = collect(report, d, [](const DomainResult& r) { return r.net_energy_j; });
            bool complete = true;
            for (const RunResult& run : report.runs) complete = complete && run.domains[d].complete;
            const double peak = peaks.empty() ? 0.0 : *std::max_element(peaks.begin(), peaks.end());
            out << fmt::format(
                "  {:<{}} {:>{}} {:>{}} {:>10}{} {}{}\n", domain.name + (complete ? "" : " *"), name_width,
                mean_and_interval(energy, decimals_for(energy)), energy_width,
                mean_and_interval(average, decimals_for(average)), power_width,
                peaks.empty() ? "-" : fmt::format("{:.{}f}", peak, decimals_for(peaks)),
                net ? fmt::format(" {:>{}}", mean_and_interval(nets, decimals_for(nets)), energy_width) : "",
                sense::to_string(domain.provenance),
                domain.source == DomainSource::power ? " (integrated power)" : "");
        }
    }
    std::vector<double> durations;
    for (const RunResult& run : report.runs) durations.push_back(run.duration_s);
    out << fmt::format("\n  {:>12} s duration\n", mean_and_interval(durations, 3));

    for (const Domain& domain : report.domains) {
        if (domain.source == DomainSource::sum) {
            out << fmt::format("  total = {} (core, uncore and psys overlap these and are not added)\n",
                               total_description(report.domains, domain));
        }
    }
    // Which domains missed reads, and how many: a lost GPU, a counter file that failed.
    std::string gaps;
    for (std::size_t d = 0; d < report.domains.size(); ++d) {
        std::size_t missing = 0;
        std::size_t reads = 0;
        for (const RunResult& run : report.runs) {
            missing += run.domains[d].missing_reads;
            reads += run.domains[d].reads;
        }
        if (missing > 0)
            gaps += fmt::format("{}{} ({} of {} reads)", gaps.empty() ? "" : ", ", report.domains[d].name,
                                missing, reads);
    }
    if (!gaps.empty()) {
        out << "  * not read at both ends of every run: its joules cover only the span between its first "
               "and\n"
               "    last good reads. Missed reads: "
            << gaps << "\n";
    }
    if (report.baseline) {
        out << fmt::format(
            "  net joules = joules - idle power x duration, idle power measured over {:.1f} s "
            "before the runs\n",
            report.baseline->duration_s);
    }
    if (report.carbon) {
        for (std::size_t d = 0; d < report.domains.size(); ++d) {
            // The carbon of the widest domain: the total when there is one, else each domain is its own.
            if (report.domains[d].name != kTotalDomain && report.domains.back().name == kTotalDomain)
                continue;
            std::vector<double> grams;
            for (double e : collect(report, d, [](const DomainResult& r) { return r.energy_j; })) {
                grams.push_back(grams_co2(e, *report.carbon));
            }
            out << fmt::format("  {} g CO2 ({}) at {:.1f} g/kWh: {}\n", mean_and_interval(grams, 6),
                               report.domains[d].name, report.carbon->g_per_kwh, report.carbon->basis);
        }
    }
    if (report.cpu_estimated) {
        out << "  CPU energy is ESTIMATED (utilisation x TDP model): no RAPL package counter is readable\n";
    }
    if (!report.runs.empty() && report.runs.back().interrupted) {
        out << "  interrupted: the signal was passed to the command; the report covers the run up to its "
               "end\n";
    }
    if (!report.stopped_early.empty()) out << "  " << report.stopped_early << "\n";
    if (!report.unavailable.empty()) {
        out << "\n  not measured:\n";
        for (const sense::Unavailable& u : report.unavailable) {
            out << fmt::format("    {}: {}\n", u.what, u.reason);
            if (!u.fix.empty()) out << "      fix: " << u.fix << "\n";
        }
    }
    out << fmt::format(
        "\n  joulepilot itself: {} samples every {:.0f} ms, {:.3f} ms CPU per sample, peak RSS {:.1f} MB\n",
        report.samples, report.interval_s * 1e3,
        report.samples > 0 ? report.sampling_cpu_s / static_cast<double>(report.samples) * 1e3 : 0.0,
        static_cast<double>(report.peak_rss_kib) / 1024.0);
    if (!report.attribution.empty()) {
        const std::vector<double> joules = joules_over_runs(report);
        for (const AttributionView& view : report.attribution)
            print_attribution(out, view, report.domains, joules);
    }
}

bool json_to_stdout(const MeasureOptions& options) {
    return options.json_given && (options.json_path.empty() || options.json_path == "-");
}

int run_measure(const MeasureOptions& options, const std::string& data_dir) {
    if (options.command.empty())
        throw BadInput("measure: give the command to run, e.g. `joulepilot measure -- sleep 1`");
    std::error_code ec;
    if (!std::filesystem::is_directory(options.root, ec))
        throw BadInput("--root " + options.root + ": not a directory");
    const std::optional<Carbon> carbon = resolve_carbon(options, data_dir);

    NodeSensorOptions node_options;
    node_options.root = options.root;
    node_options.nvml_library = options.nvml_library;
    {
        core::ConfigDocument config = options.config_path.empty()
                                          ? core::ConfigDocument::empty()
                                          : core::ConfigDocument::load(options.config_path);
        apply_node_config(config.root(), node_options);
        config.reject_unknown_keys();
    }
    const bool attribute = options.per_process || options.per_cgroup;
    // One NVML call per GPU per read; attribution needs NVML's per-process use, which only the full mode
    // probes: then the counter is still read at every GPU read (interval 0), so the joules stay exact.
    node_options.nvml_energy_only = !attribute;
    node_options.nvml_energy_read_interval = core::Seconds(0);
    node_options.nvml_min_interval = kGpuMinInterval;
    NodeSensors node(node_options);

    Report report;
    report.command = options.command;
    report.domains = find_domains(node.catalog());
    report.unavailable = node.unavailable();
    report.cpu_estimated = node.cpu_estimated();
    report.carbon = carbon;
    report.repeat_requested = options.repeat;
    const std::chrono::milliseconds interval(options.interval_ms);
    report.interval_s = std::chrono::duration<double>(interval).count();
    // Read only what is metered: the procfs CPU sensor, temperatures-only chips and the like cost nothing.
    node.keep_active_where([&report](std::size_t signal) {
        return std::any_of(report.domains.begin(), report.domains.end(), [signal](const Domain& d) {
            return d.source != DomainSource::sum && d.signal == signal;
        });
    });

    std::string names;
    for (const Domain& d : report.domains) names += (names.empty() ? "" : ", ") + d.name;
    if (names.empty()) {
        std::cerr << "joulepilot measure: no energy domain found on this machine; only the duration is "
                     "measured (see `joulepilot sensors` for why)\n";
    } else {
        const bool gpus = std::any_of(report.domains.begin(), report.domains.end(),
                                      [](const Domain& d) { return d.name.starts_with("gpu."); });
        std::cerr << fmt::format(
            "joulepilot measure: sampling {} every {} ms{}\n", names, options.interval_ms,
            gpus && interval < kGpuMinInterval
                ? fmt::format(" (GPUs every {} ms: each NVML energy read costs ms of CPU)",
                              kGpuMinInterval.count())
                : "");
    }

    const SignalForwarding forwarding;
    g_interrupt.store(0);
    std::unique_ptr<EnergyAttribution> attribution;
    if (attribute) {
        attribution = std::make_unique<EnergyAttribution>(node, report.domains, options.per_process,
                                                          options.per_cgroup);
    }
    Measurement measurement(node, report.domains, interval, attribution.get());
    int status = kExitOk;
    if (options.idle_baseline_s > 0) {
        std::cerr << fmt::format("joulepilot measure: idle baseline for {:.1f} s (keep the machine quiet)\n",
                                 options.idle_baseline_s);
        report.baseline = measurement.idle_baseline(options.idle_baseline_s);
        if (!report.baseline) {
            std::cerr
                << "joulepilot measure: interrupted during the idle baseline; the command was not run\n";
            return kExitSignalBase + g_interrupt.load();
        }
    }
    for (int i = 0; i < options.repeat; ++i) {
        if (g_interrupt.load() != 0 && report.runs.empty()) {
            std::cerr << "joulepilot measure: interrupted before the command started\n";
            return kExitSignalBase + g_interrupt.load();
        }
        if (options.repeat > 1)
            std::cerr << fmt::format("joulepilot measure: run {}/{}\n", i + 1, options.repeat);
        auto outcome = measurement.run(options.command, report.baseline);
        if (auto* failure = std::get_if<SpawnFailure>(&outcome)) {
            std::cerr << "error: " << failure->message << "\n";
            if (report.runs.empty()) return failure->exit_status;
            status = failure->exit_status;
            report.stopped_early = "stopped: the command could not be started again";
            break;
        }
        RunResult& run = report.runs.emplace_back(std::move(std::get<RunResult>(outcome)));
        status = run.exit_status;
        if (run.signal != 0) {
            std::cerr << fmt::format("joulepilot measure: the command was killed by signal {} {}\n",
                                     run.signal, signal_name(run.signal));
        }
        if (run.interrupted) {
            if (i + 1 < options.repeat)
                report.stopped_early = "stopped: interrupted (measured runs are reported)";
            break;
        }
        if (run.exit_status != 0) {
            if (i + 1 < options.repeat) {
                report.stopped_early =
                    fmt::format("stopped: run {} exited with status {}; the runs so far are reported", i + 1,
                                run.exit_status);
            }
            break;
        }
    }

    report.samples = measurement.samples();
    report.sampling_cpu_s = measurement.sampling_cpu_s();
    report.peak_rss_kib = peak_rss_kib();
    if (attribution) report.attribution = attribution->views();

    if (options.json_given) {
        const std::string text = report_json(report).dump(2);
        if (json_to_stdout(options)) {
            std::cout << text << "\n" << std::flush;
        } else {
            std::ofstream file(options.json_path);
            file << text << "\n";
            if (!file) {
                std::cerr << "error: measure: cannot write " << options.json_path << "\n";
                return status != 0 ? status : kExitFailure;
            }
        }
    }
    if (!json_to_stdout(options)) print_report(std::cout, report);
    return status;
}

}  // namespace

void add_measure_command(CLI::App& app, CommandContext& context) {
    CLI::App* measure = app.add_subcommand(
        "measure",
        "Run a command and report the energy it took, like `perf stat` for joules: per domain (each CPU\n"
        "package, DRAM, each GPU, node meters) joules from the hardware energy counters, average and peak\n"
        "watts and the duration; net of an idle baseline, in grams of CO2, and over repeats with a 95%\n"
        "Student t confidence interval. The command's exit status is passed through (127: not found,\n"
        "128+N: killed by signal N); SIGINT/SIGTERM are forwarded to it and what was measured is reported.\n"
        "Progress goes to stderr, results to stdout.\n"
        "  joulepilot measure --repeat 5 --zone DE-LU -- python3 train.py --epochs 1");
    auto options = std::make_shared<MeasureOptions>();
    measure
        ->add_option("--repeat", options->repeat,
                     "Run the command N times (default 1); stops early at a run that fails")
        ->option_text("N")
        ->check(CLI::Range(1, 100000));
    measure
        ->add_option("--idle-baseline", options->idle_baseline_s,
                     "First measure the idle machine this many seconds; report energy net of idle power")
        ->option_text("SECONDS")
        ->check(CLI::Range(0.0, 86400.0));
    measure
        ->add_option("--interval-ms", options->interval_ms,
                     "Sampling interval in milliseconds (default 100): the resolution of the peak power")
        ->option_text("MS")
        ->check(CLI::Range(1, 3'600'000));
    auto* zone =
        measure
            ->add_option("--zone", options->zone,
                         fmt::format("Grid zone for grams of CO2, at its 2023 annual mean intensity ({})",
                                     fmt::join(twin::known_zones(), ", ")))
            ->option_text("ZONE");
    auto* intensity = measure
                          ->add_option("--intensity", options->intensity_g_per_kwh,
                                       "Grid carbon intensity for grams of CO2, gCO2eq/kWh")
                          ->option_text("G_PER_KWH")
                          ->check(CLI::Range(0.0, 1e5));
    zone->excludes(intensity);
    auto* json =
        measure
            ->add_option(
                "--json", options->json_path,
                "Write the results as JSON to FILE, or to stdout without FILE or with '-' (then put the\n"
                "command after --)")
            ->option_text("[FILE]")
            ->expected(0, 1);
    measure
        ->add_option("--root", options->root, "Filesystem root for sysfs and procfs (fixture trees in tests)")
        ->option_text("DIR")
        ->capture_default_str();
    measure
        ->add_option("--nvml-library", options->nvml_library,
                     "NVML library to load (default: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1)")
        ->option_text("PATH");
    measure
        ->add_option("--config", options->config_path,
                     "TOML config file ([nvml], [estimate]; docs/config.md); options override it")
        ->option_text("FILE");
    measure->add_flag("--per-process", options->per_process,
                      "Also split the energy among processes: CPU domains by CPU time, GPUs by NVML's\n"
                      "per-process utilisation; idle energy apart (with --idle-baseline)");
    measure->add_flag(
        "--per-cgroup", options->per_cgroup,
        "Also split the energy among cgroups (containers, services): the children of the cgroup v2 "
        "root");
    measure->add_option("command", options->command, "The command and its arguments (after --)")
        ->option_text("CMD ARGS...");
    // Everything from the command's name on belongs to the command, its options included.
    measure->positionals_at_end();
    measure->callback([options, &context, intensity, json] {
        options->intensity_given = intensity->count() > 0;
        options->json_given = json->count() > 0;
        context.action = [options, &context]() -> int { return run_measure(*options, context.data_dir); };
    });
}

}  // namespace joulepilot::cli
