# Cross-build for 64-bit RISC-V Linux (RV64GC), scalar kernels:
#   apt-get install gcc-riscv64-linux-gnu qemu-user-static
#   cmake -S . -B build-riscv64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/riscv64-linux-gnu.cmake
# Debian 12 has no riscv64 port, so libpcre2-dev:riscv64 and zlib1g-dev:riscv64
# cannot come from apt here; point PKG_CONFIG_LIBDIR (or SLM_CROSS_SYSROOT)
# at a sysroot that has them (Debian 13 has a riscv64 port), or build with
# -DSLM_MINIMAL=ON, which needs no third-party library (.ci/cross does).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(SLM_CROSS_TRIPLE riscv64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
