// joulepilot-train-rl: trains the `rl` policy with PPO (libtorch) in the digital twin, in process, and
// writes the policy network as the JSON weights file the agent's `rl` policy evaluates without libtorch
// (src/learn/policy_network.hpp). Run by `joulepilot train rl` (src/cli/train_command.cpp) or directly.
//
// Environment: short episodes (`--episode-s`, default 20 simulated minutes) of the twin (8 x H100), each
// a random slice of the azure-conv or azure-code trace at a random load scale, driven by the agent loop
// through the safety shield exactly as `twin run` does. Every decision (10 s) the policy sees
// rl_state() (decide/rl_policy.hpp) and picks one fleet-level setting (serving fraction x SM clock cap x
// batch cap). Reward per decision: minus the fleet's IT energy in the interval over the energy of
// every GPU at 700 W (the energy term, 0..-1), minus `miss_penalty` x the fraction of requests missing
// the SLO over the last minute, minus `miss_penalty` x how far p99 TTFT/TPOT exceed the SLO.
// PPO: clipped objective, GAE(lambda), separate actor and critic MLPs (tanh), Adam.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "act/audit_sink.hpp"
#include "act/shield/safety_shield.hpp"
#include "agent/agent_loop.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/rl_policy.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/scenario.hpp"
#include "twin/twin_world.hpp"

namespace jp = joulepilot;

namespace {

struct Options {
    std::string data_dir = "data";
    std::string out = "data/models/rl_policy.json";
    double minutes = 20;         // wall-clock training budget
    double episode_s = 1200;     // simulated seconds per episode
    int episodes_per_update = 8;
    int epochs = 4;
    int hidden = 64;
    double lr = 3e-4;
    double gamma = 0.98;
    double lambda = 0.95;
    double clip = 0.2;
    double entropy = 0.01;
    double miss_penalty = 4;
    std::uint64_t seed = 1;
    std::string curve;           // CSV of the learning curve
};

// The discrete actions: serving fraction x clock cap x batch cap.
std::vector<jp::learn::PolicyAction> make_actions() {
    std::vector<jp::learn::PolicyAction> actions;
    for (double fraction : {0.25, 0.5, 0.75, 1.0}) {
        for (double mhz : {1980.0, 1500.0, 1260.0}) {
            for (int cap : {128, 256}) actions.push_back({fraction, mhz, cap});
        }
    }
    return actions;
}

torch::nn::Sequential mlp(int in, int hidden, int out) {
    return torch::nn::Sequential(torch::nn::Linear(in, hidden), torch::nn::Tanh(), torch::nn::Linear(hidden, hidden),
                                 torch::nn::Tanh(), torch::nn::Linear(hidden, out));
}

struct Step {
    std::vector<float> state;
    int action = 0;
    float logp = 0;
    float value = 0;
    float reward = 0;
};

// The policy the agent loop runs during an episode: samples the actor, records the transition, and
// scores the previous decision's interval.
class TrainingPolicy final : public jp::decide::Policy {
public:
    TrainingPolicy(torch::nn::Sequential& actor, torch::nn::Sequential& critic, const jp::twin::FleetSim& fleet,
                   const std::vector<jp::learn::PolicyAction>& actions, const torch::Tensor& mean,
                   const torch::Tensor& sd, double miss_penalty, std::vector<Step>& steps,
                   std::vector<std::vector<float>>& raw_states, std::mt19937_64& rng)
        : m_actor(actor), m_critic(critic), m_fleet(fleet), m_actions(actions), m_mean(mean), m_sd(sd),
          m_miss_penalty(miss_penalty), m_steps(steps), m_raw(raw_states), m_rng(rng) {}

    [[nodiscard]] std::string_view name() const override { return "rl-training"; }

