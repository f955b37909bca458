# Cross toolchain for aarch64 Linux with Debian's g++-aarch64-linux-gnu.
#   cmake -S . -B build-arm -G Ninja -DSOFTQUANT_RUNTIME_ONLY=ON \
#     -DCMAKE_TOOLCHAIN_FILE=tools/arm/aarch64-toolchain.cmake
# (or -DSOFTQUANT_KERNELS_ONLY=ON for the kernels alone). Test and tool executables are linked
# statically (SOFTQUANT_STATIC_EXECUTABLES, on by default when cross-compiling), so they run on a
# board without matching shared libraries and under qemu-aarch64 without a sysroot;
# libsoftquant_rt.so and the C example that links it are dynamic. ctest runs the tests through
# qemu-aarch64 -cpu max (every AArch64 extension qemu emulates, dotprod included) when qemu is
# installed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(SQ_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(SQ_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SQ_QEMU_AARCH64} -cpu max)
endif()
