// Property: whatever sequence of save / apply / restore the shield sends (including batches that fail
// half-way on the fake NVML), a final restore() leaves every knob of every node actuator as it was found.
// NVML runs on the fake library (tests/fakes/nvml); RAPL and cpufreq on copies of tests/fixtures/act.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "act/cpufreq/cpufreq_actuator.hpp"
#include "act/nvml/nvml_actuator.hpp"
#include "act/rapl/rapl_power_limit_actuator.hpp"
#include "unit/sense/node/temp_tree.hpp"
#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::act {
namespace {

// Fixture copies of this executable (TempTree uses $TMPDIR) go to tmpfs when the machine has one: these
// tests rewrite small files thousands of times, which costs milliseconds on tmpfs and seconds on a disk
// shared with a busy build. An explicit TMPDIR is left alone.
class FixturesOnTmpfs : public ::testing::Environment {
public:
    void SetUp() override {
        std::error_code ec;
        if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm", ec) &&
            ::access("/dev/shm", W_OK) == 0) {
            ::setenv("TMPDIR", "/dev/shm", 0);
        }
    }
};
[[maybe_unused]] ::testing::Environment* const kFixturesOnTmpfs =
    ::testing::AddGlobalTestEnvironment(new FixturesOnTmpfs);

enum class Op { save, apply, restore, failing_apply };

struct Step {
    Op op = Op::apply;
    std::vector<std::pair<int, int>> settings;  // (knob index, position in the domain in 1/1000)
    int failing_gpu = 0;
};

rc::Gen<Step> step_gen() {
    return rc::gen::build<Step>(
        rc::gen::set(&Step::op,
                     rc::gen::element(Op::save, Op::apply, Op::apply, Op::restore, Op::failing_apply)),
        rc::gen::set(&Step::settings,
                     rc::gen::mapcat(rc::gen::inRange<std::size_t>(1, 4),
                                     [](std::size_t n) {
                                         return rc::gen::container<std::vector<std::pair<int, int>>>(
                                             n, rc::gen::pair(rc::gen::inRange(0, 64),
                                                              rc::gen::inRange(0, 1001)));
                                     })),
        rc::gen::set(&Step::failing_gpu, rc::gen::inRange(0, 2)));
}

// A value inside the knob's domain (as the shield would send it).
std::vector<KnobSetting> batch_for(const std::vector<Knob>& knobs, const Step& step) {
    std::vector<KnobSetting> batch;
    for (const auto& [index, position] : step.settings) {
        const Knob& knob = knobs[static_cast<std::size_t>(index) % knobs.size()];
        const double raw = knob.domain.min + (knob.domain.max - knob.domain.min) * position / 1000.0;
        batch.push_back({knob.name, knob.domain.clamp(raw)});
    }
    return batch;
}

// Runs the steps, then restore(); `fail` arranges for the next write to fail and returns a cleanup.
template <class Fail>
void run_steps(Actuator& actuator, const std::vector<Step>& steps, Fail&& fail) {
    const std::vector<Knob> knobs = actuator.discover();
    RC_PRE(!knobs.empty());
    for (const Step& step : steps) {
        switch (step.op) {
            case Op::save:
                RC_ASSERT(actuator.save().has_value());
                break;
            case Op::restore:
                RC_ASSERT(actuator.restore().has_value());
                break;
            case Op::apply:
                RC_ASSERT(actuator.apply(batch_for(knobs, step)).has_value());
                break;
            case Op::failing_apply:
                fail(step, knobs);
                break;
        }
    }
    RC_ASSERT(actuator.restore().has_value());
}

RC_GTEST_PROP(NodeActuators, NvmlSaveApplyRestoreReturnsTheOriginalState, ()) {
    const auto steps =
        *rc::gen::container<std::vector<Step>>(*rc::gen::inRange<std::size_t>(0, 12), step_gen());
    testing::FakeNvml fake;
    fake.apply("device_count 2\ndevice 1 power_limit_mw 450000\n");
    NvmlActuatorOptions options;
    options.library_path = testing::kFakeNvml;
    NvmlActuator actuator(options);
    run_steps(actuator, steps, [&](const Step& step, const std::vector<Knob>& knobs) {
        // The first power-limit write to this GPU is refused; the whole batch must be undone.
        const std::string gpu = std::to_string(step.failing_gpu);
        fake.apply("device " + gpu + " error nvmlDeviceSetPowerManagementLimit NO_PERMISSION 1\n");
        std::vector<KnobSetting> batch = batch_for(knobs, step);
        batch.push_back({"gpu." + gpu + ".power_limit_watts", 300.0});
        RC_ASSERT(!actuator.apply(batch).has_value());
        fake.apply("device " + gpu + " error nvmlDeviceSetPowerManagementLimit SUCCESS\n");
    });
    RC_ASSERT(actuator.changed().empty());
    RC_ASSERT(fake.device_value(0, "power_limit_mw") == 700000);
    RC_ASSERT(fake.device_value(1, "power_limit_mw") == 450000);
    RC_ASSERT(fake.device_value(0, "locked_sm_max_mhz") == 0);
    RC_ASSERT(fake.device_value(1, "locked_sm_max_mhz") == 0);
}

