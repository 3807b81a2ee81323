#pragma once
// Kestrel's public C++ API: load a model, make a session, evaluate tokens, read logits, sample,
// detokenize. The programs in cli/ are written against this header only.
//
//   auto model = kestrel::Model::load("model.gguf");            // Result<unique_ptr<Model>>
//   auto session = kestrel::Session::create(**model, {.n_ctx = 2048, .n_threads = 2});
//   auto ids = (*model)->tokenizer().encode("Once upon a time", true, false);
//   (*session)->eval(ids);                                       // prompt as one batch
//   kestrel::Sampler sampler({.temp = 0});
//   int32_t next = sampler.sample((*session)->logits(), (*model)->config().n_vocab);
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/status.h"
#include "gguf/weight_store.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"
#include "model/sampler.h"
#include "model/tokenizer.h"

namespace kestrel {

struct ModelConfig {
  std::string arch;            // general.architecture
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_ff = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;            // n_embd / n_head unless attention.key_length says otherwise
  int head_dim_v = 0;          // attention.value_length (= head_dim for every supported model)
  int n_rot = 0;               // rope.dimension_count
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor (linear and YaRN scaling)
  float rms_eps = 1e-5f;         // the norm's epsilon: RMSNorm, or LayerNorm (attention.layer_norm_epsilon)
  kernels::RopeMode rope_mode = kernels::RopeMode::Normal;
  // RoPE scaling as llama.cpp derives it from the metadata: "none", "linear", "yarn" (ext_factor 1,
  // attention factor from the scale) or LongRoPE (rope_factors_long/short.weight, picked by the session's
  // context against n_ctx_orig).
  std::string rope_scaling = "none";
  int n_ctx_orig = 0;            // rope.scaling.original_context_length (default: context_length)
  float yarn_ext_factor = 0.0f;
  float yarn_attn_factor = 1.0f;  // multiplies cos/sin (YaRN mscale, rope.scaling.attn_factor)
  float yarn_beta_fast = 32.0f, yarn_beta_slow = 1.0f;
  bool has_rope_factors = false;  // rope_factors_long/short.weight present (Phi-3 LongRoPE)
  // Sliding-window attention (Gemma 2/3): layers with swa_layers[il] != 0 attend to the last n_swa
  // positions only, with their own RoPE base and scale, and keep only those positions in the KV cache.
  int n_swa = 0;
  std::vector<uint8_t> swa_layers;
  float rope_freq_base_swa = 10000.0f;
  float rope_freq_scale_swa = 1.0f;
  float attn_scale = 0.0f;       // query scale of K.q (1/sqrt(head_dim) unless the architecture says otherwise)
  float attn_softcap = 0.0f;     // > 0: attention scores soft-capped (Gemma 2 attn_logit_softcapping)
  float final_softcap = 0.0f;    // > 0: logits soft-capped (final_logit_softcapping)
  int n_expert = 0;            // Mixtral: expert_count; 0 for dense models
  int n_expert_used = 0;
  bool has_rope_freqs = false;  // rope_freqs.weight present (Llama 3.1/3.2 per-frequency divisors)
  bool tied_embeddings = false; // no output.weight: the output projection reuses token_embd.weight

  bool is_swa(int il) const { return n_swa > 0 && il < static_cast<int>(swa_layers.size()) && swa_layers[il] != 0; }
  int n_embd_q() const { return n_head * head_dim; }
  int n_embd_kv() const { return n_head_kv * head_dim; }
};

struct LoadParams {
  bool use_mmap = true;        // false: copy weights to aligned heap memory (--no-mmap)
  bool repack = true;          // false: matmuls read the file's ggml rows (--no-repack); see kernels/repack.h
  int n_threads = 0;           // threads that repack at load (<= 0: all cores); tools pass their -t
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& path, const LoadParams& params = {});
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual const WeightStore& weights() const = 0;
  virtual uint64_t n_params() const = 0;
  virtual std::string type_name() const = 0;  // dominant weight type, e.g. "Q4_0"
  // What load-time repacking did: "off" (--no-repack), else e.g. "112 packed (1.2 GiB), 1 copied (..)".
  virtual std::string repack_summary() const = 0;
};

