#pragma once
// What the estimated-power model needs to know about the CPU: its model name, how much of which sockets
// this machine sees (/proc/cpuinfo), and the maker's TDP for that model from a small built-in table.
// Used only when nothing can be measured; everything derived from it is labelled `estimated`.

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"

namespace joulepilot::sense {

struct CpuInfo {
    std::string vendor;        // "GenuineIntel", "AuthenticAMD"
    std::string model_name;    // "AMD EPYC 7763 64-Core Processor"
    int sockets = 0;           // distinct "physical id" values (1 when the field is absent)
    int logical_cpus = 0;      // "processor" entries
    int cores_per_socket = 0;  // "cpu cores" (a VM shows its vCPU slice here); 0 when absent
};

// Parses /proc/cpuinfo text (x86 layout). Fields absent on other architectures stay empty/0.
CpuInfo parse_cpuinfo(std::string_view text);
core::Result<CpuInfo> read_cpuinfo(const core::RootedFs& fs, std::string_view path = "proc/cpuinfo");

struct CpuTdpEntry {
    std::string_view model;  // token matched in the model name, e.g. "EPYC 7763", "Platinum 8380"
    double tdp_watts;        // per socket, the maker's published TDP
    int cores;               // physical cores per socket
};

// The table entry whose token occurs in `model_name` as a whole word (so "EPYC 7763" does not match
// "EPYC 77630"); nullopt when the model is not in the table.
std::optional<CpuTdpEntry> lookup_cpu_tdp(std::string_view model_name);

}  // namespace joulepilot::sense
