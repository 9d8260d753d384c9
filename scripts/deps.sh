#!/usr/bin/env bash
# Installs the Debian packages joulepilot builds and tests with, only those that are missing.
# On a machine that has everything it does nothing and needs no network.
# Runs `apt-get update` once, before the first install; uses sudo when not root.
set -euo pipefail

packages=(
    # toolchain
    g++ cmake make pkg-config git python3
    # test and benchmark frameworks
    libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
    # libraries (DESIGN.md section 7)
    libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev libexpected-dev
    libeigen3-dev libsqlite3-dev libcurl4-openssl-dev libcpp-httplib-dev coinor-libcbc-dev
    libssl-dev libyaml-cpp-dev prometheus-cpp-dev libxgboost-dev
    # integration tests and benchmarks: a real Prometheus server (and promtool), headless Chromium, wrk
    prometheus chromium wrk
    # dashboard and report charts, inlined at build time
    libjs-chart.js
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
