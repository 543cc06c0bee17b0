# Shared part of the Debian cross toolchain files: SLM_CROSS_TRIPLE names the
# target (aarch64-linux-gnu, ...). Compilers are <triple>-gcc; libraries
# (PCRE2, zlib) come from the multiarch directories /usr/lib/<triple> that
# `apt-get install libpcre2-dev:<arch>` fills, found by pkg-config through
# PKG_CONFIG_LIBDIR; tests run under qemu-user with /usr/<triple> as the
# dynamic loader's root (qemu falls back to the host path for the rest).
set(CMAKE_C_COMPILER ${SLM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SLM_CROSS_TRIPLE}-g++)

set(SLM_CROSS_SYSROOT "" CACHE PATH "Extra root with target libraries (lib/pkgconfig inside)")
set(CMAKE_FIND_ROOT_PATH /usr/${SLM_CROSS_TRIPLE} /usr/lib/${SLM_CROSS_TRIPLE} ${SLM_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see only the target's .pc files, never the host's.
set(_slm_pc /usr/lib/${SLM_CROSS_TRIPLE}/pkgconfig /usr/share/pkgconfig)
if(SLM_CROSS_SYSROOT)
  list(PREPEND _slm_pc ${SLM_CROSS_SYSROOT}/lib/pkgconfig ${SLM_CROSS_SYSROOT}/usr/lib/pkgconfig)
endif()
list(JOIN _slm_pc ":" _slm_pc)
set(ENV{PKG_CONFIG_LIBDIR} "${_slm_pc}")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

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
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SLM_QEMU} -L /usr/${SLM_CROSS_TRIPLE})
endif()
