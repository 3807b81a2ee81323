#pragma once
// The shared decoder-only transformer loop (llama2.c's `forward`, batched): embeddings -> per layer
// [norm, Q/K/V, RoPE, causal GQA attention over the KV cache, output projection, residual, norm, FFN,
// residual] -> final norm -> logits for the requested rows only. Per-architecture choices come from the
// ArchSpec. All scratch memory is sized once for n_batch tokens; eval() does not allocate.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/arch.h"
#include "model/kv_cache.h"
#include "model/llm.h"
#include "model/moe.h"
#include "model/weights.h"

namespace kestrel {

// Scratch floats allocated without being touched: a decode-only session never writes most of the
// n_batch rows, and untouched pages do not count in its resident memory.
class ScratchBuffer {
 public:
  void allocate(size_t n) { p_.reset(new float[n]); }
  float* data() { return p_.get(); }

 private:
  std::unique_ptr<float[]> p_;
};

// RoPE settings of a model's global (swa = false) or sliding-window layers for a session of n_ctx
// positions (which picks Phi-3's LongRoPE factors); freq factors point into the weights.
kernels::RopeParams rope_params(const ModelConfig& cfg, const ModelWeights& w, int n_ctx, bool swa = false);

// The rows of one sequence in a multi-sequence batch: rows [row0, row0 + n) of the batch are that
// sequence's next tokens at positions pos0 .. pos0 + n - 1, attending over (and stored into) its cache.
// Projections and FFNs run over all rows of the batch at once (each weight is read once per step);
// RoPE, the K/V store and attention run per span.
struct SeqSpan {
  KvCache* cache = nullptr;
  int row0 = 0;
  int n = 0;
  int64_t pos0 = 0;
};

class Forward {
 public:
  Forward(const ModelConfig& cfg, const ArchSpec& arch, const ModelWeights& w, int n_batch, int n_ctx);

  // Evaluates n (<= n_batch) tokens at positions pos0 .. pos0+n-1 (their K/V go into the cache) and writes
  // the logits of the rows listed in out_rows (ascending, each < n) to logits[i * n_vocab].
  // The caller has checked ids, n and the context length.
  void eval(kernels::ThreadPool& pool, KvCache& cache, const int32_t* ids, int n, int64_t pos0,
            const int32_t* out_rows, int n_out, float* logits);
  // The same for a batch of several sequences: spans cover rows 0 .. n-1 in order, without gaps.
  void eval(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, const int32_t* ids, int n,
            const int32_t* out_rows, int n_out, float* logits);

  int n_batch() const { return n_batch_; }
  void set_tap(TensorTap tap) { tap_ = std::move(tap); }

 private:
  void attention_block(kernels::ThreadPool& pool, const SeqSpan* spans, int n_spans, int il, int n);
  void ffn_block(kernels::ThreadPool& pool, int il, int n);
  // Shows rows x width floats as llama.cpp's tensor `name`-il (il < 0: no suffix) to the tap, if any.
  void tap(const char* name, int il, const char* op, const float* data, int64_t rows, int64_t width) const;

  const ModelConfig& cfg_;
  const ArchSpec& arch_;
  const ModelWeights& w_;
  int n_batch_;
  kernels::RopeParams rope_, rope_swa_;  // global and sliding-window layers
  std::vector<int32_t> pos_ids_;          // positions of a batch (learned position embeddings)
  // Scratch, [n_batch][width] each.
  ScratchBuffer x_;     // residual stream, n_embd
  ScratchBuffer cur_;   // normed input of a block, n_embd
  ScratchBuffer qkv_;   // fused Q/K/V projection output, n_embd_q + 2 n_embd_kv
  ScratchBuffer q_;     // n_embd_q
  ScratchBuffer k_, v_; // n_embd_kv
  ScratchBuffer attn_;  // attention output, n_embd_q
  ScratchBuffer proj_;  // block output before the residual add, n_embd
  ScratchBuffer gate_, up_;  // n_ff (up_: 2 n_ff with a fused gate/up projection)
  MoeScratch moe_scratch_;
  TensorTap tap_;
};

}  // namespace kestrel
