# Cross-build for 64-bit ARM Linux (AArch64) with Debian's cross toolchain:
#   apt-get install gcc-aarch64-linux-gnu qemu-user-static
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libpcre2-dev:arm64 zlib1g-dev:arm64
#   (or: scripts/install-deps --cross)
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 -j2 && ctest --test-dir build-aarch64
# ctest runs every test under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR); a
# binary runs by hand as: qemu-aarch64-static -L /usr/aarch64-linux-gnu build-aarch64/slm
# The baseline is ARMv8.0-A (NEON is part of it); the dotprod kernels are
# compiled with their own flags and chosen at run time from HWCAP.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(SLM_CROSS_TRIPLE aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
