// Causal grouped-query attention over a KV cache: validation, the split of (token, query-head group)
// tasks over the thread pool, and the choice of the per-ISA kernel that does one task
// (kernels/attention_impl.h).
//
// Numerics versus llama.cpp (flash attention off): an F32 cache takes attend_head_ggml
// (attention_impl.h), llama.cpp's AVX-512 graph operation for operation (vec_dot_f32 scores,
// soft_max_ext with ggml_v_expf and a double sum, the V product in tinyBLAS's lane order for a batch and
// vec_dot_f32's for one token), bit-identical to it on AVX-512 builds. An F16 cache (llama.cpp's default,
// with flash attention on): batches of >= kFaTileTokens (64) tokens take attention_fa_impl.h, the order
// of llama.cpp's tiled CPU flash attention (bit-identical to llama.cpp's zen4 build, and the same bits on
// every ISA); shorter batches and one-token decode keep the online softmax below: scores are
// (K.q) * scale, q rounded to F16 before the dot (as llama.cpp's one-row flash attention converts q to
// F16) and K widened to F32, V accumulated in F32 (llama.cpp accumulates an F16 V in F16 there).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ops_isa.h"
#include "kernels/ops_precondition.h"

namespace kestrel::kernels {

Status check_attention_args(const AttentionArgs& a) {
  auto err = [](const std::string& m) { return Status::error("attention: " + m); };
  if (!a.q || !a.k_cache || !a.v_cache || !a.out) return err("q, k_cache, v_cache and out must be set");
  if (a.cache_type != TensorType::F32 && a.cache_type != TensorType::F16)
    return err("KV cache type must be f32 or f16, got " + std::string(type_name(a.cache_type)));
  if (a.n_tokens < 0) return err("n_tokens must not be negative");
  if (a.n_head <= 0 || a.n_head_kv <= 0 || a.head_dim <= 0)
    return err("n_head, n_head_kv and head_dim must be positive");
  if (a.n_head % a.n_head_kv != 0)
    return err("n_head " + std::to_string(a.n_head) + " is not a multiple of n_head_kv " +
               std::to_string(a.n_head_kv));
  if (a.pos0 < 0) return err("pos0 must not be negative");
  if (a.window < 0 || a.ring < 0) return err("window and ring must not be negative");
  if (!(a.softcap >= 0.0f) || !std::isfinite(a.softcap)) return err("softcap must be >= 0 and finite");
  if (a.ring > 0 && a.n_tokens > 0) {
    // Every position from the first query's oldest key to the last new token must still be in the ring.
    const int64_t oldest = a.window > 0 ? std::max<int64_t>(0, a.pos0 - a.window + 1) : 0;
    const int64_t span = a.pos0 + a.n_tokens - oldest;
    if (span > a.ring)
      return err("ring of " + std::to_string(a.ring) + " rows cannot hold the " + std::to_string(span) +
                 " positions this batch reads");
  }
  // out is written head by head while q is still being read: they must not overlap.
  const size_t bytes = static_cast<size_t>(a.n_tokens * a.n_head * a.head_dim) * sizeof(float);
  const uintptr_t q = reinterpret_cast<uintptr_t>(a.q);
  const uintptr_t o = reinterpret_cast<uintptr_t>(a.out);
  if (bytes > 0 && q < o + bytes && o < q + bytes) return err("out must not overlap q");
  return Status::ok();
}

namespace {

// F16 cache, n_tokens >= kFaTileTokens: llama.cpp's tiled flash attention (attention_fa_impl.h). A job is
// a block of tokens and the query heads of one KV head (about 64 rows, as llama.cpp's Q tile), so each
// K/V tile is widened once for all of them. Later tokens see more positions: the jobs run last block
// first, handed out dynamically, so the two halves of a causal batch do not land on different threads.
void attention_fa_tiled(AttendBlockFn attend, ThreadPool& pool, const AttentionArgs& a) {
  const int64_t group = a.n_head / a.n_head_kv;
  const int64_t block = std::max<int64_t>(1, kFaTileTokens / group);
  const int64_t n_blocks = (a.n_tokens + block - 1) / block;
  pool.for_each_job(n_blocks * a.n_head_kv, [&](int64_t job, int) {
    const int64_t b = n_blocks - 1 - job / a.n_head_kv, kvh = job % a.n_head_kv;
    const int64_t t0 = b * block, n_tok = std::min(block, a.n_tokens - t0);
    // Per thread and kept: a few hundred KiB, which as a fresh allocation per call would be new
    // (kernel-zeroed) pages every layer.
    thread_local std::vector<float> buf;
    const size_t need = static_cast<size_t>(attend_block_scratch_floats(block * group, a.head_dim));
    if (buf.size() < need) buf.resize(need);
    AttendBlockArgs ba;
    ba.q = a.q + (t0 * a.n_head + kvh * group) * a.head_dim;
    ba.k = reinterpret_cast<const uint16_t*>(a.k_cache) + kvh * a.head_dim;
    ba.v = reinterpret_cast<const uint16_t*>(a.v_cache) + kvh * a.head_dim;
    ba.q_stride = a.n_head * a.head_dim;
    ba.stride = a.n_head_kv * a.head_dim;
    ba.pos0 = a.pos0 + t0;
    ba.n_tok = n_tok;
    ba.window = a.window;
    ba.ring = a.ring;
    ba.head_dim = a.head_dim;
    ba.n_q = group;
    ba.scale = a.scale;
    ba.softcap = a.softcap;
    ba.out = a.out + (t0 * a.n_head + kvh * group) * a.head_dim;
    ba.scratch = buf.data();
    attend(ba);
  });
}

}  // namespace

void attention_isa(Isa isa, ThreadPool& pool, const AttentionArgs& a) {
  if (Status s = check_attention_args(a); !s) precondition_failed(s.message());
  if (a.n_tokens == 0) return;
  const OpsKernels& k = ops_kernels(isa);
  const bool f16 = a.cache_type == TensorType::F16;
  if (f16 && a.n_tokens >= kFaTileTokens) return attention_fa_tiled(k.attend_block_f16 ? k.attend_block_f16 : ops_kernels(Isa::Scalar).attend_block_f16, pool, a);
  const AttendHeadFn attend = f16 ? k.attend_head_f16 : k.attend_head_f32;
  const size_t elem = f16 ? sizeof(uint16_t) : sizeof(float);
  const int64_t group = a.n_head / a.n_head_kv;
  const int64_t stride = a.n_head_kv * a.head_dim;

  // A task is one token and `chunk` consecutive query heads of one KV head: the heads of a group read
  // the same K/V rows, so doing them together streams the cache once per group instead of once per
  // head. Groups are split (halved) only when there would otherwise be too few tasks for the pool.
  int64_t chunk = group;
  while (chunk % 2 == 0 && a.n_tokens * (a.n_head / chunk) < 2 * static_cast<int64_t>(pool.size())) chunk /= 2;
  const int64_t tasks_per_token = a.n_head / chunk;
  // F32 cache: llama.cpp's order (attention_impl.h, attend_head_ggml): 16 lanes for a batch (its
  // tinyBLAS K.V product), 64 for one token (ggml_vec_dot_f32).
  const int ggml_lanes = f16 ? 0 : a.n_tokens >= 2 ? 16 : 64;
  const int64_t scratch_floats =
      attend_scratch_floats(chunk, a.head_dim) + (ggml_lanes ? attend_ggml_scratch_floats(a.pos0 + a.n_tokens, a.head_dim) : 0);
  pool.parallel_for(a.n_tokens * tasks_per_token, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(scratch_floats));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / tasks_per_token, h0 = (i % tasks_per_token) * chunk;
      const int64_t kv_offset = (h0 / group) * a.head_dim;  // elements from position 0
      AttendHeadArgs ha;
      ha.q = a.q + (t * a.n_head + h0) * a.head_dim;
      ha.k = static_cast<const char*>(a.k_cache) + kv_offset * elem;
      ha.v = static_cast<const char*>(a.v_cache) + kv_offset * elem;
      ha.stride = stride;
      const int64_t p = a.pos0 + t;
      ha.first = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
      ha.n_pos = p + 1 - ha.first;
      ha.ring = a.ring;
      ha.softcap = a.softcap;
      ha.head_dim = a.head_dim;
      ha.n_q = chunk;
      ha.scale = a.scale;
      ha.out = a.out + (t * a.n_head + h0) * a.head_dim;
      ha.scratch = scratch.data();
      ha.ggml_lanes = ggml_lanes;
      attend(ha);
    }
  });
}

void attention(ThreadPool& pool, const AttentionArgs& a) { attention_isa(active_isa(), pool, a); }

}  // namespace kestrel::kernels
