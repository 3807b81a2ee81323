#!/usr/bin/env bash
# Cross-compiles Kestrel's kernels and their tests for aarch64 (NEON + dot product) into build-aarch64
# and checks that what was built really is an aarch64 program whose NEON/dotprod paths run under
# qemu-aarch64. scripts/test.sh then runs `ctest` in build-aarch64 (ctest goes through the emulator
# set in cmake/toolchain-aarch64.cmake).
# Usage: scripts/test-neon.sh [BUILD_DIR]     (default: build-aarch64 at the repository root)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-aarch64}
SYSROOT=/usr/aarch64-linux-gnu
JOBS=$(nproc)

fail() { echo "test-neon: $*" >&2; exit 1; }

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || fail "$tool not found (run scripts/install-deps.sh)"
done
[ -d /usr/src/googletest ] || fail "/usr/src/googletest not found (Debian package googletest)"

echo "test-neon: configuring $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-aarch64.cmake" \
  -DKESTREL_GTEST_FROM_SOURCE=ON -DKESTREL_TEST_AREAS=kernels \
  -DKESTREL_BUILD_BENCH=OFF -DKESTREL_FUZZ=OFF >/dev/null

echo "test-neon: building the kernel tests"
cmake --build "$BUILD" --target kestrel_tests -j"$JOBS"

# 1. The programs are aarch64 executables.
mapfile -t TESTS < <(find "$BUILD/bin" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
[ ${#TESTS[@]} -gt 0 ] || fail "no test programs in $BUILD/bin"
for t in "${TESTS[@]}"; do
  machine=$(readelf -h "$t" 2>/dev/null | sed -n 's/^ *Machine: *//p')
  [ "$machine" = "AArch64" ] || fail "$t is not an aarch64 program (machine: ${machine:-unknown})"
done

# 2. The NEON kernels are in the library and use the dot-product instruction.
LIB=$(find "$BUILD" -name 'libkestrel_kernels.a' | head -1)
[ -n "$LIB" ] || fail "libkestrel_kernels.a not found"
DISASM=$(aarch64-linux-gnu-objdump -d "$LIB")
grep -q 'neon_matmul_kernels' <<<"$DISASM" || fail "NEON matmul table missing from $LIB"
grep -qE '\ssdot\s' <<<"$DISASM" || fail "no sdot instruction in $LIB"

# 3. Under qemu the CPU reports ASIMD + dot product, so the tests compare Isa::Neon with scalar.
OUT=$(qemu-aarch64 -L "$SYSROOT" "$BUILD/bin/test_ops" --gtest_filter='OpsIsa.ReportsWhatIsTested' 2>&1) ||
  fail "test_ops did not run under qemu-aarch64: $OUT"
echo "$OUT" | grep -q 'SIMD ISAs compared with scalar: neon' || fail "NEON is not the ISA under test: $OUT"

echo "test-neon: built ${#TESTS[@]} aarch64 test programs; NEON + dotprod paths are tested (run ctest in $BUILD)"
