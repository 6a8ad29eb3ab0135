# Top-level entry points. CMake does the real work; this file only names the
# things a user types: `make`, `make demo`, `make test`.
#
#   build/        the host programs (build/bin/stm32isp), -O2, -Werror
#   build-asan/   the same sources with AddressSanitizer + UndefinedBehaviorSanitizer;
#                 `make test` runs every test against this tree
#   build-fw/     the ARM cross build of the master firmware (firmware/, its own
#                 CMake project with cmake/arm-none-eabi.cmake)

MAKEFLAGS  += --no-print-directory
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FW   ?= build-fw
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN  := -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps host host-asan firmware size demo test clean format

all: host firmware

deps:
	@scripts/ensure-deps.sh

host: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_GEN) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

host-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSTM32ISP_SANITIZE=ON $(CMAKE_GEN) >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

firmware: deps
	@cmake -S firmware -B $(BUILD_FW) -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/arm-none-eabi.cmake $(CMAKE_GEN) \
		-DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
	@cmake --build $(BUILD_FW) -j $(JOBS)

# Flash and RAM of each board's firmware; fails when a board exceeds its
# limit: the Blue Pill's budget of 32 KiB flash / 10 KiB RAM, QEMU's
# stm32vldiscovery machine (128 KiB / 8 KiB) for the QEMU board (also a
# ctest gate; firmware/size.sh).
size: firmware
	@firmware/size.sh $(BUILD_FW) --check

demo: host
	@scripts/demo.sh $(BUILD)/bin/stm32isp

# Every test, lint gate included, is a ctest test, so the run ends with ctest's
# summary line. The optimised tree is built too: -O2 finds warnings -O0 misses.
# --no-tests=error: a tree that registers no test at all (a renamed file, a
# broken configure) fails instead of passing with nothing run.
test: host host-asan firmware
	@cd $(BUILD_ASAN) && ctest --no-tests=error --output-on-failure -j $(JOBS)

# libFuzzer targets (tests/fuzz, clang; docs/fuzzing.md). `make test` runs a
# short smoke of each as ctest tests fuzz.<target>; `make fuzz` runs each for
# FUZZ_SECONDS and prints a summary.
.PHONY: fuzz fuzz-build

fuzz-build: deps
	@FUZZ_BUILD=$(BUILD_FUZZ) tests/fuzz/smoke.sh --build-only

fuzz: deps
	@FUZZ_BUILD=$(BUILD_FUZZ) tests/fuzz/campaign.sh $(FUZZ_SECONDS)

# The fault campaign over the master's whole path (tests/reliability,
# docs/reliability.md): RELIABILITY_SEEDS runs per scenario, the table goes to
# $(BUILD)/reliability.md. `make test` runs a short version.
RELIABILITY_SEEDS ?= 300
.PHONY: reliability

reliability: host
	@$(BUILD)/bin/reliability_campaign --seeds $(RELIABILITY_SEEDS) --report $(BUILD)/reliability.md

# stm32isp flash against Debian's stm32flash, side by side on the simulator's
# virtual clock (tests/bench/bench.py, docs/benchmarks.md): 16, 64 and
# 128 KiB random images and a firmware with gaps; rewrites
# docs/benchmarks.md and fails when the 64 KiB ratio is above 0.55.
.PHONY: bench

bench: host firmware
	@tests/bench/bench.py $(BUILD)/bin/stm32isp --work $(BUILD)/bench --doc docs/benchmarks.md \
	    --bluepill $(BUILD)/bin/bluepill_bench --firmware $(BUILD_FW)/bluepill

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FW)
	rm -rf $(BUILD_FUZZ)
