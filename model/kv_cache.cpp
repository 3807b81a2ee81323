#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "kernels/type_traits.h"

namespace kestrel {

Result<KvCache> KvCache::create(int n_layer, int n_ctx, int n_embd_kv, TensorType type,
                                const std::vector<int>& layer_rows) {
  if (type != TensorType::F32 && type != TensorType::F16)
    return Status::error("KV cache type '" + std::string(type_name(type)) + "' is not supported (f32, f16)");
  if (n_layer < 1 || n_ctx < 1 || n_embd_kv < 1) return Status::error("KV cache: empty shape");
  if (!layer_rows.empty() && layer_rows.size() != static_cast<size_t>(n_layer))
    return Status::error("KV cache: " + std::to_string(layer_rows.size()) + " layer sizes for " +
                         std::to_string(n_layer) + " layers");
  KvCache c;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.n_embd_kv_ = n_embd_kv;
  c.type_ = type;
  c.row_bytes_ = static_cast<uint64_t>(n_embd_kv) * (type == TensorType::F32 ? 4 : 2);
  c.layer_rows_ = layer_rows.empty() ? std::vector<int>(n_layer, n_ctx) : layer_rows;
  uint64_t total = 0;
  for (int il = 0; il < n_layer; ++il) {
    const int rows = c.layer_rows_[il];
    if (rows < 1 || rows > n_ctx) return Status::error("KV cache: layer " + std::to_string(il) + " size out of range");
    c.layer_offset_.push_back(total);
    const uint64_t bytes = c.row_bytes_ * static_cast<uint64_t>(rows);
    if (bytes / c.row_bytes_ != static_cast<uint64_t>(rows) || total + bytes > (uint64_t{1} << 40))
      return Status::error("KV cache of " + std::to_string(n_ctx) + " positions is too large");
    total += bytes;
  }
  c.total_bytes_ = total;
  c.k_.reset(new (std::nothrow) uint8_t[total]);
  c.v_.reset(new (std::nothrow) uint8_t[total]);
  if (!c.k_ || !c.v_) return Status::error("cannot allocate a KV cache of " + std::to_string(2 * total) + " bytes");
  return c;
}

void KvCache::store(int il, int64_t pos0, int64_t n_tokens, const float* k, const float* v) {
  const int64_t rows = layer_rows_[il];
  // A ring layer's batch may wrap: store it as contiguous runs of rows.
  for (int64_t done = 0; done < n_tokens;) {
    const int64_t row = (pos0 + done) % rows;
    const int64_t run = std::min<int64_t>(n_tokens - done, rows - row);
    uint8_t* kd = k_.get() + layer_offset_[il] + row * row_bytes_;
    uint8_t* vd = v_.get() + layer_offset_[il] + row * row_bytes_;
    const float* ks = k + done * n_embd_kv_;
    const float* vs = v + done * n_embd_kv_;
    const int64_t n = run * n_embd_kv_;
    if (type_ == TensorType::F32) {
      std::memcpy(kd, ks, n * sizeof(float));
      std::memcpy(vd, vs, n * sizeof(float));
    } else {
      auto* k16 = reinterpret_cast<uint16_t*>(kd);
      auto* v16 = reinterpret_cast<uint16_t*>(vd);
      for (int64_t i = 0; i < n; ++i) {
        k16[i] = kernels::fp32_to_fp16(ks[i]);
        v16[i] = kernels::fp32_to_fp16(vs[i]);
      }
    }
    done += run;
  }
}

}  // namespace kestrel
