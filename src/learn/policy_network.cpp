#include "learn/policy_network.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::learn {
namespace {

constexpr const char* kFormat = "joulepilot-rl-policy";
constexpr int kVersion = 1;

core::Result<Eigen::VectorXf> vector_of(const nlohmann::json& j, std::size_t size, const std::string& what) {
    if (!j.is_array() || j.size() != size) {
        return core::fail(fmt::format("{} must be an array of {} numbers", what, size));
    }
    Eigen::VectorXf v(static_cast<Eigen::Index>(size));
    for (std::size_t i = 0; i < size; ++i) {
        if (!j[i].is_number()) return core::fail(fmt::format("{}[{}] is not a number", what, i));
        const double x = j[i].get<double>();
        if (!std::isfinite(x)) return core::fail(fmt::format("{}[{}] is not finite", what, i));
        v[static_cast<Eigen::Index>(i)] = static_cast<float>(x);
    }
    return v;
}

}  // namespace

core::Result<PolicyNetwork> PolicyNetwork::load(const std::filesystem::path& path,
                                                const std::string& expected_knob_space,
                                                const std::vector<std::string>& expected_features) {
    std::ifstream in(path);
    if (!in) {
        return core::fail(fmt::format("rl policy file {}: cannot be read (train one with `joulepilot train rl "
                                      "--out {}`)",
                                      path.string(), path.string()));
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), path.string(), expected_knob_space, expected_features);
}

core::Result<PolicyNetwork> PolicyNetwork::parse(const std::string& text, const std::string& source,
                                                 const std::string& expected_knob_space,
                                                 const std::vector<std::string>& expected_features) {
    const auto bad = [&](const std::string& why) {
        return core::fail(fmt::format("rl policy file {}: {}", source, why));
    };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        return bad(fmt::format("not valid JSON ({})", e.what()));
    }
    try {
        if (!j.is_object() || j.value("format", "") != kFormat) return bad(fmt::format("not a {} file", kFormat));
        if (j.value("version", 0) != kVersion) {
            return bad(fmt::format("version {} is not the supported {}", j.value("version", 0), kVersion));
        }
        if (!expected_knob_space.empty() && j.value("knob_space", "") != expected_knob_space) {
            return bad("trained for another knob space (the fleet's knobs or their domains differ); retrain it "
                       "with `joulepilot train rl`");
        }
        const auto features = j.at("features").get<std::vector<std::string>>();
        if (features != expected_features) {
            return bad(fmt::format("trained on features [{}], this build uses [{}]; retrain it",
                                   fmt::join(features, ","), fmt::join(expected_features, ",")));
        }
        PolicyNetwork net;
        auto mean = vector_of(j.at("input_mean"), features.size(), "input_mean");
        if (!mean) return bad(mean.error().message);
        auto sd = vector_of(j.at("input_sd"), features.size(), "input_sd");
        if (!sd) return bad(sd.error().message);
        if ((sd->array() <= 0).any()) return bad("input_sd must be positive");
        net.m_mean = *mean;
        net.m_sd = *sd;
        for (const auto& a : j.at("actions")) {
            PolicyAction action{a.at("active_fraction").get<double>(), a.at("clock_mhz").get<double>(),
                                a.at("batch_cap").get<int>()};
            if (!(action.active_fraction > 0 && action.active_fraction <= 1) || action.clock_mhz < 210 ||
                action.clock_mhz > 1980 || action.batch_cap < 1 || action.batch_cap > 1024) {
                return bad(fmt::format("action {} is out of range", net.m_actions.size()));
            }
            net.m_actions.push_back(action);
        }
        if (net.m_actions.empty()) return bad("no actions");
        std::size_t width = features.size();
        for (const auto& l : j.at("layers")) {
            const auto in = l.at("in").get<std::size_t>();
            const auto out = l.at("out").get<std::size_t>();
            const std::string name = fmt::format("layer {}", net.m_layers.size());
            if (in != width || out == 0 || out > 4096) {
                return bad(fmt::format("{} is {}x{}, but its input is {} wide", name, out, in, width));
            }
            auto w = vector_of(l.at("weights"), in * out, name + " weights");
            if (!w) return bad(w.error().message);
            auto b = vector_of(l.at("bias"), out, name + " bias");
            if (!b) return bad(b.error().message);
            const std::string activation = l.at("activation").get<std::string>();
            if (activation != "tanh" && activation != "linear") {
                return bad(fmt::format("{}: activation '{}' is not tanh or linear", name, activation));
            }
            Layer layer;
            // Row-major in the file (PyTorch's Linear.weight layout: out x in).
            layer.weights = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                w->data(), static_cast<Eigen::Index>(out), static_cast<Eigen::Index>(in));
            layer.bias = *b;
            layer.tanh = activation == "tanh";
            net.m_layers.push_back(std::move(layer));
            width = out;
        }
        if (net.m_layers.empty()) return bad("no layers");
        if (width != net.m_actions.size()) {
            return bad(fmt::format("the last layer gives {} logits for {} actions", width, net.m_actions.size()));
        }
        net.m_scratch.resize(net.m_layers.size() + 1);
        net.m_scratch[0].resize(static_cast<Eigen::Index>(features.size()));
        for (std::size_t i = 0; i < net.m_layers.size(); ++i) net.m_scratch[i + 1].resize(net.m_layers[i].bias.size());
        return net;
    } catch (const nlohmann::json::exception& e) {
        return bad(fmt::format("a field is missing or has the wrong type ({})", e.what()));
    }
}

const Eigen::VectorXf& PolicyNetwork::logits(std::span<const double> state) const {
    Eigen::VectorXf& x = m_scratch[0];
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double v = static_cast<std::size_t>(i) < state.size() ? state[static_cast<std::size_t>(i)] : 0.0;
        x[i] = (static_cast<float>(v) - m_mean[i]) / m_sd[i];
    }
    for (std::size_t l = 0; l < m_layers.size(); ++l) {
        Eigen::VectorXf& y = m_scratch[l + 1];
        y.noalias() = m_layers[l].weights * m_scratch[l];
        y += m_layers[l].bias;
        if (m_layers[l].tanh) y = y.array().tanh().matrix();
    }
    return m_scratch.back();
}

std::size_t PolicyNetwork::act(std::span<const double> state) const {
    Eigen::Index best = 0;
    logits(state).maxCoeff(&best);
    return static_cast<std::size_t>(best);
}

}  // namespace joulepilot::learn
