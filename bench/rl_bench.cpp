// Decision latency of the `rl` policy at run time (issue 6 target: <= 100 us): the MLP forward pass
// (input normalisation, three dense layers, greedy action). The rest of a decision (the state's window
// means, the rollout to knob settings) is shared with mpc and not measured here. The network has the trainer's shape (8 -> 64 -> 64 -> 24, tanh) with
// random weights: the cost does not depend on the values.
#include <random>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "decide/rl_policy.hpp"
#include "learn/policy_network.hpp"

namespace {

using namespace joulepilot;

std::string random_network(const std::string& knob_space) {
    std::mt19937 rng(1);
    std::normal_distribution<float> w(0, 0.3F);
    nlohmann::json j = {{"format", "joulepilot-rl-policy"}, {"version", 1}, {"knob_space", knob_space},
                        {"features", decide::rl_state_features()}};
    j["input_mean"] = std::vector<float>(8, 0);
    j["input_sd"] = std::vector<float>(8, 1);
    for (double f : {0.25, 0.5, 0.75, 1.0})
        for (double mhz : {1980.0, 1500.0, 1260.0})
            for (int cap : {128, 256}) j["actions"].push_back({{"active_fraction", f}, {"clock_mhz", mhz}, {"batch_cap", cap}});
    int in = 8;
    for (int out : {64, 64, 24}) {
        std::vector<float> weights(static_cast<std::size_t>(in * out));
        for (float& x : weights) x = w(rng);
        j["layers"].push_back({{"in", in}, {"out", out}, {"activation", out == 24 ? "linear" : "tanh"},
                               {"weights", weights}, {"bias", std::vector<float>(static_cast<std::size_t>(out), 0)}});
        in = out;
    }
    return j.dump();
}

void BM_ForwardPass(benchmark::State& state) {
    auto net = learn::PolicyNetwork::parse(random_network(""), "bench", "", decide::rl_state_features());
    if (!net) {
        state.SkipWithError(net.error().message.c_str());
        return;
    }
    std::vector<double> x = {1.2, 1500, 400, 0.4, 0.3, 0.0, 1.0, 0.5};
    for (auto _ : state) {
        benchmark::DoNotOptimize(net->act(x));
        x[0] += 1e-6;
    }
}
BENCHMARK(BM_ForwardPass);

}  // namespace