using Snapshot = std::vector<std::pair<std::string, std::string>>;

// The attributes a node actuator may write (power limits, scaling_max_freq) with their content, trailing
// whitespace dropped (sysfs shows "N\n" for a written "N"). Only these: reading all 130 files of the tree
// twice per run made the property slow on a busy machine, and the actuators open nothing else for writing.
Snapshot snapshot(const std::filesystem::path& root) {
    Snapshot files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        const std::string name = entry.path().filename().string();
        const bool writable = name == "scaling_max_freq" ||
                              (name.size() > 14 && name.compare(name.size() - 14, 14, "power_limit_uw") == 0);
        if (!entry.is_regular_file() || !writable) continue;
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        std::string content = text.str();
        while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.pop_back();
        files.emplace_back(entry.path().lexically_relative(root).string(), std::move(content));
    }
    std::sort(files.begin(), files.end());
    return files;
}

// One copy of a fixture per property (copying a tree for each of RapidCheck's 100 runs is slow on a busy
// machine); every run starts from the pristine content again.
class SharedTree {
public:
    explicit SharedTree(const char* fixture) : m_tree(fixture), m_pristine(snapshot(m_tree.root())) {}
    [[nodiscard]] const std::filesystem::path& root() const { return m_tree.root(); }
    [[nodiscard]] const Snapshot& pristine() const { return m_pristine; }
    void reset() const {
        const Snapshot now = snapshot(m_tree.root());
        for (std::size_t i = 0; i < now.size() && i < m_pristine.size(); ++i) {
            if (now[i] != m_pristine[i]) m_tree.write(m_pristine[i].first, m_pristine[i].second + "\n");
        }
    }

private:
    testing::TempTree m_tree;
    Snapshot m_pristine;
};

// On sysfs a failing batch is one that names a value outside a knob's domain after valid settings (refused
// before any write); the actuator must leave nothing of it behind.
template <class Make>
void sysfs_property(const SharedTree& tree, Make&& make) {
    const auto steps =
        *rc::gen::container<std::vector<Step>>(*rc::gen::inRange<std::size_t>(0, 12), step_gen());
    tree.reset();
    const core::RootedFs fs(tree.root());
    auto actuator = make(fs);
    run_steps(*actuator, steps, [&](const Step& step, const std::vector<Knob>& knobs) {
        std::vector<KnobSetting> batch = batch_for(knobs, step);
        batch.push_back({knobs.front().name, knobs.front().domain.max * 10});
        RC_ASSERT(!actuator->apply(batch).has_value());
    });
    RC_ASSERT(actuator->changed().empty());
    RC_ASSERT(snapshot(tree.root()) == tree.pristine());
}

RC_GTEST_PROP(NodeActuators, RaplSaveApplyRestoreReturnsTheOriginalState, ()) {
    static const SharedTree tree("act/node-2s");
    sysfs_property(tree, [](const core::RootedFs& fs) {
        RaplActuatorOptions options;
        options.constraints = {"long_term", "short_term"};
        return std::make_unique<RaplPowerLimitActuator>(fs, options);
    });
}

RC_GTEST_PROP(NodeActuators, CpufreqSaveApplyRestoreReturnsTheOriginalState, ()) {
    static const SharedTree tree("act/node-2s");
    sysfs_property(tree, [](const core::RootedFs& fs) { return std::make_unique<CpufreqActuator>(fs); });
}

RC_GTEST_PROP(NodeActuators, CpufreqTableSaveApplyRestoreReturnsTheOriginalState, ()) {
    static const SharedTree tree("act/client-acpi");
    sysfs_property(tree, [](const core::RootedFs& fs) { return std::make_unique<CpufreqActuator>(fs); });
}

}  // namespace
}  // namespace joulepilot::act
