#include "sense/estimate/cpu_tdp_table.hpp"

#include <array>
#include <set>

#include "core/csv.hpp"
#include "core/text.hpp"

namespace joulepilot::sense {
namespace {

// Published TDP and core counts of common datacentre CPUs (AMD and Intel product pages). Small on
// purpose: a config value (tdp) is the way to be right for anything else.
constexpr std::array<CpuTdpEntry, 16> kTable = {{
    {"EPYC 7543", 225, 32},
    {"EPYC 7742", 225, 64},
    {"EPYC 7763", 280, 64},
    {"EPYC 9554", 360, 64},
    {"EPYC 9654", 360, 96},
    {"EPYC 9754", 360, 128},
    {"Gold 6230", 125, 20},
    {"Gold 6248", 150, 20},
    {"Platinum 8168", 205, 24},
    {"Platinum 8280", 205, 28},
    {"Platinum 8358", 250, 32},
    {"Platinum 8380", 270, 40},
    {"Platinum 8462Y+", 300, 32},
    {"Platinum 8468", 350, 48},
    {"Platinum 8480+", 350, 56},
    {"Platinum 8592+", 350, 64},
}};

bool is_word_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

CpuInfo parse_cpuinfo(std::string_view text) {
    CpuInfo info;
    std::set<std::string> physical_ids;
    core::for_each_key_value_line(text, [&](std::string_view key, std::string_view raw_value) {
        const std::string_view value = core::trim(raw_value);
        if (key == "processor") {
            ++info.logical_cpus;
        } else if (key == "vendor_id" && info.vendor.empty()) {
            info.vendor = value;
        } else if (key == "model name" && info.model_name.empty()) {
            info.model_name = value;
        } else if (key == "physical id") {
            physical_ids.emplace(value);
        } else if (key == "cpu cores" && info.cores_per_socket == 0) {
            info.cores_per_socket = static_cast<int>(core::parse_integer(value).value_or(0));
        }
    });
    info.sockets = physical_ids.empty() ? 1 : static_cast<int>(physical_ids.size());
    return info;
}

core::Result<CpuInfo> read_cpuinfo(const core::RootedFs& fs, std::string_view path) {
    auto text = fs.read(path);
    if (!text) return core::fail(text.error().message);
    return parse_cpuinfo(*text);
}

std::optional<CpuTdpEntry> lookup_cpu_tdp(std::string_view model_name) {
    for (const CpuTdpEntry& entry : kTable) {
        std::size_t at = model_name.find(entry.model);
        while (at != std::string_view::npos) {
            const std::size_t after = at + entry.model.size();
            const bool starts_word = at == 0 || !is_word_char(model_name[at - 1]);
            const bool ends_word = after == model_name.size() || !is_word_char(model_name[after]) ||
                                   !is_word_char(entry.model.back());
            if (starts_word && ends_word) return entry;
            at = model_name.find(entry.model, at + 1);
        }
    }
    return std::nullopt;
}

}  // namespace joulepilot::sense
