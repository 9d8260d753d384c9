#pragma once
// An energy model trained on synthetic rows: the stand-in for twin exploration in the decide tests and
// bench/mpc_bench. One replica's power grows with its load and its clock (and falls 20% with fp8), TPOT
// grows with the load, throughput is the output tokens offered; p99 TTFT as a function of requests/s per
// replica is the caller's (the shape a test needs). Deterministic (seed 7); throws if training fails.

#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "learn/energy_model.hpp"

namespace joulepilot::decide::testing {

inline std::shared_ptr<const learn::EnergyModel> synthetic_energy_model(const std::string& signature,
                                                                         const std::function<double(double)>& ttft_s,
                                                                         int rows = 1500, int rounds = 40) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<learn::ModelRow> data;
    for (int i = 0; i < rows; ++i) {
        const double rps = 8 * u(rng);
        const double clock = 1260 + 720 * std::floor(u(rng) * 4) / 3;
        const double cap = u(rng) < 0.5 ? 128 : 256;
        const double fp8 = u(rng) < 0.5 ? 1 : 0;
        learn::ModelRow row;
        row.x = {static_cast<float>(rps), static_cast<float>(rps * 1000), static_cast<float>(rps * 400),
                 static_cast<float>(clock), 700, static_cast<float>(cap), static_cast<float>(fp8)};
        row.y = {110 + 60 * rps * (clock / 1980) * (1 - 0.2 * fp8), ttft_s(rps), 0.02 + 0.002 * rps, rps * 400};
        data.push_back(row);
    }
    learn::TrainOptions options;
    options.rounds = rounds;
    auto model = learn::EnergyModel::train(data, signature, options);
    if (!model) throw std::runtime_error("synthetic energy model: " + model.error().message);
    return std::make_shared<const learn::EnergyModel>(std::move(*model));
}

}  // namespace joulepilot::decide::testing
