#pragma once
// Where the replica tests find their inputs: small malformed fixtures under tests/fixtures/calibration,
// and the shipped data sets (JOULEPILOT_DATA_DIR in the environment, else the path compiled in).

#include <cstdlib>
#include <filesystem>

namespace joulepilot::twin::test {

inline std::filesystem::path calibration_fixtures() {
    return std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "calibration";
}

inline std::filesystem::path data_dir() {
    const char* env = std::getenv("JOULEPILOT_DATA_DIR");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                          : std::filesystem::path(JOULEPILOT_DATA_DIR);
}

}  // namespace joulepilot::twin::test