    jp::decide::Decision decide(const jp::learn::ModelState& state, const jp::act::KnobSpace& knobs,
                                const jp::decide::Constraints& constraints) override {
        jp::decide::Decision decision;
        const jp::decide::SearchSpace all;
        const jp::decide::CandidateGrid grid = jp::decide::make_grid(knobs, all);
        auto x = jp::decide::rl_state(state.window, constraints, grid.replicas, 10);
        const double energy = m_fleet.total_it_energy_j();
        if (!x) return decision;
        if (m_open) {
            // Score the interval since the last decision.
            const double dt = std::max(1.0, state.now.value() - m_last_t);
            const double e_term = (energy - m_last_energy) / (grid.replicas * 700.0 * dt);
            const double miss = (*x)[5];
            const double over = std::max(0.0, std::max((*x)[3], (*x)[4]) - 1.0);
            m_steps.back().reward = static_cast<float>(-e_term - m_miss_penalty * (miss + std::min(over, 2.0)));
        }
        m_raw.emplace_back(x->begin(), x->end());
        std::vector<float> s(x->begin(), x->end());
        torch::NoGradGuard no_grad;
        const torch::Tensor in = (torch::tensor(s).unsqueeze(0) - m_mean) / m_sd;
        const torch::Tensor logits = m_actor->forward(in);
        const torch::Tensor probs = torch::softmax(logits, 1).squeeze(0);
        const int a = static_cast<int>(torch::multinomial(probs, 1).item<int64_t>());
        Step step;
        step.state = s;
        step.action = a;
        step.logp = std::log(std::max(probs[a].item<float>(), 1e-12F));
        step.value = m_critic->forward(in).item<float>();
        m_steps.push_back(std::move(step));
        m_open = true;
        m_last_energy = energy;
        m_last_t = state.now.value();

        const jp::learn::PolicyAction& action = m_actions[static_cast<std::size_t>(a)];
        jp::decide::FleetAction target;
        target.active = std::clamp(static_cast<int>(std::ceil(action.active_fraction * grid.replicas - 1e-9)), 1,
                                   grid.replicas);
        target.config = grid.defaults;
        target.config.clock_mhz = action.clock_mhz;
        target.config.batch_cap = action.batch_cap;
        decision.settings = jp::decide::actuate(knobs, jp::decide::replica_states(state.window, grid.replicas), target,
                                                jp::decide::kBatching | jp::decide::kClocks | jp::decide::kReplicas);
        decision.rationale = "rl-training";
        return decision;
    }

private:
    torch::nn::Sequential& m_actor;
    torch::nn::Sequential& m_critic;
    const jp::twin::FleetSim& m_fleet;
    const std::vector<jp::learn::PolicyAction>& m_actions;
    torch::Tensor m_mean;
    torch::Tensor m_sd;
    double m_miss_penalty;
    std::vector<Step>& m_steps;
    std::vector<std::vector<float>>& m_raw;
    std::mt19937_64& m_rng;
    bool m_open = false;
    double m_last_energy = 0;
    double m_last_t = 0;
};

nlohmann::json layer_json(const torch::nn::Linear& linear, const char* activation) {
    const torch::Tensor w = linear->weight.detach().contiguous();
    const torch::Tensor b = linear->bias.detach().contiguous();
    return {{"in", w.size(1)},
            {"out", w.size(0)},
            {"activation", activation},
            {"weights", std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel())},
            {"bias", std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + b.numel())}};
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("Train the `rl` policy (PPO, libtorch) in the twin and write its weights file");
    app.add_option("--data-dir", o.data_dir, "joulepilot's data folder (calibration, traces)")->capture_default_str();
    app.add_option("--out", o.out, "weights file to write")->capture_default_str();
    app.add_option("--minutes", o.minutes, "wall-clock training budget")->check(CLI::Range(0.1, 600.0))->capture_default_str();
    app.add_option("--episode-s", o.episode_s, "simulated seconds per episode")->check(CLI::Range(120.0, 7200.0))->capture_default_str();
    app.add_option("--seed", o.seed, "random seed")->capture_default_str();
    app.add_option("--miss-penalty", o.miss_penalty, "reward penalty per unit of SLO miss")->capture_default_str();
    app.add_option("--curve", o.curve, "write the learning curve as CSV to this file");
    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::warn);
    torch::manual_seed(static_cast<std::uint64_t>(o.seed));
    torch::set_num_threads(1);
    const auto wall_start = std::chrono::steady_clock::now();
    const auto wall_s = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    };

    auto model = jp::twin::ReplicaModel::calibrated(o.data_dir);
    if (!model) {
        std::cerr << "train rl: " << model.error().message << "\n";
        return 1;
    }
    auto facility = jp::twin::FacilityModel::load(o.data_dir, "US-CAL-CISO", {}, {});
    if (!facility) {
        std::cerr << "train rl: " << facility.error().message << "\n";
        return 1;
    }
    jp::twin::FleetConfig fleet;
    // The training workloads: both Azure hours at several load scales, built once.
    std::vector<jp::twin::Scenario> scenarios;
    for (const char* name : {"azure-conv", "azure-code"}) {
        for (double scale : {0.25, 0.5, 0.75}) {
            jp::twin::ScenarioOptions so;
            so.scenario = name;
            so.scale_peak = scale;
            so.gpus = fleet.gpus;
            auto s = jp::twin::build_scenario(so, *model, fleet.defaults, o.data_dir);
            if (!s) {
                std::cerr << "train rl: " << s.error().message << "\n";
                return 1;
            }
            scenarios.push_back(std::move(*s));
        }
    }

    const std::vector<jp::learn::PolicyAction> actions = make_actions();
    const auto& features = jp::decide::rl_state_features();
    const int n_in = static_cast<int>(features.size());
    const int n_out = static_cast<int>(actions.size());
    torch::nn::Sequential actor = mlp(n_in, o.hidden, n_out);
    torch::nn::Sequential critic = mlp(n_in, o.hidden, 1);
    torch::optim::Adam optimizer(
        [&] {
            auto p = actor->parameters();
            auto c = critic->parameters();
            p.insert(p.end(), c.begin(), c.end());
            return p;
        }(),
        torch::optim::AdamOptions(o.lr));
    // Input normalisation: fixed from a first batch of states (random actions) so the file can record it.
    torch::Tensor mean = torch::zeros({n_in});
    torch::Tensor sd = torch::ones({n_in});

    std::mt19937_64 rng(o.seed);
    std::string knob_space;
    std::ofstream curve;
    if (!o.curve.empty()) {
        curve.open(o.curve);
        curve << "update,wall_s,episodes,mean_return,energy_ratio,missed_ratio\n";
    }
    std::cout << fmt::format("train rl: PPO, {} actions, {} state features, episodes of {:.0f} s, budget {:.1f} min\n",
                             n_out, n_in, o.episode_s, o.minutes);
    int update = 0;
    int episodes = 0;
    bool normalised = false;
    while (wall_s() < o.minutes * 60) {
        std::vector<std::vector<Step>> batch;
        std::vector<std::vector<float>> raw;
        double energy_ratio_sum = 0;
        double missed_sum = 0;
        for (int e = 0; e < o.episodes_per_update; ++e) {
            const jp::twin::Scenario& sc =
                scenarios[std::uniform_int_distribution<std::size_t>(0, scenarios.size() - 1)(rng)];
            const double latest = std::max(0.0, sc.duration_s - o.episode_s);
            const double t0 = std::uniform_real_distribution<double>(0, latest)(rng);
            jp::twin::Workload slice;
            for (const auto& r : sc.workload) {
                if (r.arrival.value() >= t0 && r.arrival.value() < t0 + o.episode_s) {
                    auto copy = r;
                    copy.arrival = jp::core::Seconds(r.arrival.value() - t0);
                    slice.push_back(copy);
                }
            }
            jp::twin::TwinWorld world(*model, *facility, fleet, std::move(slice), 1686726000 + t0);
            if (knob_space.empty()) knob_space = jp::decide::knob_space_signature([&] {
                jp::act::KnobSpace ks;
                for (auto& k : world.actuator().discover()) ks.add(k);
                return ks;
            }());
            jp::act::ShieldSettings shield_settings;
            shield_settings.mode = jp::act::ShieldMode::act;
            shield_settings.allow_unlisted = true;
            shield_settings.slo = {jp::core::Seconds(fleet.slo_ttft_s), jp::core::Seconds(fleet.slo_tpot_s), 0.99};
            jp::act::MemoryAuditSink audit;
            jp::act::SafetyShield shield({&world.actuator()}, shield_settings, &audit);
            std::vector<Step> steps;
            TrainingPolicy policy(actor, critic, world.fleet(), actions, mean, sd, o.miss_penalty, steps, raw, rng);
            jp::agent::LoopSettings loop_settings;
            loop_settings.constraints.slo_ttft = jp::core::Seconds(fleet.slo_ttft_s);
            loop_settings.constraints.slo_tpot = jp::core::Seconds(fleet.slo_tpot_s);
            jp::agent::AgentLoop loop(world.clock(), {&world.sensor()}, shield, policy, loop_settings);
            loop.run_until(jp::core::Seconds(o.episode_s));
            if (steps.size() < 2) continue;
            steps.pop_back();  // its interval was never scored
            const auto summary = world.summarize("train", "rl", 0);
            const double static_j = fleet.gpus * 700.0 * o.episode_s;
            energy_ratio_sum += world.fleet().total_it_energy_j() / static_j;
            missed_sum += 1 - summary.slo_attainment;
            batch.push_back(std::move(steps));
            ++episodes;
        }
        if (batch.empty()) continue;
        if (!normalised) {
            // Freeze the normalisation on the first batch's states; the network has not learned yet.
            torch::Tensor all = torch::empty({static_cast<int64_t>(raw.size()), n_in});
            for (std::size_t i = 0; i < raw.size(); ++i) all[static_cast<int64_t>(i)] = torch::tensor(raw[i]);
            mean = all.mean(0);
            sd = all.std(0).clamp_min(1e-3);
            normalised = true;
            std::cout << "train rl: input normalisation fixed from " << raw.size() << " states\n";
            continue;  // that batch was drawn before the normalisation: discard it
        }

        // GAE advantages and returns per episode.
        std::vector<float> s_all, logp_old, adv, ret;
        std::vector<int64_t> a_all;
        double return_sum = 0;
        for (const auto& steps : batch) {
            float next_value = 0;
            float gae = 0;
            std::vector<float> adv_ep(steps.size()), ret_ep(steps.size());
            for (std::size_t k = steps.size(); k-- > 0;) {
                const float delta = steps[k].reward + static_cast<float>(o.gamma) * next_value - steps[k].value;
                gae = delta + static_cast<float>(o.gamma * o.lambda) * gae;
                adv_ep[k] = gae;
                ret_ep[k] = gae + steps[k].value;
                next_value = steps[k].value;
                return_sum += steps[k].reward;
            }
            for (std::size_t k = 0; k < steps.size(); ++k) {
                s_all.insert(s_all.end(), steps[k].state.begin(), steps[k].state.end());
                a_all.push_back(steps[k].action);
                logp_old.push_back(steps[k].logp);
                adv.push_back(adv_ep[k]);
                ret.push_back(ret_ep[k]);
            }
        }
        const auto n = static_cast<int64_t>(a_all.size());
        const torch::Tensor S = (torch::tensor(s_all).view({n, n_in}) - mean) / sd;
        const torch::Tensor A = torch::tensor(a_all);
        const torch::Tensor LP = torch::tensor(logp_old);
        torch::Tensor ADV = torch::tensor(adv);
        ADV = (ADV - ADV.mean()) / (ADV.std() + 1e-8);
        const torch::Tensor RET = torch::tensor(ret);
        for (int epoch = 0; epoch < o.epochs; ++epoch) {
            const torch::Tensor perm = torch::randperm(n);
            for (int64_t start = 0; start < n; start += 256) {
                const torch::Tensor idx = perm.slice(0, start, std::min(n, start + 256));
                const torch::Tensor logits = actor->forward(S.index_select(0, idx));
                const torch::Tensor logp_all = torch::log_softmax(logits, 1);
                const torch::Tensor logp = logp_all.gather(1, A.index_select(0, idx).unsqueeze(1)).squeeze(1);
                const torch::Tensor ratio = torch::exp(logp - LP.index_select(0, idx));
                const torch::Tensor adv_b = ADV.index_select(0, idx);
                const torch::Tensor policy_loss =
                    -torch::min(ratio * adv_b, torch::clamp(ratio, 1 - o.clip, 1 + o.clip) * adv_b).mean();
                const torch::Tensor value = critic->forward(S.index_select(0, idx)).squeeze(1);
                const torch::Tensor value_loss = (value - RET.index_select(0, idx)).pow(2).mean();
                const torch::Tensor entropy = -(logp_all.exp() * logp_all).sum(1).mean();
                const torch::Tensor loss = policy_loss + 0.5 * value_loss - o.entropy * entropy;
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        ++update;
        const double k = static_cast<double>(batch.size());
        const std::string line = fmt::format("{},{:.1f},{},{:.3f},{:.4f},{:.4f}", update, wall_s(), episodes,
                                             return_sum / k, energy_ratio_sum / k, missed_sum / k);
        std::cout << fmt::format("update {:3d} | {:6.1f} s | {:4d} episodes | return {:8.3f} | energy/all-on-700W {:.3f} | "
                                 "missed {:.4f}\n",
                                 update, wall_s(), episodes, return_sum / k, energy_ratio_sum / k, missed_sum / k);
        if (curve) curve << line << "\n";
    }

    // The weights file (decide/rl_policy.hpp reads it).
    auto linears = [](torch::nn::Sequential& net) {
        std::vector<torch::nn::Linear> out;
        for (const auto& m : net->children()) {
            if (auto l = std::dynamic_pointer_cast<torch::nn::LinearImpl>(m)) out.emplace_back(l);
        }
        return out;
    };
    nlohmann::json j;
    j["format"] = "joulepilot-rl-policy";
    j["version"] = 1;
    j["knob_space"] = knob_space;
    j["features"] = features;
    j["input_mean"] = std::vector<float>(mean.data_ptr<float>(), mean.data_ptr<float>() + n_in);
    j["input_sd"] = std::vector<float>(sd.data_ptr<float>(), sd.data_ptr<float>() + n_in);
    for (const auto& a : actions) {
        j["actions"].push_back({{"active_fraction", a.active_fraction}, {"clock_mhz", a.clock_mhz}, {"batch_cap", a.batch_cap}});
    }
    const auto layers = linears(actor);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        j["layers"].push_back(layer_json(layers[i], i + 1 < layers.size() ? "tanh" : "linear"));
    }
    j["trained"] = {{"method", "PPO (clipped), GAE"},
                    {"updates", update},
                    {"episodes", episodes},
                    {"episode_s", o.episode_s},
                    {"wall_s", wall_s()},
                    {"seed", o.seed},
                    {"miss_penalty", o.miss_penalty},
                    {"scenarios", "azure-conv, azure-code at scale_peak 0.25/0.5/0.75, random slices"}};
    std::ofstream file(o.out);
    if (!file) {
        std::cerr << "train rl: cannot write " << o.out << "\n";
        return 1;
    }
    file << j.dump() << "\n";
    std::cout << fmt::format("train rl: wrote {} after {} updates, {} episodes, {:.1f} s\n", o.out, update, episodes,
                             wall_s());
    return 0;
}
