# Top-level entry points. CMake does the real work; this file only names the
# things a user types: `make`, `make demo`, `make test`.
#
#   build/        the host programs (build/bin/stm32isp), -O2, -Werror
#   build-asan/   the same sources with AddressSanitizer + UndefinedBehaviorSanitizer;
#                 `make test` runs every test against this tree
#   build-fw/     the ARM cross build of the master firmware (firmware/, its own
#                 CMake project with cmake/arm-none-eabi.cmake); built once
#                 firmware/CMakeLists.txt exists (issue 5)

MAKEFLAGS  += --no-print-directory
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FW   ?= build-fw
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN  := -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps host host-asan firmware demo test clean format

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
ifneq ($(wildcard firmware/CMakeLists.txt),)
	@cmake -S firmware -B $(BUILD_FW) -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/arm-none-eabi.cmake \
		-DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
	@cmake --build $(BUILD_FW) -j $(JOBS)
endif

demo: host
	@scripts/demo.sh $(BUILD)/bin/stm32isp

# Every test, lint gate included, is a ctest test, so the run ends with ctest's
# summary line. The optimised tree is built too: -O2 finds warnings -O0 misses.
test: host host-asan firmware
	@cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FW)
