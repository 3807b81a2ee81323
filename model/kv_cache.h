#pragma once
// Keys and values of every evaluated position, per layer, laid out as kernels::attention reads them:
// [rows][n_head_kv][head_dim] in F32 or F16. A layer has n_ctx rows, or fewer for a sliding-window layer,
// whose rows are a ring buffer (position p in row p % rows): a long context then costs memory only in
// the global layers. Allocated once; nothing grows later.
#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

class KvCache {
 public:
  // Error for a cache type other than F32/F16 or a size that does not fit in memory arithmetic.
  // layer_rows (empty: n_ctx for every layer) gives each layer's row count, each in [1, n_ctx].
  static Result<KvCache> create(int n_layer, int n_ctx, int n_embd_kv, TensorType type,
                                const std::vector<int>& layer_rows = {});

  // Stores n_tokens rows of n_embd_kv floats (k and v) for layer il at positions pos0 .. pos0+n_tokens-1
  // (rows pos % rows(il)).
  void store(int il, int64_t pos0, int64_t n_tokens, const float* k, const float* v);

  const void* k(int il) const { return k_.get() + layer_offset_[il]; }
  const void* v(int il) const { return v_.get() + layer_offset_[il]; }
  TensorType type() const { return type_; }
  int n_ctx() const { return n_ctx_; }
  int rows(int il) const { return layer_rows_[il]; }
  // The ring size to give kernels::attention for layer il: 0 when the layer keeps every position.
  int64_t ring(int il) const { return layer_rows_[il] < n_ctx_ ? layer_rows_[il] : 0; }
  uint64_t bytes() const { return 2 * total_bytes_; }  // total K + V

 private:
  int n_layer_ = 0, n_ctx_ = 0, n_embd_kv_ = 0;
  TensorType type_ = TensorType::F32;
  uint64_t row_bytes_ = 0, total_bytes_ = 0;
  std::vector<int> layer_rows_;
  std::vector<uint64_t> layer_offset_;
  // Not zero-filled: only positions already stored are ever read, and pages of positions not reached
  // yet stay out of resident memory.
  std::unique_ptr<uint8_t[]> k_, v_;
};

}  // namespace kestrel
