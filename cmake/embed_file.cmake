# Writes OUTPUT, a C++ source defining `extern const std::string_view SYMBOL` with the bytes of INPUT.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include <string_view>\n"
    "namespace joulepilot::assets {\nstatic const unsigned char kBytes[] = {${bytes}0};\n"
    "extern const std::string_view ${SYMBOL};\n"
    "const std::string_view ${SYMBOL}(reinterpret_cast<const char*>(kBytes), ${size});\n}\n")
