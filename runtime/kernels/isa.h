// Why this exists: the integer kernels come in one variant per instruction set. This header names
// the variants, tells which ones the running CPU can execute (CPUID / HWCAP, read once at
// start-up) and which one the runtime uses by default (the fastest available; the environment
// variable SOFTQUANT_ISA=scalar|avx2|avx512vnni|neon|neondot forces a slower one for testing and
// benchmarking). Tests iterate over available_isas() so every compiled path is checked against
// the scalar reference on the machine that runs them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sq::kernels {

enum class Isa { kScalar, kAvx2, kAvx512Vnni, kNeon, kNeonDot };

const char* isa_name(Isa isa);
// The ISA named `name` (as isa_name spells it), compiled in or not; false for an unknown name.
bool isa_from_name(std::string_view name, Isa* isa);
// Every variant compiled into this binary that this CPU can run, slowest (kScalar) first.
const std::vector<Isa>& available_isas();
// The variant used when none is named: the last of available_isas(), unless SOFTQUANT_ISA names
// another available one (an unknown or unavailable name is ignored with a warning on stderr).
Isa default_isa();

}  // namespace sq::kernels
