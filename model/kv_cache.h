#pragma once
// Keys and values of every evaluated position, per layer, laid out as kernels::attention reads them:
// [n_ctx][n_head_kv][head_dim] in F32 or F16. Allocated once for n_ctx positions; nothing grows later.
#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

class KvCache {
 public:
  // Error for a cache type other than F32/F16 or a size that does not fit in memory arithmetic.
  static Result<KvCache> create(int n_layer, int n_ctx, int n_embd_kv, TensorType type);

  // Stores n_tokens rows of n_embd_kv floats (k and v) for layer il at positions pos0 .. pos0+n_tokens-1.
  void store(int il, int64_t pos0, int64_t n_tokens, const float* k, const float* v);

  const void* k(int il) const { return k_.get() + il * layer_bytes_; }
  const void* v(int il) const { return v_.get() + il * layer_bytes_; }
  TensorType type() const { return type_; }
  int n_ctx() const { return n_ctx_; }
  uint64_t bytes() const { return 2 * layer_bytes_ * n_layer_; }  // total K + V

 private:
  int n_layer_ = 0, n_ctx_ = 0, n_embd_kv_ = 0;
  TensorType type_ = TensorType::F32;
  uint64_t row_bytes_ = 0, layer_bytes_ = 0;
  // Not zero-filled: only positions already stored are ever read, and pages of positions not reached
  // yet stay out of resident memory.
  std::unique_ptr<uint8_t[]> k_, v_;
};

}  // namespace kestrel
