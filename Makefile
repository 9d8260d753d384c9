# joulepilot: the two set-up commands are `make run` and `make test` (see README.md).
# Every target installs what is missing first, so a fresh Debian 12 machine needs nothing else.

JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
DEBUG_DIR := build/debug
ASAN_DIR := build/asan
JOULEPILOT := $(RELEASE_DIR)/src/joulepilot

.PHONY: deps build build-debug run test test-asan bench format tidy clean

deps:
	@scripts/deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

build-debug: deps
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS)

# The main job: one real day of LLM serving on the digital twin, policies compared. Builds only the
# binary (tests and benchmarks are built by `make test` and `make bench`).
run: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target joulepilot
	$(JOULEPILOT) twin run

# Every test, on the release build (fast enough for the long end-to-end tests).
test: build
	ctest --preset release -j $(JOBS)

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (CI runs these too).
test-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS) --target unit_tests
	ctest --preset asan -j $(JOBS) -L unit

# Long benchmarks: never part of `make test`. Writes numbers quoted in docs/benchmarks.md.
bench: build
	scripts/bench.sh $(JOULEPILOT)

format:
	find src tests bench capi -name '*.cpp' -o -name '*.hpp' -o -name '*.h' | xargs clang-format -i

tidy: build
	run-clang-tidy -p $(RELEASE_DIR) src/ 2>/dev/null || clang-tidy -p $(RELEASE_DIR) $$(find src -name '*.cpp')

clean:
	rm -rf build
