#pragma once
// Which type each tensor gets when llm-quantize converts a model to a llama.cpp file type (Q4_K_M,
// Q5_0, ...). These are llama.cpp's rules (llama_tensor_get_type in src/llama-quant.cpp of the
// llama.cpp release used as reference, v0.5.0), so the same command gives the same file:
//   - only tensors with >= 2 non-trivial dimensions whose name ends in "weight" are converted; norms,
//     the MoE router (ffn_gate_inp) and a few other small tensors are copied as they are;
//   - --token-embedding-type / --output-tensor-type override token_embd / output.weight;
//   - for a quantized file type without --pure, the mixture rules pick the type per tensor from its
//     role (output, attn_v, ffn_down, attn_output, attn_k), its layer (use_more_bits: the first and last
//     eighth of the layers and every third one between), the model (GQA factor, 8 experts, 70B, Falcon);
//   - a row length that is not a multiple of the chosen type's block size falls back: Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, IQ4_XS -> IQ4_NL, and to F16 when even that
//     32-value block does not fit.
// Tensors are planned in llama.cpp's order (tensors outside blocks first, then by block number, by
// name within a block), which the layer counters depend on.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/tensor_type.h"

namespace kestrel::cli {

// llama.cpp's llama_ftype numbers (general.file_type).
enum class FileType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K_S = 11,
  Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18,
  IQ4_NL = 25, IQ4_XS = 30, BF16 = 32,
};

// A file type llm-quantize writes: its name (as llama-quantize spells it), the default tensor type.
struct QuantTarget {
  std::string_view name;  // "Q4_K_M"
  TensorType type;        // the default tensor type of the mixture (Q4_K for Q4_K_M)
  FileType ftype;
  uint32_t ftype_id() const { return static_cast<uint32_t>(ftype); }
};

const std::vector<QuantTarget>& quant_targets();
// Case-insensitive; also llama-quantize's aliases Q3_K / Q4_K / Q5_K (the _M mixtures).
std::optional<QuantTarget> find_quant_target(std::string_view name);
// llama-quantize's name of any llama_ftype number (also the ones Kestrel does not write, e.g.
// "IQ2_XXS"), "" when unknown. For llm-gguf / llm-bench.
std::string_view file_type_name(uint32_t ftype);

struct ModelFacts {
  std::string arch;        // general.architecture
  bool has_output = true;  // an output.weight tensor exists (else the embeddings are tied)
  int n_expert = 0;        // <arch>.expert_count, 0 for dense models
  int n_layer = 0;         // <arch>.block_count
  int n_head = 0;          // <arch>.attention.head_count (of layer 0)
  int n_head_kv = 0;       // <arch>.attention.head_count_kv (of layer 0; = n_head when absent)
  int n_attention_wv = 0;  // tensors whose role is attn_v (attn_v, attn_qkv, attn_kv_b)
  int n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
};
// Metadata from `file`; tensor facts from all tensor names (split files keep tensors in several files).
ModelFacts model_facts(const GGUFFile& file, const std::vector<std::string>& tensor_names);

struct QuantOptions {
  bool pure = false;                           // --pure: the default type everywhere
  bool leave_output = false;                   // --leave-output-tensor
  std::optional<TensorType> output_type;       // --output-tensor-type
  std::optional<TensorType> token_embd_type;   // --token-embedding-type
};

struct TensorChoice {
  TensorType type;
  bool keep_as_is = false;  // copied unchanged (type == source type)
  std::string note;         // why it differs from the default, when it is a fallback
  std::string error;        // non-empty: the choice cannot be written (e.g. an override that does not fit)
};

// Decides the types of a model's tensors. Call choose() once per tensor, in plan_order().
class QuantPlanner {
 public:
  QuantPlanner(const QuantTarget& target, const ModelFacts& facts, const QuantOptions& options);
  TensorChoice choose(std::string_view name, const std::vector<int64_t>& ne, TensorType source);

 private:
  TensorType mixture_type(std::string_view name, const std::vector<int64_t>& ne, TensorType t);
  QuantTarget target_;
  ModelFacts facts_;
  QuantOptions options_;
  int i_attention_wv_ = 0, i_ffn_down_ = 0;
};

// llama.cpp's tensor order (llama_model_loader's weight_name_comparer): indexes into `names`.
std::vector<size_t> plan_order(const std::vector<std::string>& names);

}  // namespace kestrel::cli
