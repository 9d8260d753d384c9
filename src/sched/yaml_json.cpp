#include "sched/yaml_json.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace joulepilot::sched {
namespace {

using nlohmann::json;

json scalar_to_json(const YAML::Node& node) {
    const std::string& text = node.Scalar();
    if (node.Tag() == "!") return text;  // quoted: always a string
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    const char* begin = text.data();
    const char* end = begin + text.size();
    if (*begin == '+') ++begin;
    long long integer = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, integer); ec == std::errc() && ptr == end) return integer;
    double number = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, number); ec == std::errc() && ptr == end) return number;
    if (text == ".inf" || text == "+.inf") return std::numeric_limits<double>::infinity();
    if (text == "-.inf") return -std::numeric_limits<double>::infinity();
    return text;
}

json to_json(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return nullptr;
        case YAML::NodeType::Scalar:
            return scalar_to_json(node);
        case YAML::NodeType::Sequence: {
            json out = json::array();
            for (const YAML::Node& item : node) out.push_back(to_json(item));
            return out;
        }
        case YAML::NodeType::Map: {
            json out = json::object();
            for (const auto& item : node) out[item.first.as<std::string>()] = to_json(item.second);
            return out;
        }
    }
    return nullptr;
}

}  // namespace

core::Result<json> parse_yaml_as_json(std::string_view text, const std::string& source) {
    try {
        return to_json(YAML::Load(std::string(text)));
    } catch (const YAML::Exception& e) {
        // e.mark.line is 0-based; -1 when unknown.
        if (e.mark.line >= 0)
            return core::fail(fmt::format("{}:{}: not valid YAML: {}", source, e.mark.line + 1, e.msg));
        return core::fail(fmt::format("{}: not valid YAML: {}", source, e.msg));
    }
}

}  // namespace joulepilot::sched
