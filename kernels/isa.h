#pragma once
// Run-time ISA choice. Chosen once at start-up from the CPU's features (cpuinfo); the environment
// variable KESTREL_ISA=scalar|avx2|avx512|neon forces one (an unsupported or unknown name is an error).
#include <string_view>

#include "gguf/status.h"

namespace kestrel::kernels {

enum class Isa { Scalar, Avx2, Avx512, Neon };

std::string_view isa_name(Isa isa);              // "scalar", "avx2", "avx512", "neon"
bool isa_supported(Isa isa);                     // compiled in and supported by this CPU
Isa best_isa();                                  // the fastest supported one
Status select_isa(std::string_view name);        // force by name (tools, tests, benchmarks)
Status init_isa_from_env();                      // KESTREL_ISA if set, else best_isa(); idempotent
Isa active_isa();                                // the current choice (best_isa() until something else is selected)

}  // namespace kestrel::kernels
