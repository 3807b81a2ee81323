# Cross build for aarch64 Linux with Debian's g++-aarch64-linux-gnu; programs (tests, and the
# GoogleTest discovery step at build time) run under qemu-aarch64 with the cross sysroot.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DKESTREL_GTEST_FROM_SOURCE=ON -DKESTREL_TEST_AREAS=kernels -DKESTREL_BUILD_BENCH=OFF
# (scripts/test-neon.sh does exactly this).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(KESTREL_AARCH64_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${KESTREL_AARCH64_SYSROOT})
# Programs (cmake, qemu) come from the host; libraries, headers and CMake packages only from the
# sysroot, so host-only packages (x86 cpuinfo, gtest, benchmark) are never picked up.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest and gtest_discover_tests run the test programs through this.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${KESTREL_AARCH64_SYSROOT}")
