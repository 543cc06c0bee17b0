# Shared part of the Debian cross toolchain files: SLM_CROSS_TRIPLE names the
# target (aarch64-linux-gnu, ...). Compilers are <triple>-gcc; libraries
# (PCRE2, zlib) come from the multiarch directories /usr/lib/<triple> that
# `apt-get install libpcre2-dev:<arch>` fills, found by pkg-config through
# PKG_CONFIG_LIBDIR; tests run under qemu-user with /usr/<triple> as the
# dynamic loader's root (qemu falls back to the host path for the rest).
set(CMAKE_C_COMPILER ${SLM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SLM_CROSS_TRIPLE}-g++)

set(SLM_CROSS_SYSROOT "" CACHE PATH "Private root with the target libraries (scripts/cross-sysroot)")
# try_compile re-reads this file in the same process: hand it the sysroot,
# or its pass would reset the environment set below.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SLM_CROSS_SYSROOT)
set(CMAKE_FIND_ROOT_PATH /usr/${SLM_CROSS_TRIPLE} /usr/lib/${SLM_CROSS_TRIPLE} ${SLM_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see only the target's .pc files, never the host's: the
# multiarch directory, or with SLM_CROSS_SYSROOT (scripts/cross-sysroot) that
# tree's, whose paths pkg-config then prefixes with the sysroot.
if(SLM_CROSS_SYSROOT)
  set(ENV{PKG_CONFIG_LIBDIR} "${SLM_CROSS_SYSROOT}/usr/lib/${SLM_CROSS_TRIPLE}/pkgconfig:${SLM_CROSS_SYSROOT}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${SLM_CROSS_SYSROOT}")
  # arch-specific headers (zconf.h, ...) live in the multiarch include dir
  set(CMAKE_C_FLAGS_INIT "${CMAKE_C_FLAGS_INIT} -isystem ${SLM_CROSS_SYSROOT}/usr/include/${SLM_CROSS_TRIPLE}")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${SLM_CROSS_SYSROOT}/usr/lib/${SLM_CROSS_TRIPLE}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${SLM_CROSS_SYSROOT}/usr/lib/${SLM_CROSS_TRIPLE}")
  set(_slm_qemu_env -E LD_LIBRARY_PATH=${SLM_CROSS_SYSROOT}/usr/lib/${SLM_CROSS_TRIPLE}:${SLM_CROSS_SYSROOT}/lib/${SLM_CROSS_TRIPLE})
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${SLM_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
  set(_slm_qemu_env)
endif()
set(ENV{PKG_CONFIG_PATH} "")

# qemu-<arch>-static: the user-mode emulator's name for each target.
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(_slm_qemu qemu-aarch64-static)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(_slm_qemu qemu-arm-static)
else()
  set(_slm_qemu qemu-${CMAKE_SYSTEM_PROCESSOR}-static)
endif()
find_program(SLM_QEMU ${_slm_qemu})
if(SLM_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SLM_QEMU} -L /usr/${SLM_CROSS_TRIPLE} ${_slm_qemu_env})
endif()
