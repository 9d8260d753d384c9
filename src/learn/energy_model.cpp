#include "learn/energy_model.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xgboost/c_api.h>

#include "learn/conformal.hpp"

namespace joulepilot::learn {
namespace {

constexpr const char* kFormat = "joulepilot-energy-model";
constexpr int kVersion = 1;
// Latencies are learned as log(y); this floor keeps log finite for a request served in no time.
constexpr double kLogFloor = 1e-4;
// Mondrian conformal bins per target (by predicted value).
constexpr std::size_t kConformalBins = 6;

bool is_log_target(std::size_t t) {
    return t == static_cast<std::size_t>(Target::p99_ttft_s) || t == static_cast<std::size_t>(Target::p99_tpot_s);
}
double to_label(std::size_t t, double y) { return is_log_target(t) ? std::log(std::max(y, kLogFloor)) : y; }
double from_label(std::size_t t, double v) { return is_log_target(t) ? std::exp(v) : v; }

std::string last_error() { return XGBGetLastError(); }

// Owns one booster handle.
struct Booster {
    BoosterHandle handle = nullptr;
    Booster() = default;
    Booster(const Booster&) = delete;
    Booster& operator=(const Booster&) = delete;
    ~Booster() {
        if (handle != nullptr) XGBoosterFree(handle);
    }
};

struct Matrix {
    DMatrixHandle handle = nullptr;
    Matrix() = default;
    Matrix(const Matrix&) = delete;
    Matrix& operator=(const Matrix&) = delete;
    ~Matrix() {
        if (handle != nullptr) XGDMatrixFree(handle);
    }
};

// In-place prediction from a dense row-major float array. Returns XGBoost's own result buffer (n values),
// valid until the next prediction on this thread: no copy, and the array description is formatted into a
// stack buffer (a decision predicts several times; heap allocations there are pure overhead).
core::Result<const float*> predict_dense_view(BoosterHandle booster, std::span<const float> rows, std::size_t n) {
    std::array<char, 160> array{};
    const auto written = fmt::format_to_n(array.data(), array.size() - 1,
                                          R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                                          reinterpret_cast<std::uintptr_t>(rows.data()), n, kFeatureCount);
    *written.out = '\0';
    static const char* config =
        R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster, array.data(), config, nullptr, &shape, &dim, &result) != 0) {
        return core::fail("energy model: prediction failed: " + last_error());
    }
    return result;
}

// The same, copied into `out` (training and evaluation).
core::Result<void> predict_dense(BoosterHandle booster, std::span<const float> rows, std::size_t n,
                                 std::vector<float>& out) {
    auto result = predict_dense_view(booster, rows, n);
    if (!result) return tl::unexpected(result.error());
    out.assign(*result, *result + n);
    return {};
}

}  // namespace

const char* target_name(Target t) {
    switch (t) {
        case Target::power_w: return "power_w";
        case Target::p99_ttft_s: return "p99_ttft_s";
        case Target::p99_tpot_s: return "p99_tpot_s";
        case Target::throughput_tps: return "throughput_tps";
    }
    return "?";
}

struct EnergyModel::Impl {
    std::array<Booster, kTargetCount> boosters;
    std::array<double, kTargetCount> q{};
    std::array<BinnedQuantiles, kTargetCount> bins{};
    double alpha = 0.05;
};