struct SessionParams {
  int n_ctx = 0;                               // 0: the model's training context
  int n_threads = 0;                           // 0: all cores
  TensorType cache_type = TensorType::F16;     // KV cache: F32 or F16 (llama.cpp's default is F16)
  int n_batch = 512;                           // longest batch evaluated at once (longer inputs are split)
  int n_seq = 1;                               // independent sequences, each with its own n_ctx positions
  // Another session's threads to run on (not owned; it must outlive this session; n_threads is then
  // unused). A draft model's session shares the target's: the two evaluate in turn, and two pools of
  // spinning workers on the same cores would slow each other down at every switch.
  kernels::ThreadPool* pool = nullptr;
};

// One sequence's next tokens in a multi-sequence batch (Session::eval_batch).
struct SeqTokens {
  int seq = 0;
  const int32_t* tokens = nullptr;
  int n = 0;
  bool logits = false;      // keep the logits of this item's last token
  bool all_logits = false;  // keep the logits of every token of this item (e.g. prompt log-probabilities)
};

// One named intermediate tensor of a forward pass, a debug view for per-layer comparisons with llama.cpp:
// llama.cpp's graph name and op for the same value, as `llref tensors` prints them ("attn_norm-3" MUL,
// "Qcur-0" MUL_MAT then ROPE, "ffn_out-2" MUL_MAT, "l_out-17" ADD, "result_output" MUL_MAT), rows x
// width floats, row-major (one row per token; rows of the last layer after attention are only those
// whose logits are kept, as in llama.cpp). Valid during the call only.
struct TapTensor {
  const char* name;
  const char* op;
  const float* data;
  int64_t rows, width;
};
using TensorTap = std::function<void(const TapTensor&)>;

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(const Model& model, const SessionParams& params);
  virtual ~Session() = default;
  // Evaluates tokens at positions n_past() .. and appends them to the KV cache. With all_logits the
  // logits of every token are kept, otherwise only the last token's. Error when the context would overflow
  // or an id is out of range.
  virtual Status eval(const std::vector<int32_t>& tokens, bool all_logits = false) = 0;
  // Logits row i of the last eval (i = -1: the last token). n_vocab floats.
  virtual const float* logits(int i = -1) const = 0;
  // The buffer logits() points into, shared with its holders (the Python module's NumPy views): it stays
  // allocated after the session is destroyed or moves to a larger buffer; its content changes with each eval.
  virtual std::shared_ptr<const float> logits_buffer() const = 0;
  virtual int n_logits() const = 0;  // rows logits(i) gives for the last eval (0 before the first)
  virtual int n_past() const = 0;
  virtual int n_ctx() const = 0;
  virtual void reset() = 0;  // forget the KV cache (of every sequence)
  // Keeps the first n cached positions of sequence 0 and forgets the rest (no-op when n >= n_past()), e.g.
  // to reuse a conversation's common prefix and evaluate only what changed. The logits of the last eval
  // are dropped. It may keep fewer (see truncate(seq, n)): evaluate from n_past() afterwards.
  virtual void truncate(int n) = 0;
  virtual kernels::ThreadPool& pool() = 0;
  // Calls tap with the named intermediate tensors of every later eval (see TapTensor); an empty function
  // turns it off. A debugging aid: it costs a branch per tensor when off.
  virtual void set_tensor_tap(TensorTap tap) = 0;

  // Several sequences (SessionParams::n_seq; eval(), logits() and n_past() above are sequence 0's).
  // eval_batch evaluates the next tokens of distinct sequences in one forward pass, so every weight is
  // read once for all of them (decoding is memory-bound). The items' total token count must be
  // <= n_batch(). item_logits(k) is the last token's logits of items[k] when it asked for them;
  // item_logits(k, i) token i's when items[k] asked for all_logits (nullptr otherwise or out of range).
  virtual Status eval_batch(const std::vector<SeqTokens>& items) = 0;
  virtual const float* item_logits(int k) const = 0;
  virtual const float* item_logits(int k, int i) const = 0;
  virtual int n_seq() const = 0;
  virtual int n_batch() const = 0;
  virtual int n_past(int seq) const = 0;
  // Keeps the first n positions of a sequence's cache (e.g. the prefix a new request shares with the
  // previous one) and forgets the rest; n larger than n_past(seq) changes nothing. With sliding-window
  // layers, a prefix whose window the ring cache has overwritten is dropped entirely (n_past(seq) is then 0).
  virtual void truncate(int seq, int n) = 0;
};

}  // namespace kestrel
