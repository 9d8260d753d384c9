#include "learn/energy_model.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

namespace joulepilot::learn {
namespace {

// Synthetic rows with a known answer: power is linear in load, latencies exponential.
std::vector<ModelRow> synthetic(int n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<ModelRow> rows;
    for (int i = 0; i < n; ++i) {
        const double rps = 6 * u(rng);
        const double fp8 = u(rng) < 0.5 ? 1 : 0;
        ModelRow row;
        row.x = {static_cast<float>(rps), static_cast<float>(rps * 900), static_cast<float>(rps * 300), 1980, 700,
                 256, static_cast<float>(fp8)};
        row.y = {120 + 80 * rps - 30 * fp8, 0.05 * std::exp(rps / 2), 0.01 + 0.003 * rps, 300 * rps};
        rows.push_back(row);
    }
    return rows;
}

class EnergyModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        TrainOptions options;
        options.rounds = 60;
        auto trained = EnergyModel::train(synthetic(600, 1), "knobs-A", options);
        ASSERT_TRUE(trained.has_value()) << trained.error().message;
        model = std::make_unique<EnergyModel>(std::move(*trained));
        path = std::filesystem::temp_directory_path() / ("jp_energy_model_" + std::to_string(::getpid()) + ".json");
    }
    void TearDown() override { std::filesystem::remove(path); }

    std::unique_ptr<EnergyModel> model;
    std::filesystem::path path;
};

TEST_F(EnergyModelTest, LearnsTheFunctionAndReportsHeldOutError) {
    const TestReport& r = model->test_report();
    EXPECT_EQ(r.fit_rows + r.calibration_rows + r.test_rows, 600U);
    EXPECT_EQ(r.test_rows, 120U);
    EXPECT_LT(r.targets[static_cast<std::size_t>(Target::power_w)].mape, 0.05);
    EXPECT_GT(r.targets[static_cast<std::size_t>(Target::p99_ttft_s)].upper_coverage, 0.85);

    const std::vector<float> row{3, 2700, 900, 1980, 700, 256, 0};
    std::vector<Prediction> out(1);
    ASSERT_TRUE(model->predict(row, out).has_value());
    EXPECT_NEAR(out[0].point[0], 360, 20);
    EXPECT_NEAR(out[0].point[1], 0.05 * std::exp(1.5), 0.03);
    for (std::size_t t = 0; t < kTargetCount; ++t) EXPECT_GE(out[0].upper[t], out[0].point[t] - 1e-9);
}

TEST_F(EnergyModelTest, SavesAndLoadsToTheSamePredictions) {
    ASSERT_TRUE(model->save(path).has_value());
    auto loaded = EnergyModel::load(path, "knobs-A");
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
    const std::vector<float> rows{1, 900, 300, 1980, 700, 256, 1, 5, 4500, 1500, 1980, 700, 256, 0};
    std::vector<Prediction> a(2);
    std::vector<Prediction> b(2);
    ASSERT_TRUE(model->predict(rows, a).has_value());
    ASSERT_TRUE(loaded->predict(rows, b).has_value());
    for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t t = 0; t < kTargetCount; ++t) {
            EXPECT_NEAR(a[i].point[t], b[i].point[t], 1e-4 * std::max(1.0, std::abs(a[i].point[t])));
            EXPECT_NEAR(a[i].upper[t], b[i].upper[t], 1e-4 * std::max(1.0, std::abs(a[i].upper[t])));
        }
    }
}

TEST_F(EnergyModelTest, RefusesAnotherKnobSpace) {
    ASSERT_TRUE(model->save(path).has_value());
    auto loaded = EnergyModel::load(path, "knobs-B");
    ASSERT_FALSE(loaded.has_value());
    EXPECT_NE(loaded.error().message.find("another knob space"), std::string::npos) << loaded.error().message;
    EXPECT_NE(loaded.error().message.find(path.string()), std::string::npos);
}

TEST_F(EnergyModelTest, RefusesMissingCorruptAndForeignFiles) {
    auto missing = EnergyModel::load(path, "");
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("joulepilot train model"), std::string::npos);

    std::ofstream(path) << "{ not json";
    auto corrupt = EnergyModel::load(path, "");
    ASSERT_FALSE(corrupt.has_value());
    EXPECT_NE(corrupt.error().message.find("not valid JSON"), std::string::npos);

    std::ofstream(path) << R"({"format": "something-else"})";
    auto foreign = EnergyModel::load(path, "");
    ASSERT_FALSE(foreign.has_value());
    EXPECT_NE(foreign.error().message.find("not a joulepilot energy model"), std::string::npos);

    ASSERT_TRUE(model->save(path).has_value());
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find("\"learner\"");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 9, "\"lerner_\"");  // a booster XGBoost cannot read
    std::ofstream(path) << text;
    auto broken = EnergyModel::load(path, "");
    ASSERT_FALSE(broken.has_value());
    EXPECT_NE(broken.error().message.find("corrupt"), std::string::npos) << broken.error().message;
}

TEST(EnergyModel, TooFewRowsIsAnError) {
    auto model = EnergyModel::train(synthetic(10, 2), "k", TrainOptions{});
    ASSERT_FALSE(model.has_value());
    EXPECT_NE(model.error().message.find("too few"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::learn
