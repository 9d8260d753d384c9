#include "sense/hwmon/hwmon_sensor.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include <fmt/format.h>

namespace joulepilot::sense {
namespace {

constexpr double kMicro = 1e-6;
constexpr double kUpdateSlackSeconds = 0.01;

struct Chip {
    std::string name;
    std::string device;  // basename of the `device` link target; "" when there is none
    std::string dir;     // "sys/class/hwmon/hwmon3"
    std::string label;   // unique signal label
};

struct ChannelFile {
    int kind_order;      // 0 power, 1 energy, 2 temp
    int index;           // <n>
    bool average;        // power<n>_average
    std::string file;    // "power1_average"
    std::string prefix;  // "power1"
};

// "power1_input" / "power2_average" / "energy1_input" / "temp3_input"; nullopt for other files.
std::optional<ChannelFile> parse_channel(std::string_view file) {
    static constexpr std::array<std::pair<std::string_view, int>, 3> kKinds = {
        {{"power", 0}, {"energy", 1}, {"temp", 2}}};
    for (const auto& [kind, order] : kKinds) {
        if (file.substr(0, kind.size()) != kind) continue;
        std::string_view rest = file.substr(kind.size());
        const auto underscore = rest.find('_');
        if (underscore == std::string_view::npos) return std::nullopt;
        int index = 0;
        const std::string_view digits = rest.substr(0, underscore);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
        const std::string_view suffix = rest.substr(underscore + 1);
        const bool average = suffix == "average";
        if (suffix != "input" && !(average && order == 0)) return std::nullopt;
        return ChannelFile{order, index, average, std::string(file),
                           std::string(file.substr(0, kind.size() + underscore))};
    }
    return std::nullopt;
}

std::string sanitized(std::string_view name) {
    std::string out;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        out += ok ? c : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '_';
    }
    return out.empty() ? std::string("unnamed") : out;
}

std::string basename_of(std::string_view path) {
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

HwmonSensor::HwmonSensor(const core::RootedFs& fs, const core::Clock& clock, HwmonOptions options)
    : m_fs(fs), m_clock(clock), m_options(std::move(options)) {}

std::vector<SignalInfo> HwmonSensor::discover() {
    m_channels.clear();
    m_unavailable.clear();
    m_read_errors = 0;
    m_resets = 0;
    auto entries = m_fs.list(m_options.hwmon_dir);
    if (!entries) {
        m_unavailable.push_back({"hwmon (" + m_fs.full_path(m_options.hwmon_dir) + ")",
                                 std::string(core::to_string(entries.error().kind)), ""});
        return {};
    }

    std::vector<Chip> chips;
    for (const std::string& entry : *entries) {
        const std::string dir = m_options.hwmon_dir + "/" + entry;
        auto name = m_fs.read_line(dir + "/name");
        if (!name) name = m_fs.read_line(dir + "/device/name");  // drivers from before hwmon had `name`
        if (!name) {
            m_unavailable.push_back({"hwmon " + entry, "no name file: cannot be matched", ""});
            continue;
        }
        if (!m_options.names.empty() &&
            std::find(m_options.names.begin(), m_options.names.end(), *name) == m_options.names.end()) {
            continue;
        }
        auto link = m_fs.read_link(dir + "/device");
        chips.push_back({*name, link ? basename_of(*link) : std::string(), dir, ""});
    }
    for (const std::string& wanted : m_options.names) {
        const bool found =
            std::any_of(chips.begin(), chips.end(), [&](const Chip& c) { return c.name == wanted; });
        if (!found) m_unavailable.push_back({"hwmon chip \"" + wanted + "\"", "not present", ""});
    }
    // Chips sharing a name are told apart by their device, which is stable across boots.
    std::sort(chips.begin(), chips.end(), [](const Chip& a, const Chip& b) {
        return std::tie(a.name, a.device, a.dir) < std::tie(b.name, b.device, b.dir);
    });
    std::map<std::string, int> count_of;
    for (const Chip& c : chips) ++count_of[c.name];
    std::map<std::string, int> seen;
    for (Chip& c : chips) {
        c.label = sanitized(c.name);
        if (count_of[c.name] > 1) c.label += fmt::format("_{}", seen[c.name]++);
    }

    std::vector<SignalInfo> signals;
    const core::Seconds now = m_clock.now();
    for (const Chip& chip : chips) {
        auto files = m_fs.list(chip.dir);
        if (!files) continue;
        std::vector<ChannelFile> channels;
        for (const std::string& f : *files) {
            if (auto c = parse_channel(f)) channels.push_back(std::move(*c));
        }
        std::sort(channels.begin(), channels.end(), [](const ChannelFile& a, const ChannelFile& b) {
            return std::tie(a.kind_order, a.index, a.average) < std::tie(b.kind_order, b.index, b.average);
        });
        for (const ChannelFile& c : channels) {
            const std::string path = chip.dir + "/" + c.file;
            std::optional<core::FileError> error;
            std::uint64_t raw_u = 0;
            if (c.kind_order == 2) {
                if (auto v = m_fs.read_i64(path); !v) error = v.error();
            } else if (auto v = m_fs.read_u64(path); !v) {
                error = v.error();
            } else {
                raw_u = *v;
            }
            if (error) {
                Unavailable u{fmt::format("hwmon {} {}", chip.label, c.file), error->message, ""};
                if (error->kind == core::FileErrorKind::permission_denied) {
                    u.reason = "permission denied";
                    u.fix = "run as root (this driver restricts its readings)";
                }
                m_unavailable.push_back(std::move(u));
                continue;
            }
            auto label = m_fs.read_line(chip.dir + "/" + c.prefix + "_label");
            const std::string where =
                fmt::format("{} {}{}{}", chip.name, c.file, label ? " \"" + *label + "\"" : std::string(),
                            chip.device.empty() ? std::string() : " on " + chip.device);
            const std::string base = fmt::format("hwmon.{}.{}", chip.label, c.prefix);
            if (c.kind_order == 0) {
                signals.push_back({base + (c.average ? "_average_watts" : "_watts"), "W",
                                   Provenance::measured,
                                   (c.average ? "power averaged by the chip: " : "power: ") + where});
                m_channels.push_back({Kind::power, path, EnergyCounter(), now});
            } else if (c.kind_order == 1) {
                signals.push_back(
                    {base + "_joules_total", "J", Provenance::measured, "energy since discovery: " + where});
                signals.push_back({base + "_power_watts", "W", Provenance::derived,
                                   "mean power since the previous read, from the energy counter: " + where});
                Channel channel{Kind::energy, path, EnergyCounter(), now};
                channel.counter.update(raw_u);
                m_channels.push_back(std::move(channel));
            } else {
                signals.push_back({base + "_celsius", "C", Provenance::measured, "temperature: " + where});
                m_channels.push_back({Kind::temperature, path, EnergyCounter(), now});
            }
        }
    }
    return signals;
}

core::Result<void> HwmonSensor::read(std::span<Sample> samples) {
    const core::Seconds now = m_clock.now();
    std::size_t k = 0;
    std::size_t failed = 0;
    std::optional<std::string> first_error;
    auto put = [&](Sample s) {
        if (k < samples.size()) samples[k] = s;
        ++k;
    };
    auto count_error = [&](const core::FileError& e) {
        ++m_read_errors;
        ++failed;
        if (!first_error) first_error = "hwmon: " + e.message;
    };
    for (Channel& c : m_channels) {
        switch (c.kind) {
            case Kind::power: {
                auto v = m_fs.read_u64(c.path);
                if (!v) count_error(v.error());
                put(v ? Sample{static_cast<double>(*v) * kMicro, true} : Sample{});
                break;
            }
            case Kind::temperature: {
                auto v = m_fs.read_i64(c.path);
                if (!v) count_error(v.error());
                put(v ? Sample{static_cast<double>(*v) / 1000.0, true} : Sample{});
                break;
            }
            case Kind::energy: {
                auto v = m_fs.read_u64(c.path);
                if (!v) {
                    count_error(v.error());
                    put(Sample{});
                    put(Sample{});
                    break;
                }
                const double dt = (now - c.last_good).value();
                const double bound_j =
                    m_options.max_plausible_power.value() * (std::max(dt, 0.0) + kUpdateSlackSeconds);
                const auto bound_uj = static_cast<std::uint64_t>(std::min(bound_j / kMicro, 1.8e19));
                const CounterStep step = c.counter.update(*v, bound_uj);
                c.last_good = now;
                if (step == CounterStep::reset) {
                    ++m_resets;
                    put(Sample{});
                    put(Sample{});
                    break;
                }
                put(Sample{c.counter.total().value(), true});
                put(step != CounterStep::baseline && dt > 0
                        ? Sample{static_cast<double>(c.counter.last_delta_uj()) * kMicro / dt, true}
                        : Sample{});
                break;
            }
        }
    }
    if (!m_channels.empty() && failed == m_channels.size()) return core::fail(*first_error);
    return {};
}

}  // namespace joulepilot::sense
