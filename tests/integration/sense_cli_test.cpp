// End to end: `joulepilot sensors` and `joulepilot measure` run as a user runs them, on sysfs fixture trees
// (--root) and the fake NVML library (--nvml-library), with commands of known energy
// (tests/fixtures/measure) that rewrite RAPL counters while they run.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
constexpr double kExact = 1e-9;  // joules: the counters hold microjoules, so "exact" is far below 1 uJ

fs::path fixture(const std::string& relative) { return fs::path(JOULEPILOT_TEST_FIXTURES) / relative; }

std::string fake_nvml() {
#ifdef JOULEPILOT_FAKE_NVML
    return JOULEPILOT_FAKE_NVML;
#else
    return "";
#endif
}

struct Outcome {
    int status = -1;  // exit status; 128 + N when killed by signal N
    std::string out;
    std::string err;
    [[nodiscard]] std::string both() const { return "stdout:\n" + out + "\nstderr:\n" + err; }
};

struct RunOptions {
    std::vector<std::string> env;  // NAME=VALUE, replacing the variable where it is set
    std::optional<uid_t> uid;      // run as this user (root only)
    // Sends SIGINT to joulepilot itself (not its process group) this long after it starts.
    std::optional<std::chrono::milliseconds> interrupt_after;
};

// Runs joulepilot with `args` (no shell), capturing stdout and stderr apart; kills it after 30 s.
Outcome run(const std::vector<std::string>& args, const RunOptions& options = {}) {
    std::array<int, 2> out_pipe{};
    std::array<int, 2> err_pipe{};
    if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0 || ::pipe2(err_pipe.data(), O_CLOEXEC) != 0) return {};
    // The environment, with options.env replacing variables of the same name.
    std::vector<std::string> env_strings = options.env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry(*e);
        const std::string name = entry.substr(0, entry.find('=') + 1);
        const bool replaced =
            std::any_of(options.env.begin(), options.env.end(),
                        [&name](const std::string& mine) { return mine.starts_with(name); });
        if (!replaced) env_strings.push_back(entry);
    }
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{JOULEPILOT_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_pipe[1], STDERR_FILENO);
        if (options.uid) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(*options.uid) != 0 || ::setuid(*options.uid) != 0) {
                ::_exit(125);
            }
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(126);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    Outcome result;
    const auto start = std::chrono::steady_clock::now();
    bool interrupted = false;
    std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open_pipes = 2;
    while (open_pipes > 0) {
        const auto elapsed = std::chrono::steady_clock::now() - start;
        if (options.interrupt_after && !interrupted && elapsed >= *options.interrupt_after) {
            ::kill(pid, SIGINT);
            interrupted = true;
        }
        if (elapsed > std::chrono::seconds(30)) {
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
            std::array<char, 4096> buffer{};
            const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
            if (n > 0) {
                sinks[i]->append(buffer.data(), static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
    }
    for (const pollfd& fd : fds) {
        if (fd.fd >= 0) ::close(fd.fd);
    }
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return result;
}

// A scratch copy of a fixture tree, removed at the end of the test; readable by everyone, so a test may
// run joulepilot as an unprivileged user on it.
class TempTree {
public:
    explicit TempTree(const std::string& fixture_tree = {}) {
        std::string pattern = (fs::temp_directory_path() / "joulepilot-sense-cli-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_root = pattern;
        fs::permissions(m_root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
        if (!fixture_tree.empty()) fs::copy(fixture(fixture_tree), m_root, fs::copy_options::recursive);
    }
    ~TempTree() {
        std::error_code ec;
        fs::remove_all(m_root, ec);
    }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;

    [[nodiscard]] const fs::path& root() const { return m_root; }
    [[nodiscard]] fs::path zone(const std::string& id) const { return m_root / "sys/class/powercap" / id; }
    void write(const fs::path& path, const std::string& text) const { std::ofstream(path) << text << "\n"; }
    [[nodiscard]] std::string read(const fs::path& path) const {
        std::ifstream in(path);
        std::string text;
        std::getline(in, text);
        return text;
    }

private:
    fs::path m_root;
};

nlohmann::json parse(const std::string& text) { return nlohmann::json::parse(text, nullptr, false); }

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in, nullptr, false);
}

const nlohmann::json* find_by_name(const nlohmann::json& array, const std::string& name) {
    for (const auto& item : array) {
        if (item.value("name", "") == name) return &item;
    }
    return nullptr;
}

std::vector<std::string> signal_names(const nlohmann::json& sensor) {
    std::vector<std::string> names;
    for (const auto& s : sensor["signals"]) names.push_back(s["name"].get<std::string>());
    return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string nvml_state_env() {
    return "JOULEPILOT_FAKE_NVML_STATE=" + fixture("measure/fake_nvml_8gpu.txt").string();
}

RunOptions with_env(std::string variable) {
    RunOptions options;
    options.env.push_back(std::move(variable));
    return options;
}

RunOptions with_fake_gpus() { return with_env(nvml_state_env()); }

RunOptions interrupted_after(std::chrono::milliseconds delay) {
    RunOptions options;
    options.interrupt_after = delay;
    return options;
}

std::vector<std::string> nvml_args() {
    // Without the fake (no jp_fake_nvml target), a path that does not exist: NVML is then "not present".
    const std::string library = fake_nvml().empty() ? "/nonexistent/libnvidia-ml.so.1" : fake_nvml();
    return {"--nvml-library", library};
}

std::string script(const std::string& name) { return fixture("measure/" + name).string(); }

// ---- sensors --------------------------------------------------------------------------------------------

TEST(Sensors, JsonListsTheFixtureRaplZonesAndEightFakeGpus) {
    if (fake_nvml().empty()) GTEST_SKIP() << "the fake NVML library is not built";
    std::vector<std::string> args{"sensors", "--json", "--root", fixture("sysfs/intel-2s").string()};
    for (const auto& a : nvml_args()) args.push_back(a);
    const Outcome r = run(args, with_fake_gpus());
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;

    const auto* rapl = find_by_name(j["sensors"], "rapl");
    ASSERT_NE(rapl, nullptr);
    const auto names = signal_names(*rapl);
    for (const char* zone : {"cpu.0.package", "cpu.0.core", "cpu.0.uncore", "cpu.0.dram", "cpu.1.package",
                             "cpu.1.core", "cpu.1.uncore", "cpu.1.dram"}) {
        EXPECT_TRUE(contains(names, std::string(zone) + "_energy_joules_total")) << zone;
        EXPECT_TRUE(contains(names, std::string(zone) + "_power_watts")) << zone;
    }
    EXPECT_EQ(names.size(), 16U);  // the intel-rapl-mmio duplicates are left out...
    const std::string notes = (*rapl)["notes"].dump();
    EXPECT_NE(notes.find("intel-rapl-mmio:0"), std::string::npos) << notes;  // ...and said so
    for (const auto& s : (*rapl)["signals"]) {
        EXPECT_EQ(s["provenance"], s["unit"] == "J" ? "measured" : "derived") << s["name"];
        EXPECT_TRUE(s["value"].is_number()) << s["name"];  // two reads: the rates have values
    }

    const auto* nvml = find_by_name(j["sensors"], "nvml");
    ASSERT_NE(nvml, nullptr);
    const auto gpu_signals = signal_names(*nvml);
    for (int gpu = 0; gpu < 8; ++gpu) {
        EXPECT_TRUE(contains(gpu_signals, "gpu." + std::to_string(gpu) + ".energy_joules_total")) << gpu;
        EXPECT_TRUE(contains(gpu_signals, "gpu." + std::to_string(gpu) + ".power_watts")) << gpu;
    }
    EXPECT_FALSE(contains(gpu_signals, "gpu.8.energy_joules_total"));
    const auto* power = find_by_name((*nvml)["signals"], "gpu.3.power_watts");
    ASSERT_NE(power, nullptr);
    EXPECT_EQ((*power)["unit"], "W");
    EXPECT_GT((*power)["value"].get<double>(), 0.0);

    // RAPL package counters are readable: no estimate beside them.
    EXPECT_EQ(find_by_name(j["sensors"], "estimate.cpu"), nullptr);
    EXPECT_FALSE(j["cpu_power_estimated"].get<bool>());
    // What the fixture lacks is listed with why.
    const std::string unavailable = j["unavailable"].dump();
    EXPECT_NE(unavailable.find("proc/stat"), std::string::npos) << unavailable;
}

TEST(Sensors, AnUnreadableZoneIsListedWithItsFixAndNoSignal) {
    // A mode-000 file is readable to root (CI runs as root): read it as an unprivileged user instead.
    const bool root = ::geteuid() == 0;
    TempTree tree("sysfs/intel-2s");
    fs::permissions(tree.zone("intel-rapl:1:2") / "energy_uj", fs::perms::none);
    std::vector<std::string> args{"sensors", "--json", "--root", tree.root().string()};
    for (const auto& a : nvml_args()) args.push_back(a);
    RunOptions options = with_fake_gpus();
    if (root) options.uid = kNobody;
    const Outcome r = run(args, options);
    if (root && r.status == 125) GTEST_SKIP() << "cannot drop privileges here (no CAP_SETUID)";
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    const auto* rapl = find_by_name(j["sensors"], "rapl");
    ASSERT_NE(rapl, nullptr);
    const auto names = signal_names(*rapl);
    EXPECT_FALSE(contains(names, "cpu.1.dram_energy_joules_total"));  // never a 0 W reading
    EXPECT_TRUE(contains(names, "cpu.0.dram_energy_joules_total"));
    bool found = false;
    for (const auto& u : (*rapl)["unavailable"]) {
        const std::string what = u["what"];
        if (what.find("intel-rapl:1:2") == std::string::npos) continue;
        found = true;
        EXPECT_EQ(u["reason"], "permission denied");
        const std::string fix = u["fix"];
        EXPECT_NE(fix.find("chmod a+r"), std::string::npos) << fix;
        EXPECT_NE(fix.find((tree.zone("intel-rapl:1:2") / "energy_uj").string()), std::string::npos) << fix;
    }
    EXPECT_TRUE(found) << (*rapl)["unavailable"].dump();

    // The table says the same to a person.
    args.erase(args.begin() + 1);  // --json
    const Outcome table = run(args, options);
    ASSERT_EQ(table.status, 0) << table.both();
    EXPECT_NE(table.out.find("permission denied"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("fix: run as root"), std::string::npos) << table.out;
}

TEST(Sensors, NothingFoundIsSaidClearlyAndExitsZero) {
    TempTree empty;
    const Outcome r =
        run({"sensors", "--root", empty.root().string(), "--nvml-library", "/nonexistent/libnvml.so"});
    ASSERT_EQ(r.status, 0) << r.both();
    EXPECT_NE(r.out.find("No sensor found"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fix: load the RAPL driver"), std::string::npos) << r.out;

    const Outcome j =
        run({"sensors", "--json", "--root", empty.root().string(), "--nvml-library", "/nonexistent/x.so"});
    ASSERT_EQ(j.status, 0) << j.both();
    const auto doc = parse(j.out);
    ASSERT_FALSE(doc.is_discarded()) << j.out;
    EXPECT_EQ(doc["signal_count"], 0);
    EXPECT_GE(doc["unavailable"].size(), 3U);  // RAPL, procfs, hwmon, NVML: each says why
}

TEST(Sensors, CpuPowerIsEstimatedOnlyWhenNoRaplPackageIsReadable) {
    // The procfs fixture has /proc/stat and an EPYC 7763 in /proc/cpuinfo, but no RAPL.
    const Outcome r = run({"sensors", "--json", "--root", fixture("procfs/node").string(), "--nvml-library",
                           "/nonexistent/libnvml.so"});
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    EXPECT_TRUE(j["cpu_power_estimated"].get<bool>());
    const auto* estimate = find_by_name(j["sensors"], "estimate.cpu");
    ASSERT_NE(estimate, nullptr);
    ASSERT_FALSE((*estimate)["signals"].empty());
    for (const auto& s : (*estimate)["signals"]) EXPECT_EQ(s["provenance"], "estimated") << s["name"];
    const auto* procfs = find_by_name(j["sensors"], "procfs.cpu");
    ASSERT_NE(procfs, nullptr);
    EXPECT_TRUE(contains(signal_names(*procfs), "node.cpu_utilization_ratio"));
}

TEST(Sensors, IpmiIsReadOnlyWhenAskedFor) {
    // A stand-in `ipmi-dcmi` first on PATH prints a captured BMC answer (tests/fixtures/sysfs/ipmi).
    TempTree bin;
    const fs::path fake = bin.root() / "ipmi-dcmi";
    std::ofstream(fake) << "#!/bin/sh\nexec /bin/sh " << fixture("sysfs/ipmi/fake-ipmi-dcmi.sh").string()
                        << " " << fixture("sysfs/ipmi/active.txt").string() << "\n";
    fs::permissions(fake, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const char* path = std::getenv("PATH");
    const RunOptions options =
        with_env("PATH=" + bin.root().string() + ":" + (path != nullptr ? path : "/usr/bin:/bin"));
    TempTree empty;
    std::vector<std::string> args{"sensors",        "--json", "--root", empty.root().string(),
                                  "--nvml-library", "/x.so"};

    const Outcome without = run(args, options);
    ASSERT_EQ(without.status, 0) << without.both();
    EXPECT_EQ(find_by_name(parse(without.out)["sensors"], "ipmi_dcmi"), nullptr);

    args.emplace_back("--ipmi");
    const Outcome with = run(args, options);
    ASSERT_EQ(with.status, 0) << with.both();
    const auto j = parse(with.out);
    const auto* ipmi = find_by_name(j["sensors"], "ipmi_dcmi");
    ASSERT_NE(ipmi, nullptr) << with.out;
    const auto* power = find_by_name((*ipmi)["signals"], "node.ipmi_power_watts");
    ASSERT_NE(power, nullptr) << with.out;
    EXPECT_EQ((*power)["value"], 178.0);
    EXPECT_EQ((*power)["provenance"], "measured");
}

TEST(Sensors, ARootThatIsNotADirectoryIsBadInput) {
    const Outcome r = run({"sensors", "--root", "/nonexistent/root"});
    EXPECT_EQ(r.status, 2) << r.both();
    EXPECT_NE(r.err.find("--root"), std::string::npos) << r.err;
}

// ---- measure --------------------------------------------------------------------------------------------

std::vector<std::string> measure_args(const TempTree& tree, std::vector<std::string> extra,
                                      const std::vector<std::string>& command) {
    std::vector<std::string> args{"measure", "--root", tree.root().string()};
    for (const auto& a : nvml_args()) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    args.emplace_back("--");
    args.insert(args.end(), command.begin(), command.end());
    return args;
}

const nlohmann::json& domain(const nlohmann::json& report, const std::string& name) {
    static const nlohmann::json kMissing;
    const auto* d = find_by_name(report["domains"], name);
    return d != nullptr ? *d : kMissing;
}

double run_energy(const nlohmann::json& report, const std::string& name, std::size_t run_index = 0) {
    const auto& d = domain(report, name);
    if (d.is_null()) return -1.0;
    return d["runs"][run_index]["energy_j"].get<double>();
}

TEST(Measure, ReportsExactlyTheJoulesOfAKnownEnergyCommand) {
    TempTree tree("sysfs/intel-2s");
    const fs::path json = tree.root() / "report.json";
    // 5 J on package 0, 2 J of it in its cores, and 1.25 J on DRAM 1 while the command runs.
    const Outcome r =
        run(measure_args(tree, {"--json", json.string(), "--intensity", "360"},
                         {"/bin/sh", script("add_energy.sh"), tree.root().string(), "intel-rapl:0", "5000000",
                          "intel-rapl:0:0", "2000000", "intel-rapl:1:2", "1250000"}),
            with_fake_gpus());
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = read_json(json);
    ASSERT_FALSE(j.is_discarded());

    EXPECT_NEAR(run_energy(j, "cpu.0.package"), 5.0, kExact);
    EXPECT_NEAR(run_energy(j, "cpu.1.dram"), 1.25, kExact);
    EXPECT_NEAR(run_energy(j, "cpu.1.package"), 0.0, kExact);
    EXPECT_NEAR(run_energy(j, "cpu.0.core"), 2.0, kExact);
    EXPECT_NEAR(run_energy(j, "cpu.0.uncore"), 0.0, kExact);
    // The total adds packages, DRAM and GPUs: never core/uncore, which are inside their package.
    EXPECT_NEAR(run_energy(j, "total"), 6.25, kExact);
    if (!fake_nvml().empty()) {
        for (int gpu = 0; gpu < 8; ++gpu)
            EXPECT_NEAR(run_energy(j, "gpu." + std::to_string(gpu)), 0.0, kExact);
    }

    const auto& run0 = j["runs"][0];
    const double duration = run0["duration_s"].get<double>();
    EXPECT_GE(duration, 0.6);  // the script sleeps 0.15 + 3 x 0.1 + 0.15 s
    EXPECT_LT(duration, 5.0);
    const auto& package_run = domain(j, "cpu.0.package")["runs"][0];
    EXPECT_TRUE(package_run["complete"].get<bool>());
    EXPECT_NEAR(package_run["average_power_w"].get<double>(), 5.0 / duration, 1e-9);
    // Each half (2.5 J) lands within one ~100 ms sample interval: a peak well above the mean.
    EXPECT_GT(package_run["peak_power_w"].get<double>(), 5.0 / duration);
    // 5 J = 1/720,000 kWh at 360 g/kWh.
    EXPECT_NEAR(package_run["co2_g"].get<double>(), 5.0 / 3.6e6 * 360, 1e-12);
    EXPECT_EQ(j["carbon"]["intensity_g_per_kwh"], 360.0);
    EXPECT_GT(j["overhead"]["samples"].get<int>(), 3);
    EXPECT_GT(j["overhead"]["peak_rss_bytes"].get<double>(), 0.0);

    // A person reading the table sees the same number.
    EXPECT_NE(r.out.find("cpu.0.package"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("5.000"), std::string::npos) << r.out;
}

TEST(Measure, ACounterWrapMidRunStillGivesTheExactJoules) {
    TempTree tree("sysfs/intel-2s");
    const std::uint64_t max = std::stoull(tree.read(tree.zone("intel-rapl:0") / "max_energy_range_uj"));
    tree.write(tree.zone("intel-rapl:0") / "energy_uj", std::to_string(max - 2'000'000));
    const Outcome r =
        run(measure_args(tree, {"--json"},
                         {"/bin/sh", script("wrap_energy.sh"), tree.root().string(), "intel-rapl:0"}),
            with_fake_gpus());
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);  // --json without a file: JSON on stdout
    ASSERT_FALSE(j.is_discarded()) << r.out;
    EXPECT_NEAR(run_energy(j, "cpu.0.package"), 5.0, kExact);
    EXPECT_TRUE(domain(j, "cpu.0.package")["runs"][0]["complete"].get<bool>());
    EXPECT_EQ(tree.read(tree.zone("intel-rapl:0") / "energy_uj"), "2999999");  // the wrap did happen
}

TEST(Measure, RepeatsGiveMeanStandardDeviationAndStudentTInterval) {
    TempTree tree("sysfs/intel-2s");
    const fs::path json = tree.root() / "report.json";
    // Runs use 1, 2 and 3 J: mean 2, standard deviation 1, 95% interval 2 -/+ t(0.975, 2) / sqrt(3).
    const Outcome r =
        run(measure_args(tree, {"--repeat", "3", "--json", json.string()},
                         {"/bin/sh", script("add_run_number.sh"), tree.root().string(), "intel-rapl:1"}),
            with_fake_gpus());
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = read_json(json);
    ASSERT_FALSE(j.is_discarded());
    ASSERT_EQ(j["runs"].size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(run_energy(j, "cpu.1.package", i), 1.0 + i, kExact);
    const auto& energy = domain(j, "cpu.1.package")["energy_j"];
    EXPECT_EQ(energy["n"], 3);
    EXPECT_NEAR(energy["mean"].get<double>(), 2.0, kExact);
    EXPECT_NEAR(energy["std"].get<double>(), 1.0, kExact);
    const double half_width = 4.302652729749464 / std::sqrt(3.0);
    EXPECT_NEAR(energy["ci95_low"].get<double>(), 2.0 - half_width, 1e-6);
    EXPECT_NEAR(energy["ci95_high"].get<double>(), 2.0 + half_width, 1e-6);
    EXPECT_TRUE(j["duration_s"]["std"].is_number());
    EXPECT_NE(r.out.find("3 runs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2.000 ± 2.484"), std::string::npos) << r.out;
}

TEST(Measure, IdleBaselineGivesNetEnergy) {
    TempTree tree("sysfs/intel-2s");
    // The fixture's counters stand still while idle: idle power 0 W, so net energy equals energy.
    const Outcome r = run(
        measure_args(tree, {"--idle-baseline", "0.3", "--json"},
                     {"/bin/sh", script("add_energy.sh"), tree.root().string(), "intel-rapl:0", "2000000"}),
        with_fake_gpus());
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    EXPECT_NEAR(j["idle_baseline"]["duration_s"].get<double>(), 0.3, 0.2);
    const auto& package = domain(j, "cpu.0.package");
    EXPECT_NEAR(package["idle_power_w"].get<double>(), 0.0, kExact);
    EXPECT_NEAR(package["runs"][0]["net_energy_j"].get<double>(), 2.0, kExact);
    EXPECT_NEAR(package["net_energy_j"]["mean"].get<double>(), 2.0, kExact);
}

TEST(Measure, ZoneCarbonIsTheZonesAnnualMeanAndSaysSo) {
    TempTree tree("sysfs/intel-2s");
    const Outcome r = run(
        measure_args(tree, {"--zone", "DE-LU", "--json"},
                     {"/bin/sh", script("add_energy.sh"), tree.root().string(), "intel-rapl:0", "3600000"}));
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    const double intensity = j["carbon"]["intensity_g_per_kwh"].get<double>();
    EXPECT_GT(intensity, 50.0);
    EXPECT_LT(intensity, 1000.0);
    EXPECT_EQ(j["carbon"]["zone"], "DE-LU");
    EXPECT_NE(j["carbon"]["basis"].get<std::string>().find("annual mean"), std::string::npos);
    // 3.6 J = 1 mWh.
    EXPECT_NEAR(domain(j, "cpu.0.package")["runs"][0]["co2_g"].get<double>(), intensity * 1e-6, 1e-12);
}

TEST(Measure, AGpuLostMidRunIsMarkedAndTheOthersKeepTheirExactJoules) {
    if (fake_nvml().empty()) GTEST_SKIP() << "the fake NVML library is not built";
    TempTree tree("sysfs/intel-2s");
    // Every energy read adds 1 J; GPU 2 answers GPU_IS_LOST once discovery and two reads are done. GPUs
    // are read at most once a second (and right before and after the command): at about 0, 1, 2 and 2.3 s.
    const fs::path state = tree.root() / "nvml_state.txt";
    std::ofstream(state) << "device_count 4\ndevice all energy_step_mj 1000\ndevice 2 lost_after_calls 6\n";
    const Outcome r = run(measure_args(tree, {"--json"}, {"sleep", "2.3"}),
                          with_env("JOULEPILOT_FAKE_NVML_STATE=" + state.string()));
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = parse(r.out);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    const int samples = j["runs"][0]["samples"].get<int>();
    for (const char* gpu : {"gpu.0", "gpu.1", "gpu.3"}) {
        const auto& run0 = domain(j, gpu)["runs"][0];
        EXPECT_TRUE(run0["complete"].get<bool>()) << gpu;
        EXPECT_EQ(run0["missing_reads"], 0) << gpu;
        const int reads = run0["reads"].get<int>();
        EXPECT_GE(reads, 3) << gpu;
        EXPECT_LE(reads, 5) << gpu;     // once a second, not at every 100 ms sample...
        EXPECT_GT(samples, 2 * reads);  // ...while RAPL is
        // One NVML energy call per read: the counter moved 1 J between consecutive reads.
        EXPECT_NEAR(run0["energy_j"].get<double>(), reads - 1.0, kExact) << gpu;
    }
    const auto& lost = domain(j, "gpu.2")["runs"][0];
    EXPECT_FALSE(lost["complete"].get<bool>());
    EXPECT_GT(lost["missing_reads"].get<int>(), 0);
    EXPECT_NEAR(lost["energy_j"].get<double>(), 1.0, kExact);  // up to its last good read, never guessed
    EXPECT_FALSE(domain(j, "total")["runs"][0]["complete"].get<bool>());
    EXPECT_TRUE(domain(j, "cpu.0.package")["runs"][0]["complete"].get<bool>());
}

TEST(Measure, PassesTheCommandsExitStatusThrough) {
    TempTree tree("sysfs/intel-2s");
    const Outcome r = run(measure_args(tree, {}, {"sh", "-c", "exit 3"}));
    EXPECT_EQ(r.status, 3) << r.both();
    EXPECT_NE(r.out.find("Energy of"), std::string::npos) << r.out;  // still reported

    const Outcome killed = run(measure_args(tree, {}, {"sh", "-c", "kill -TERM $$"}));
    EXPECT_EQ(killed.status, 128 + SIGTERM) << killed.both();
    EXPECT_NE(killed.err.find("signal 15"), std::string::npos) << killed.err;
}

TEST(Measure, ACommandThatDoesNotExistExits127WithAMessage) {
    TempTree tree("sysfs/intel-2s");
    const Outcome r = run(measure_args(tree, {}, {"joulepilot-no-such-command", "--flag"}));
    EXPECT_EQ(r.status, 127) << r.both();
    EXPECT_NE(r.err.find("cannot run 'joulepilot-no-such-command'"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Energy of"), std::string::npos) << r.out;  // nothing ran, nothing to report
}

TEST(Measure, SigintIsForwardedAndWhatWasMeasuredIsReported) {
    TempTree tree("sysfs/intel-2s");
    const fs::path json = tree.root() / "report.json";
    const auto start = std::chrono::steady_clock::now();
    const Outcome r = run(measure_args(tree, {"--json", json.string()}, {"sleep", "20"}),
                          interrupted_after(std::chrono::milliseconds(500)));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.status, 128 + SIGINT) << r.both();
    EXPECT_LT(elapsed, 10.0);  // sleep got the SIGINT sent to joulepilot alone
    EXPECT_NE(r.err.find("SIGINT"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("Energy of"), std::string::npos) << r.out;
    const auto j = read_json(json);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_TRUE(j["runs"][0]["interrupted"].get<bool>());
    EXPECT_EQ(j["runs"][0]["signal"], SIGINT);
    EXPECT_GT(j["runs"][0]["duration_s"].get<double>(), 0.3);
}

void expect_bad_input(const std::vector<std::string>& args, const std::string& message) {
    const Outcome r = run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.status, 2) << joined << "\n" << r.both();
    EXPECT_NE((r.out + r.err).find(message), std::string::npos) << joined << "\n" << r.both();
}

TEST(Measure, BadOptionsExit2NamingTheOption) {
    expect_bad_input({"measure", "--interval-ms", "0", "--", "true"}, "--interval-ms");
    expect_bad_input({"measure", "--repeat", "0", "--", "true"}, "--repeat");
    expect_bad_input({"measure", "--zone", "MARS", "--", "true"}, "--zone 'MARS'");
    expect_bad_input({"measure", "--idle-baseline", "-1", "--", "true"}, "--idle-baseline");
    expect_bad_input({"measure", "--intensity", "-5", "--", "true"}, "--intensity");
    expect_bad_input({"measure", "--zone", "GB", "--intensity", "100", "--", "true"}, "--intensity");
    expect_bad_input({"measure", "--root", "/nonexistent/root", "--", "true"}, "--root");
    expect_bad_input({"measure"}, "give the command to run");
}

// ---- measure --per-process / --per-cgroup ----------------------------------------------------------------

const nlohmann::json* consumer(const nlohmann::json& view, const std::string& name) {
    return find_by_name(view["consumers"], name);
}

TEST(MeasureAttribution, SplitsCpuByCpuTimeAndGpusByProcessShareWithNothingLeftOver) {
    TempTree tree("attribution/node");
    const fs::path json = tree.root() / "report.json";
    RunOptions options =
        with_env("JOULEPILOT_FAKE_NVML_STATE=" + fixture("attribution/fake_nvml.txt").string());
    const Outcome r =
        run(measure_args(tree,
                         {"--per-process", "--per-cgroup", "--interval-ms", "1000", "--json", json.string()},
                         {"/bin/sh", fixture("attribution/busy_node.sh").string(), tree.root().string()}),
            options);
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = read_json(json);
    ASSERT_FALSE(j.is_discarded());
    // Two bursts of 4 J package + 1 J DRAM, each with 30 ticks of worker and 10 of server: 75% / 25%.
    EXPECT_NEAR(run_energy(j, "cpu.0.package"), 8.0, kExact);
    EXPECT_NEAR(run_energy(j, "cpu.0.dram"), 2.0, kExact);
    const auto& per_process = j["attribution"]["per_process"];
    ASSERT_TRUE(per_process.is_object()) << j["attribution"].dump(2);
    const auto* worker = consumer(per_process, "worker (100)");
    const auto* server = consumer(per_process, "server (200)");
    ASSERT_NE(worker, nullptr) << per_process.dump(2);
    ASSERT_NE(server, nullptr) << per_process.dump(2);
    EXPECT_NEAR((*worker)["domains"]["cpu.0.package"].get<double>(), 6.0, 1e-6);
    EXPECT_NEAR((*worker)["domains"]["cpu.0.dram"].get<double>(), 1.5, 1e-6);
    EXPECT_NEAR((*server)["domains"]["cpu.0.package"].get<double>(), 2.0, 1e-6);
    EXPECT_EQ((*worker)["pid"], 100);
    // The GPU: 2 J per counter read, split by SM share 30:10, whatever the number of reads.
    if (!fake_nvml().empty()) {
        const double gpu = run_energy(j, "gpu.0");
        EXPECT_GT(gpu, 0.0);
        EXPECT_NEAR((*worker)["domains"]["gpu.0"].get<double>(), 0.75 * gpu, 1e-6);
        EXPECT_NEAR((*server)["domains"]["gpu.0"].get<double>(), 0.25 * gpu, 1e-6);
    }
    // Conservation: everything measured is attributed or idle (no baseline, nothing idle here).
    EXPECT_NEAR(per_process["idle_j"].get<double>(), 0.0, kExact);
    EXPECT_LE(per_process["residual_ratio"].get<double>(), 0.001);
    EXPECT_NEAR(per_process["attributed_j"].get<double>() + per_process["idle_j"].get<double>(),
                per_process["measured_j"].get<double>(), 1e-6);
    EXPECT_NEAR(per_process["measured_j"].get<double>(), run_energy(j, "total"), 1e-6);

    // Per cgroup: the children of the cgroup root; GPU processes go to their cgroup through
    // /proc/<pid>/cgroup.
    const auto& per_cgroup = j["attribution"]["per_cgroup"];
    const auto* batch = consumer(per_cgroup, "batch.slice");
    const auto* serve = consumer(per_cgroup, "serve.slice");
    ASSERT_NE(batch, nullptr) << per_cgroup.dump(2);
    ASSERT_NE(serve, nullptr) << per_cgroup.dump(2);
    EXPECT_NEAR((*batch)["joules"].get<double>(), (*worker)["joules"].get<double>(), 1e-6);
    EXPECT_NEAR((*serve)["joules"].get<double>(), (*server)["joules"].get<double>(), 1e-6);
    EXPECT_LE(per_cgroup["residual_ratio"].get<double>(), 0.001);

    // The table says the same to a person.
    const Outcome table =
        run(measure_args(tree, {"--per-process", "--interval-ms", "1000"},
                         {"/bin/sh", fixture("attribution/busy_node.sh").string(), tree.root().string()}),
            options);
    ASSERT_EQ(table.status, 0) << table.both();
    EXPECT_NE(table.out.find("Energy by process"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("worker (100)"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("residual"), std::string::npos) << table.out;
}

TEST(MeasureAttribution, EnergyWithNothingRunningIsIdle) {
    TempTree tree("attribution/node");
    const fs::path json = tree.root() / "report.json";
    const Outcome r = run(
        measure_args(tree, {"--per-process", "--interval-ms", "1000", "--json", json.string()},
                     {"/bin/sh", fixture("attribution/busy_node.sh").string(), tree.root().string(), "idle"}),
        with_env("JOULEPILOT_FAKE_NVML_STATE=" + fixture("attribution/fake_nvml.txt").string()));
    ASSERT_EQ(r.status, 0) << r.both();
    const auto j = read_json(json);
    const auto& per_process = j["attribution"]["per_process"];
    ASSERT_TRUE(per_process.is_object()) << j.dump(2);
    // The CPU energy (10 J) moved with no CPU time anywhere: idle, not anybody's.
    EXPECT_EQ(consumer(per_process, "worker (100)") == nullptr ||
                  !(*consumer(per_process, "worker (100)"))["domains"].contains("cpu.0.package"),
              true)
        << per_process.dump(2);
    EXPECT_GE(per_process["idle_j"].get<double>(), 10.0 - 1e-6);
    EXPECT_LE(per_process["residual_ratio"].get<double>(), 0.001);
}

TEST(MeasureAttribution, ConfigFileIsReadAndABadKeyIsBadInput) {
    TempTree tree("attribution/node");
    const fs::path config = tree.root() / "joulepilot.toml";
    tree.write(config, "[nvml]\nenergy_read_intervall_s = 2\n");
    const Outcome bad = run(measure_args(tree, {"--config", config.string()}, {"/bin/true"}));
    EXPECT_EQ(bad.status, 2) << bad.both();
    EXPECT_NE(bad.err.find("nvml.energy_read_intervall_s"), std::string::npos) << bad.err;

    // [nvml] library: used when neither --nvml-library nor $JOULEPILOT_NVML_LIBRARY names one.
    tree.write(config,
               "[nvml]\nlibrary = \"/nonexistent/from-config/libnvidia-ml.so.1\"\n"
               "[estimate]\ntdp_watts = 250\nidle_fraction = 0.2\n");
    const Outcome sensors =
        run({"sensors", "--json", "--root", tree.root().string(), "--config", config.string()},
            with_env("JOULEPILOT_NVML_LIBRARY="));
    ASSERT_EQ(sensors.status, 0) << sensors.both();
    EXPECT_NE(sensors.out.find("/nonexistent/from-config/libnvidia-ml.so.1"), std::string::npos)
        << sensors.out;
}

}  // namespace
