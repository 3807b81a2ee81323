#include "model/kv_cache.h"

#include <cstring>
#include <new>

#include "kernels/type_traits.h"

namespace kestrel {

Result<KvCache> KvCache::create(int n_layer, int n_ctx, int n_embd_kv, TensorType type) {
  if (type != TensorType::F32 && type != TensorType::F16)
    return Status::error("KV cache type '" + std::string(type_name(type)) + "' is not supported (f32, f16)");
  if (n_layer < 1 || n_ctx < 1 || n_embd_kv < 1) return Status::error("KV cache: empty shape");
  KvCache c;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.n_embd_kv_ = n_embd_kv;
  c.type_ = type;
  c.row_bytes_ = static_cast<uint64_t>(n_embd_kv) * (type == TensorType::F32 ? 4 : 2);
  c.layer_bytes_ = c.row_bytes_ * static_cast<uint64_t>(n_ctx);
  const uint64_t total = c.layer_bytes_ * static_cast<uint64_t>(n_layer);
  if (total / n_layer != c.layer_bytes_ || total > (uint64_t{1} << 40))
    return Status::error("KV cache of " + std::to_string(n_ctx) + " positions is too large");
  c.k_.reset(new (std::nothrow) uint8_t[total]);
  c.v_.reset(new (std::nothrow) uint8_t[total]);
  if (!c.k_ || !c.v_) return Status::error("cannot allocate a KV cache of " + std::to_string(2 * total) + " bytes");
  return c;
}

void KvCache::store(int il, int64_t pos0, int64_t n_tokens, const float* k, const float* v) {
  uint8_t* kd = k_.get() + il * layer_bytes_ + pos0 * row_bytes_;
  uint8_t* vd = v_.get() + il * layer_bytes_ + pos0 * row_bytes_;
  const int64_t n = n_tokens * n_embd_kv_;
  if (type_ == TensorType::F32) {
    std::memcpy(kd, k, n * sizeof(float));
    std::memcpy(vd, v, n * sizeof(float));
  } else {
    auto* k16 = reinterpret_cast<uint16_t*>(kd);
    auto* v16 = reinterpret_cast<uint16_t*>(vd);
    for (int64_t i = 0; i < n; ++i) {
      k16[i] = kernels::fp32_to_fp16(k[i]);
      v16[i] = kernels::fp32_to_fp16(v[i]);
    }
  }
}

}  // namespace kestrel
