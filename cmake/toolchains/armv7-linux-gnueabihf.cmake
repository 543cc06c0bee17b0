# Cross-build for 32-bit ARMv7-A Linux, hard-float ABI with NEON (Raspberry
# Pi 2/3 running a 32-bit OS, older phones and boards):
#   apt-get install gcc-arm-linux-gnueabihf qemu-user-static
#   dpkg --add-architecture armhf && apt-get update
#   apt-get install libpcre2-dev:armhf zlib1g-dev:armhf
#   cmake -S . -B build-armv7 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/armv7-linux-gnueabihf.cmake
# NEON with VFPv4 (fused multiply-add, fp16 conversions) is the baseline:
# every ARMv7 core with NEON that runs a hard-float distribution has it
# except Cortex-A8/A9 (use -DSLM_ARMV7_FPU=neon there).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(SLM_CROSS_TRIPLE arm-linux-gnueabihf)
set(SLM_ARMV7_FPU neon-vfpv4 CACHE STRING "-mfpu= for the ARMv7 build")
# 64-bit file offsets: GGUF files pass 2 GiB, and readdir must cope with the
# 64-bit directory cookies of a 64-bit kernel (qemu-user on x86-64 included).
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=${SLM_ARMV7_FPU} -mfloat-abi=hard -mfp16-format=ieee -D_FILE_OFFSET_BITS=64")
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
