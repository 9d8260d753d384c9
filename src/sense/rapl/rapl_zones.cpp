#include "sense/rapl/rapl_zones.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace joulepilot::sense {
namespace {

constexpr int kMaxNesting = 4;  // control type / package / subzone, with room to spare

struct ZoneId {
    std::string control_type;
    std::vector<int> indices;  // intel-rapl:0:2 -> {0, 2}
};

std::optional<int> parse_int(std::string_view text) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0)
        return std::nullopt;
    return value;
}

// "intel-rapl:0:2" -> {"intel-rapl", {0, 2}}; nullopt for anything else ("power", "intel-rapl").
std::optional<ZoneId> parse_zone_id(std::string_view id) {
    const auto colon = id.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    ZoneId out{std::string(id.substr(0, colon)), {}};
    std::string_view rest = id.substr(colon + 1);
    for (;;) {
        const auto next = rest.find(':');
        const auto index = parse_int(rest.substr(0, next));
        if (!index) return std::nullopt;
        out.indices.push_back(*index);
        if (next == std::string_view::npos) break;
        rest = rest.substr(next + 1);
    }
    return out;
}

struct NameInfo {
    RaplDomain domain;
    int package = -1;
    int die = -1;
};

// "package-1" / "package-0-die-1" / "core" / "uncore" / "dram" / "psys"; nullopt for other names.
std::optional<NameInfo> parse_zone_name(std::string_view name) {
    if (name == "core") return NameInfo{RaplDomain::core};
    if (name == "uncore") return NameInfo{RaplDomain::uncore};
    if (name == "dram") return NameInfo{RaplDomain::dram};
    if (name == "psys") return NameInfo{RaplDomain::psys};
    constexpr std::string_view kPackage = "package-";
    constexpr std::string_view kDie = "-die-";
    if (name.substr(0, kPackage.size()) != kPackage) return std::nullopt;
    std::string_view rest = name.substr(kPackage.size());
    const auto die_at = rest.find(kDie);
    const auto package = parse_int(rest.substr(0, die_at));
    if (!package) return std::nullopt;
    if (die_at == std::string_view::npos) return NameInfo{RaplDomain::package, *package};
    const auto die = parse_int(rest.substr(die_at + kDie.size()));
    if (!die) return std::nullopt;
    return NameInfo{RaplDomain::package, *package, *die};
}

struct Found {
    std::string id;
    std::string path;
    ZoneId parsed;
};

// Collects zone directories, flat or nested, once each (the first path seen wins: the flat one).
void collect(const core::RootedFs& fs, const std::string& dir, int depth,
             std::map<std::string, Found>& found) {
    auto entries = fs.list(dir);
    if (!entries) return;
    for (const std::string& entry : *entries) {
        const std::string path = fmt::format("{}/{}", dir, entry);
        auto parsed = parse_zone_id(entry);
        if (parsed) {
            found.try_emplace(entry, Found{entry, path, std::move(*parsed)});
        } else if (depth > 0 || entry.find("rapl") == std::string::npos) {
            continue;  // only zones, and at the top a control type directory ("intel-rapl"), hold zones
        }
        if (depth < kMaxNesting && fs.is_directory(path)) collect(fs, path, depth + 1, found);
    }
}

bool is_amd(const core::RootedFs& fs, const std::string& cpuinfo_path) {
    auto text = fs.read(cpuinfo_path);
    if (!text) return false;
    const auto at = text->find("vendor_id");
    if (at == std::string::npos) return false;
    const std::string_view line = std::string_view(*text).substr(at, text->find('\n', at) - at);
    return line.find("AuthenticAMD") != std::string_view::npos ||
           line.find("HygonGenuine") != std::string_view::npos;
}

int domain_order(RaplDomain d) { return static_cast<int>(d); }

}  // namespace

std::string_view to_string(RaplDomain domain) {
    switch (domain) {
        case RaplDomain::package:
            return "package";
        case RaplDomain::core:
            return "core";
        case RaplDomain::uncore:
            return "uncore";
        case RaplDomain::dram:
            return "dram";
        case RaplDomain::psys:
            return "psys";
    }
    return "unknown";
}

std::string RaplZone::signal_prefix() const {
    if (domain == RaplDomain::psys) return "node.psys_";
    return fmt::format("cpu.{}.{}_", package_label, to_string(domain));
}

