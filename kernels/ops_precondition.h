#pragma once
// Kernel preconditions. Kernels take raw pointers and sizes that the model code validated when it
// loaded the model (check_* functions in kernels/ops.h return those errors as Status). A violated
// precondition is a bug in the caller: it is reported in one line and the process stops, rather than
// reading out of bounds or returning a silently wrong answer.
#include <string>

namespace kestrel::kernels {

[[noreturn]] void precondition_failed(const std::string& message);

}  // namespace kestrel::kernels
