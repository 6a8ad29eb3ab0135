#!/usr/bin/env bash
# Makes sure the Debian packages the build and the tests need are installed.
#
# Run as root (CI, a fresh container) it installs what is missing with apt-get.
# Run as a normal user it prints the exact apt-get line and fails, because a
# build that silently skips a test gate would report a success it has not earned.
set -euo pipefail

packages=(
    cmake make gcc pkg-config  # host build
    libcmocka-dev              # unit tests
    libelf-dev                 # ELF images (stm32isp flash, pack)
    clang-format cppcheck clang-tidy  # lint gates in `make test`
    clang libclang-rt-14-dev   # libFuzzer targets (tests/fuzz): `make fuzz`, smoke in `make test`
    stm32flash                 # interop test: a client nobody here wrote
    python3                    # the demo and interop tests check results independently
    gcc-arm-none-eabi binutils-arm-none-eabi  # MCU build of the library, test ELF images
    libnewlib-arm-none-eabi    # the master firmware's C library (newlib-nano)
    qemu-system-arm            # the master firmware run under QEMU in `make test`
    libunicorn-dev             # the CPU of the virtual STM32F1 (sim/mcu)
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    echo "ensure-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    exit 0
fi

echo "ensure-deps: missing Debian packages: ${missing[*]}" >&2
echo "ensure-deps: install them with:" >&2
echo "    sudo apt-get install -y ${missing[*]}" >&2
exit 1
