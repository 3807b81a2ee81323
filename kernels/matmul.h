#pragma once
// y = W·x for W in F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL. W holds n_out rows of n_in elements
// (ggml: ne0 = n_in, ne1 = n_out), row stride bytes_for(wt, n_in). x holds n_tokens rows of n_in floats; y receives
// n_tokens rows of n_out floats with row stride ldy (>= n_out). Activations are converted to the
// weight type's vec_dot_type first (Q8_0 or Q8_1 for integer paths), like ggml. Multithreaded over output rows
// through the pool; n_tokens > 1 is tiled so each weight block is reused across token rows.
#include <cstdint>

#include "gguf/status.h"
#include "gguf/tensor_type.h"
#include "kernels/isa.h"
#include "kernels/thread_pool.h"

namespace kestrel::kernels {

// Preconditions of matmul: wt computable (type_traits(wt) != nullptr), n_in >= 1 and a multiple of
// the block size (32 for the block types), n_out >= 1, n_tokens >= 1, ldy >= n_out. matmul() checks them and
// aborts with this message on violation (a caller bug: shapes come from validated model files);
// callers that hold untrusted shapes check first.
Status matmul_check(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, int64_t ldy);

void matmul(ThreadPool& pool, TensorType wt, const void* w, int64_t n_in, int64_t n_out,
            const float* x, int64_t n_tokens, float* y, int64_t ldy);

// The same with an explicit ISA (tests compare every ISA against Isa::Scalar; benchmarks pick one).
void matmul_isa(Isa isa, ThreadPool& pool, TensorType wt, const void* w, int64_t n_in, int64_t n_out,
                const float* x, int64_t n_tokens, float* y, int64_t ldy);

// Gather rows of an embedding table: dst[i] = to_float(W[ids[i]]) for each id (n_in floats per row).
void get_rows(TensorType wt, const void* w, int64_t n_in, const int32_t* ids, int64_t n_ids, float* dst);

}  // namespace kestrel::kernels
