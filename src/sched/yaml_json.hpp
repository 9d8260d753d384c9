#pragma once
// YAML -> JSON (nlohmann) for the scheduler's YAML inputs: job files (job.cpp) and Kubernetes Job
// templates (kube_controller.cpp), so that YAML and JSON go through one set of checks. Plain scalars are
// typed as YAML 1.2's core schema does (null, true/false, integers, floats); quoted scalars stay strings.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace joulepilot::sched {

// Errors name `source` and the line of a syntax error. Anchors and aliases are resolved by yaml-cpp.
core::Result<nlohmann::json> parse_yaml_as_json(std::string_view text, const std::string& source);

}  // namespace joulepilot::sched
