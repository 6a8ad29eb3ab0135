#!/usr/bin/env bash
# cppcheck over every C source; any finding fails the test.
set -euo pipefail
cd "$1"
mapfile -t files < <(git ls-files -- '*.c' 2>/dev/null || find . -name '*.c' -not -path './build*')
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,style,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem --suppress=unusedFunction \
    -D_GNU_SOURCE -I lib/include -I sim/bootloader/include -I sim/eeprom/include -I tests/support -I ports/pc \
    -I tools/imagefile -I tools/stm32isp \
    "${files[@]}"
echo "cppcheck: ${#files[@]} files clean"
