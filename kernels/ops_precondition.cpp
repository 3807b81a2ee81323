#include "kernels/ops_precondition.h"

#include <cstdio>
#include <cstdlib>

namespace kestrel::kernels {

void precondition_failed(const std::string& message) {
  std::fprintf(stderr, "kestrel: kernel precondition violated: %s\n", message.c_str());
  std::abort();
}

}  // namespace kestrel::kernels
