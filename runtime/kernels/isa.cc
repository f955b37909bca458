// CPU feature detection, done once: CPUID on x86-64 (GCC's __builtin_cpu_supports), HWCAP on
// aarch64.
#include "runtime/kernels/isa.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace sq::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512Vnni: return "avx512vnni";
    case Isa::kNeon: return "neon";
    case Isa::kNeonDot: return "neondot";
  }
  return "?";
}

bool isa_from_name(std::string_view name, Isa* isa) {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kNeonDot}) {
    if (name == isa_name(i)) {
      *isa = i;
      return true;
    }
  }
  return false;
}

namespace {

std::vector<Isa> detect() {
  std::vector<Isa> isas{Isa::kScalar};
#if defined(SQ_HAVE_X86_KERNELS)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    isas.push_back(Isa::kAvx2);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni")) {
      isas.push_back(Isa::kAvx512Vnni);
    }
  }
#elif defined(SQ_HAVE_ARM_KERNELS)
  isas.push_back(Isa::kNeon);  // Advanced SIMD is mandatory on AArch64
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) isas.push_back(Isa::kNeonDot);
#endif
#endif
  return isas;
}

Isa choose_default() {
  const auto& isas = available_isas();
  const char* forced = std::getenv("SOFTQUANT_ISA");
  if (forced && *forced) {
    for (Isa isa : isas) {
      if (std::strcmp(isa_name(isa), forced) == 0) return isa;
    }
    std::fprintf(stderr, "softquant: warning: SOFTQUANT_ISA=%s is not available here; using %s\n",
                 forced, isa_name(isas.back()));
  }
  return isas.back();
}

}  // namespace

const std::vector<Isa>& available_isas() {
  static const std::vector<Isa> isas = detect();
  return isas;
}

Isa default_isa() {
  static const Isa isa = choose_default();
  return isa;
}

}  // namespace sq::kernels
