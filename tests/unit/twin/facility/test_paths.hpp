#pragma once
// Where the facility tests find their inputs: small malformed fixtures under tests/fixtures/facility, and
// the shipped data sets (JOULEPILOT_DATA_DIR in the environment, else the path compiled in).

#include <cstdlib>
#include <filesystem>

namespace joulepilot::twin::test {

inline std::filesystem::path fixtures_dir() {
    return std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "facility";
}

inline std::filesystem::path data_dir() {
    const char* env = std::getenv("JOULEPILOT_DATA_DIR");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                          : std::filesystem::path(JOULEPILOT_DATA_DIR);
}

}  // namespace joulepilot::twin::test