RaplTopology discover_rapl_zones(const core::RootedFs& fs, const RaplDiscoveryOptions& options) {
    RaplTopology topology;
    topology.powercap_present = fs.is_directory(options.powercap_dir);
    if (!topology.powercap_present) return topology;

    std::map<std::string, Found> found;
    collect(fs, options.powercap_dir, 0, found);

    // The MSR interface (`intel-rapl`) first, then other control types; within one, by numeric index.
    std::vector<const Found*> order;
    order.reserve(found.size());
    for (const auto& [id, f] : found) order.push_back(&f);
    std::sort(order.begin(), order.end(), [](const Found* a, const Found* b) {
        const bool a_msr = a->parsed.control_type == "intel-rapl";
        const bool b_msr = b->parsed.control_type == "intel-rapl";
        return std::tie(b_msr, a->parsed.control_type, a->parsed.indices) <
               std::tie(a_msr, b->parsed.control_type, b->parsed.indices);
    });

    // Name every zone; packages are placed before their subzones because of the index order.
    std::map<std::string, RaplZone> named;                   // by id
    std::map<std::tuple<int, int, int>, std::string> owner;  // (domain, package, die) -> id of the kept zone
    std::vector<std::string> kept_ids;
    for (const Found* f : order) {
        auto name = fs.read_line(f->path + "/name");
        if (!name) {
            topology.skipped.push_back({f->id, fmt::format("no readable name ({})", name.error().message)});
            continue;
        }
        const auto info = parse_zone_name(*name);
        if (!info) {
            topology.skipped.push_back({f->id, fmt::format("unknown zone name \"{}\"", *name)});
            continue;
        }
        RaplZone zone;
        zone.id = f->id;
        zone.control_type = f->parsed.control_type;
        zone.path = f->path;
        zone.name = *name;
        zone.domain = info->domain;
        zone.package = info->package;
        zone.die = info->die;
        if (zone.domain == RaplDomain::core || zone.domain == RaplDomain::uncore ||
            zone.domain == RaplDomain::dram) {
            const auto last_colon = zone.id.rfind(':');
            const std::string parent_id = zone.id.substr(0, last_colon);
            const auto parent = named.find(parent_id);
            if (f->parsed.indices.size() < 2 || parent == named.end() ||
                parent->second.domain != RaplDomain::package) {
                topology.skipped.push_back(
                    {f->id, fmt::format("{} zone without a package zone above it", *name)});
                continue;
            }
            zone.package = parent->second.package;
            zone.die = parent->second.die;
        }
        const auto key = std::make_tuple(domain_order(zone.domain), zone.package, zone.die);
        const auto [it, inserted] = owner.try_emplace(key, zone.id);
        if (!inserted) {
            topology.skipped.push_back({zone.id, fmt::format("duplicate of {} ({} through {})", it->second,
                                                             zone.name, zone.control_type)});
            // Still name it, so that its subzones find a parent and are reported as duplicates too.
            named.emplace(zone.id, std::move(zone));
            continue;
        }
        kept_ids.push_back(zone.id);
        named.emplace(zone.id, std::move(zone));
    }

    // Mirrored dies: group the kept package zones that carry a die number by package.
    std::map<int, std::vector<std::string>> dies_of;
    for (const std::string& id : kept_ids) {
        const RaplZone& z = named.at(id);
        if (z.domain == RaplDomain::package && z.die >= 0) dies_of[z.package].push_back(id);
    }
    std::set<std::string> mirrors;
    std::optional<bool> amd;
    for (auto& [package, ids] : dies_of) {
        if (ids.size() < 2) continue;
        std::sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
            return named.at(a).die < named.at(b).die;
        });
        if (!amd) amd = is_amd(fs, options.cpuinfo_path);
        std::vector<std::pair<std::string, std::optional<std::uint64_t>>> distinct;
        for (const std::string& id : ids) {
            if (*amd && !distinct.empty()) {
                mirrors.insert(id);
                topology.skipped.push_back(
                    {id, fmt::format("mirror of {} (AMD dies share one socket counter)",
                                     distinct.front().first)});
                continue;
            }
            std::optional<std::uint64_t> energy_uj;
            if (auto e = fs.read_u64(named.at(id).path + "/energy_uj")) energy_uj = *e;
            const auto same = std::find_if(distinct.begin(), distinct.end(), [&](const auto& d) {
                if (!energy_uj || !d.second) return false;
                const std::uint64_t diff =
                    *energy_uj > *d.second ? *energy_uj - *d.second : *d.second - *energy_uj;
                return diff <= options.mirror_tolerance_uj;
            });
            if (same != distinct.end()) {
                mirrors.insert(id);
                topology.skipped.push_back(
                    {id, fmt::format("mirror of {} (reads the same counter)", same->first)});
                continue;
            }
            distinct.emplace_back(id, energy_uj);
        }
    }

    // Keep what is neither a duplicate nor a mirror (nor below one), then label the packages.
    std::map<int, int> kept_packages_per_socket;
    std::vector<RaplZone> zones;
    for (const std::string& id : kept_ids) {
        RaplZone zone = named.at(id);
        if (mirrors.contains(id)) continue;
        if (zone.domain != RaplDomain::package && zone.domain != RaplDomain::psys) {
            const std::string parent_id = id.substr(0, id.rfind(':'));
            if (mirrors.contains(parent_id)) {
                topology.skipped.push_back({id, fmt::format("{} of mirrored {}", zone.name, parent_id)});
                continue;
            }
        }
        if (zone.domain == RaplDomain::package) ++kept_packages_per_socket[zone.package];
        zones.push_back(std::move(zone));
    }
    for (RaplZone& zone : zones) {
        if (zone.domain != RaplDomain::psys) {
            zone.package_label = kept_packages_per_socket[zone.package] > 1 && zone.die >= 0
                                     ? fmt::format("{}_die{}", zone.package, zone.die)
                                     : fmt::format("{}", zone.package);
        }
        auto range = fs.read_u64(zone.path + "/max_energy_range_uj");
        if (range && *range > 0) {
            zone.max_energy_range_uj = *range;
        } else {
            topology.unavailable.push_back(
                {zone.id + " max_energy_range_uj",
                 fmt::format("{}; a backward step will count as a counter reset, not a wrap",
                             range ? "is 0" : range.error().message),
                 ""});
        }
    }
    std::sort(zones.begin(), zones.end(), [](const RaplZone& a, const RaplZone& b) {
        const bool a_psys = a.domain == RaplDomain::psys;
        const bool b_psys = b.domain == RaplDomain::psys;
        return std::make_tuple(a_psys, a.package, a.die, domain_order(a.domain), a.id) <
               std::make_tuple(b_psys, b.package, b.die, domain_order(b.domain), b.id);
    });
    topology.zones = std::move(zones);
    return topology;
}

}  // namespace joulepilot::sense
