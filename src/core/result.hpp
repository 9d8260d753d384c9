#pragma once
// Result<T>: the return type of every operation the environment can make fail (missing file,
// permission, unsupported hardware, bad input). The error names what failed and where, e.g.
// "rapl: read energy_uj (intel-rapl:0): permission denied".

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace joulepilot::core {

struct Error {
    std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

// Shorthand for returning an error: `return fail("trace {}: line {}: ...", path, line);`
inline tl::unexpected<Error> fail(std::string message) { return tl::unexpected<Error>(Error{std::move(message)}); }

}  // namespace joulepilot::core