EnergyModel::EnergyModel(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
EnergyModel::EnergyModel(EnergyModel&&) noexcept = default;
EnergyModel& EnergyModel::operator=(EnergyModel&&) noexcept = default;
EnergyModel::~EnergyModel() = default;

core::Result<EnergyModel> EnergyModel::train(std::span<const ModelRow> rows, std::string knob_space,
                                             const TrainOptions& options) {
    if (rows.size() < 50) return core::fail(fmt::format("energy model: {} rows is too few to train (need 50)", rows.size()));
    // Shuffle once, then fit | calibration | test.
    std::vector<std::size_t> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(options.seed);
    std::shuffle(order.begin(), order.end(), rng);
    const auto n = rows.size();
    const auto n_test = static_cast<std::size_t>(std::round(options.test_fraction * static_cast<double>(n)));
    const auto n_cal = static_cast<std::size_t>(std::round(options.calibration_fraction * static_cast<double>(n)));
    const std::size_t n_fit = n - n_test - n_cal;
    auto gather = [&](std::size_t from, std::size_t count) {
        std::vector<float> x;
        x.reserve(count * kFeatureCount);
        for (std::size_t i = from; i < from + count; ++i) {
            const ModelRow& row = rows[order[i]];
            x.insert(x.end(), row.x.begin(), row.x.end());
        }
        return x;
    };
    const std::vector<float> x_fit = gather(0, n_fit);
    const std::vector<float> x_cal = gather(n_fit, n_cal);
    const std::vector<float> x_test = gather(n_fit + n_cal, n_test);

    auto impl = std::make_unique<Impl>();
    impl->alpha = options.alpha;
    TestReport report;
    report.fit_rows = n_fit;
    report.calibration_rows = n_cal;
    report.test_rows = n_test;
    for (std::size_t t = 0; t < kTargetCount; ++t) {
        Matrix train;
        if (XGDMatrixCreateFromMat(x_fit.data(), n_fit, kFeatureCount, NAN, &train.handle) != 0) {
            return core::fail("energy model: " + last_error());
        }
        std::vector<float> labels;
        for (std::size_t i = 0; i < n_fit; ++i) labels.push_back(static_cast<float>(to_label(t, rows[order[i]].y[t])));
        if (XGDMatrixSetFloatInfo(train.handle, "label", labels.data(), n_fit) != 0) {
            return core::fail("energy model: " + last_error());
        }
        Booster& booster = impl->boosters[t];
        const DMatrixHandle matrices[] = {train.handle};
        if (XGBoosterCreate(matrices, 1, &booster.handle) != 0) return core::fail("energy model: " + last_error());
        const std::string depth = std::to_string(options.max_depth);
        const std::string eta = fmt::format("{}", options.eta);
        const std::string seed = std::to_string(options.seed);
        for (const auto& [key, value] : {std::pair<const char*, const char*>{"objective", "reg:squarederror"},
                                          {"max_depth", depth.c_str()},
                                          {"eta", eta.c_str()},
                                          {"nthread", "1"},
                                          {"seed", seed.c_str()},
                                          {"tree_method", "hist"}}) {
            if (XGBoosterSetParam(booster.handle, key, value) != 0) return core::fail("energy model: " + last_error());
        }
        for (int round = 0; round < options.rounds; ++round) {
            if (XGBoosterUpdateOneIter(booster.handle, round, train.handle) != 0) {
                return core::fail("energy model: " + last_error());
            }
        }
        // Conformal quantile of the signed residuals on the calibration rows (label space).
        std::vector<float> predicted;
        if (auto ok = predict_dense(booster.handle, x_cal, n_cal, predicted); !ok) return tl::unexpected(ok.error());
        std::vector<double> residuals;
        for (std::size_t i = 0; i < n_cal; ++i) {
            residuals.push_back(to_label(t, rows[order[n_fit + i]].y[t]) - predicted[i]);
        }
        impl->q[t] = conformal_upper_quantile(residuals, options.alpha);
        const std::vector<double> cal_predictions(predicted.begin(), predicted.end());
        impl->bins[t] = binned_conformal(cal_predictions, residuals, options.alpha, kConformalBins);
        // Held-out error, in the target's own unit.
        if (auto ok = predict_dense(booster.handle, x_test, n_test, predicted); !ok) return tl::unexpected(ok.error());
        TargetError& error = report.targets[t];
        error.conformal_q = impl->q[t];
        std::vector<double> test_residuals;
        double mape_sum = 0;
        std::size_t mape_n = 0;
        for (std::size_t i = 0; i < n_test; ++i) {
            const double y = rows[order[n_fit + n_cal + i]].y[t];
            const double yhat = from_label(t, predicted[i]);
            error.mae += std::abs(yhat - y);
            if (std::abs(y) > 1e-9) {
                mape_sum += std::abs(yhat - y) / std::abs(y);
                ++mape_n;
            }
            // Coverage of the binned bound: residual <= q of the prediction's bin.
            test_residuals.push_back(to_label(t, y) - predicted[i] - impl->bins[t].at(predicted[i]));
        }
        error.mae /= std::max<std::size_t>(1, n_test);
        error.mape = mape_n > 0 ? mape_sum / static_cast<double>(mape_n) : 0;
        error.upper_coverage = conformal_coverage(test_residuals, 0.0);
    }
    EnergyModel model(std::move(impl));
    model.m_knob_space = std::move(knob_space);
    model.m_report = report;
    return model;
}

core::Result<void> EnergyModel::save(const std::filesystem::path& path) const {
    nlohmann::json doc;
    doc["format"] = kFormat;
    doc["version"] = kVersion;
    doc["knob_space"] = m_knob_space;
    doc["features"] = std::vector<std::string>(kEnergyModelFeatures.begin(), kEnergyModelFeatures.end());
    doc["alpha"] = m_impl->alpha;
    doc["test"] = {{"fit_rows", m_report.fit_rows},
                   {"calibration_rows", m_report.calibration_rows},
                   {"test_rows", m_report.test_rows}};
    for (std::size_t t = 0; t < kTargetCount; ++t) {
        bst_ulong length = 0;
        const char* buffer = nullptr;
        if (XGBoosterSaveModelToBuffer(m_impl->boosters[t].handle, R"({"format": "json"})", &length, &buffer) != 0) {
            return core::fail("energy model: " + last_error());
        }
        const TargetError& e = m_report.targets[t];
        nlohmann::json target;
        target["name"] = target_name(static_cast<Target>(t));
        target["log_space"] = is_log_target(t);
        target["conformal_q"] = std::isfinite(m_impl->q[t]) ? nlohmann::json(m_impl->q[t]) : nlohmann::json(nullptr);
        target["conformal_bins"] = {{"edges", m_impl->bins[t].edges}, {"q", m_impl->bins[t].q}};
        target["test_mae"] = e.mae;
        target["test_mape"] = e.mape;
        target["test_upper_coverage"] = e.upper_coverage;
        target["booster"] = nlohmann::json::parse(std::string(buffer, length));
        doc["targets"].push_back(std::move(target));
    }
    std::ofstream file(path);
    file << doc.dump() << "\n";
    if (!file) return core::fail(fmt::format("cannot write the model file {}", path.string()));
    return {};
}

core::Result<EnergyModel> EnergyModel::load(const std::filesystem::path& path, const std::string& expected_knob_space) {
    const std::string where = path.string();
    std::ifstream file(path);
    if (!file) {
        return core::fail(fmt::format("model file {}: cannot be read (train one with `joulepilot train model --out {}`)",
                                      where, where));
    }
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(file);
    } catch (const nlohmann::json::exception& e) {
        return core::fail(fmt::format("model file {}: not valid JSON ({}); retrain it with `joulepilot train model`",
                                      where, e.what()));
    }
    try {
        if (!doc.is_object() || doc.value("format", "") != kFormat) {
            return core::fail(fmt::format("model file {}: not a joulepilot energy model", where));
        }
        if (doc.value("version", 0) != kVersion) {
            return core::fail(fmt::format("model file {}: version {} (this build reads {}); retrain it", where,
                                          doc.value("version", 0), kVersion));
        }
        const std::string knob_space = doc.at("knob_space").get<std::string>();
        if (!expected_knob_space.empty() && knob_space != expected_knob_space) {
            return core::fail(fmt::format(
                "model file {}: trained for another knob space ({}), this fleet has ({}); retrain it with "
                "`joulepilot train model`",
                where, knob_space, expected_knob_space));
        }
        const auto features = doc.at("features").get<std::vector<std::string>>();
        if (features != std::vector<std::string>(kEnergyModelFeatures.begin(), kEnergyModelFeatures.end())) {
            return core::fail(fmt::format("model file {}: trained on other features; retrain it", where));
        }
        const auto& targets = doc.at("targets");
        if (!targets.is_array() || targets.size() != kTargetCount) {
            return core::fail(fmt::format("model file {}: expected {} targets", where, kTargetCount));
        }
        auto impl = std::make_unique<Impl>();
        impl->alpha = doc.value("alpha", 0.05);
        TestReport report;
        report.fit_rows = doc.at("test").value("fit_rows", 0U);
        report.calibration_rows = doc.at("test").value("calibration_rows", 0U);
        report.test_rows = doc.at("test").value("test_rows", 0U);
        for (std::size_t t = 0; t < kTargetCount; ++t) {
            const auto& target = targets[t];
            if (target.at("name").get<std::string>() != target_name(static_cast<Target>(t))) {
                return core::fail(fmt::format("model file {}: target {} is not {}", where, t,
                                              target_name(static_cast<Target>(t))));
            }
            const auto& q = target.at("conformal_q");
            impl->q[t] = q.is_number() ? q.get<double>() : std::numeric_limits<double>::infinity();
            impl->bins[t].edges = target.at("conformal_bins").at("edges").get<std::vector<double>>();
            impl->bins[t].q = target.at("conformal_bins").at("q").get<std::vector<double>>();
            if (impl->bins[t].q.size() != impl->bins[t].edges.size() + 1) {
                return core::fail(fmt::format("model file {}: conformal bins of {} do not match", where,
                                              target_name(static_cast<Target>(t))));
            }
            report.targets[t] = {target.value("test_mae", 0.0), target.value("test_mape", 0.0),
                                 target.value("test_upper_coverage", 0.0), impl->q[t]};
            const std::string booster = target.at("booster").dump();
            if (XGBoosterCreate(nullptr, 0, &impl->boosters[t].handle) != 0 ||
                XGBoosterLoadModelFromBuffer(impl->boosters[t].handle, booster.data(), booster.size()) != 0) {
                return core::fail(fmt::format("model file {}: booster {} is corrupt ({})", where,
                                              target_name(static_cast<Target>(t)), last_error()));
            }
            if (XGBoosterSetParam(impl->boosters[t].handle, "nthread", "1") != 0) {
                return core::fail("energy model: " + last_error());
            }
        }
        EnergyModel model(std::move(impl));
        model.m_knob_space = knob_space;
        model.m_report = report;
        return model;
    } catch (const nlohmann::json::exception& e) {
        return core::fail(fmt::format("model file {}: missing or malformed field ({}); retrain it", where, e.what()));
    }
}

core::Result<void> EnergyModel::predict(std::span<const float> rows, std::span<Prediction> out) const {
    for (std::size_t t = 0; t < kTargetCount; ++t) {
        if (auto ok = predict_target(static_cast<Target>(t), rows, out); !ok) return ok;
    }
    return {};
}

core::Result<void> EnergyModel::predict_target(Target target, std::span<const float> rows,
                                               std::span<Prediction> out) const {
    const std::size_t n = out.size();
    if (rows.size() != n * kFeatureCount) return core::fail("energy model: rows and outputs differ in size");
    if (n == 0) return {};
    const auto t = static_cast<std::size_t>(target);
    auto values = predict_dense_view(m_impl->boosters[t].handle, rows, n);
    if (!values) return tl::unexpected(values.error());
    const BinnedQuantiles& bins = m_impl->bins[t];
    for (std::size_t i = 0; i < n; ++i) {
        const double v = (*values)[i];
        out[i].point[t] = from_label(t, v);
        out[i].upper[t] = from_label(t, v + bins.at(v));
    }
    return {};
}

}  // namespace joulepilot::learn
