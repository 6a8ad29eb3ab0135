#!/usr/bin/env bash
# Fails when a C file does not match the committed .clang-format.
set -euo pipefail
cd "$1"
mapfile -t files < <(git ls-files -- '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
((${#files[@]})) || { echo "format-check: no C files found" >&2; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "format-check: ${#files[@]} files match .clang-format"
