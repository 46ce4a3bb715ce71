#!/usr/bin/env bash
# Builds and runs the native C++ unit tests (test/native/test_*.cc) under
# ASan/UBSan, one compiler process at a time; those with a "// tsan:" line (threads
# that share state) once more under ThreadSanitizer, where any report fails them. With
# FUZZ_SECONDS > 0 and a clang++ that links -fsanitize=fuzzer, also runs the NVMe/TCP PDU fuzzer.
#
#   CXX=clang++ scripts/test-native.sh
#   FUZZ_SECONDS=60 scripts/test-native.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CXX="${CXX:-g++}"
FUZZ_SECONDS="${FUZZ_SECONDS:-0}"
OUT=build/native-tests
# UBSan only reports by default; make any finding fail the test binary.
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
CXXFLAGS=(-std=c++17 -O1 -g -Wall -Wextra -Werror "${SAN[@]}" -Inative)

mkdir -p "$OUT/obj"
passed=0
failed=0

# Shared sources are compiled once; a build failure fails every test binary.
objs=()
lib_ok=1
for src in native/util/*.cc; do
  obj="$OUT/obj/$(basename "${src%.cc}").o"
  if ! "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj"; then
    echo "BUILD FAILED: $src"
    lib_ok=0
  fi
  objs+=("$obj")
done

for src in test/native/test_*.cc; do
  name="$(basename "${src%.cc}")"
  echo "== $name"
  # A test names the engine sources it needs beyond native/util in a "// test-sources:" line.
  read -r -a extra <<< "$(sed -n 's|^// test-sources: ||p' "$src")"
  if [[ $lib_ok -eq 1 ]] && "$CXX" "${CXXFLAGS[@]}" "$src" "${extra[@]}" "${objs[@]}" -lpthread -lssl -lcrypto -o "$OUT/$name"; then
    if "$OUT/$name"; then
      passed=$((passed + 1))
    else
      echo "FAILED: $name"
      failed=$((failed + 1))
    fi
  else
    echo "BUILD FAILED: $name"
    failed=$((failed + 1))
  fi
done

# ThreadSanitizer cannot share a binary with ASan: its own build of the shared sources.
TSAN_FLAGS=(-std=c++17 -O1 -g -Wall -Wextra -Werror -fsanitize=thread -Inative)
mkdir -p "$OUT/tsan"
tsan_objs=()
for src in native/util/*.cc; do
  obj="$OUT/tsan/$(basename "${src%.cc}").o"
  "$CXX" "${TSAN_FLAGS[@]}" -c "$src" -o "$obj" || lib_ok=0
  tsan_objs+=("$obj")
done
for src in $(grep -l '^// tsan:' test/native/test_*.cc); do
  name="$(basename "${src%.cc}")"
  echo "== $name (ThreadSanitizer)"
  read -r -a extra <<< "$(sed -n 's|^// test-sources: ||p' "$src")"
  if [[ $lib_ok -eq 1 ]] && "$CXX" "${TSAN_FLAGS[@]}" "$src" "${extra[@]}" "${tsan_objs[@]}" -lpthread -lssl -lcrypto -o "$OUT/tsan/$name" &&
    TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$OUT/tsan/$name"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name (ThreadSanitizer)"
    failed=$((failed + 1))
  fi
done

have_libfuzzer() {
  command -v clang++ >/dev/null 2>&1 && clang++ --version >/dev/null 2>&1 || return 1
  local probe="$OUT/libfuzzer-probe"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe.cc"
  clang++ -fsanitize=fuzzer "$probe.cc" -o "$probe" >/dev/null 2>&1
}

if [[ "$FUZZ_SECONDS" -gt 0 ]]; then
  if have_libfuzzer; then
    for src in test/native/fuzz_*.cc; do
      name="$(basename "${src%.cc}")"
      echo "== $name (${FUZZ_SECONDS}s)"
      read -r -a extra <<< "$(sed -n 's|^// test-sources: ||p' "$src")"
      mkdir -p "$OUT/corpus-$name"
      if clang++ -std=c++17 -O1 -g -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -Inative "$src" "${extra[@]}" native/util/*.cc -ldl -lpthread -lssl -lcrypto -o "$OUT/$name" &&
        "$OUT/$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 "$OUT/corpus-$name"; then
        passed=$((passed + 1))
      else
        echo "FAILED: $name"
        failed=$((failed + 1))
      fi
    done
  else
    echo "== fuzzing skipped: clang++ with libFuzzer not available"
  fi
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
