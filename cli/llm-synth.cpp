// llm-synth: write a random-weight GGUF of any supported architecture and shape, for tests and benchmarks.
//   llm-synth OUT.gguf [--arch llama|gemma|gemma2|gemma3|qwen2|qwen3|phi3|starcoder2|gpt2] --dim 2048
//             --layers 16 --heads 32 --kv-heads 8 --ff 8192 --vocab 128256 --tied --type q4_0
//             [--experts 8 --experts-used 2] [--rope-freqs] [--ctx 8192] [--seed N] [--vocab-from F.gguf]
//             [--head-dim N] [--swa N --swa-pattern N] [--attn-softcap F] [--final-softcap F]
//             [--rope-factors --ctx-orig N --rope-attn-factor F] [--rope-scaling linear|yarn --rope-factor F]
#include <cstdio>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "gguf/tensor_type.h"
#include "model/arch.h"
#include "model/synthetic_model.h"

int main(int argc, char** argv) {
  using namespace kestrel;
  constexpr const char* kProg = "llm-synth";
  SyntheticSpec spec;
  std::string type = "f32";
  int seed = 1;
  std::vector<std::string> pos;
  cli::ArgParser args(kProg, "Write a random-weight GGUF model of a supported architecture.");
  args.set_positional(&pos, "OUT.gguf");
  args.add_string("--arch", &spec.arch, "general.architecture (" + supported_arch_names() + ")");
  args.add_string("--vocab-from", &spec.vocab_from, "copy the tokenizer of this GGUF (sets the vocabulary size)");
  args.add_int("--head-dim", &spec.head_dim, "attention.key_length (0: dim / heads)");
  args.add_int("--swa", &spec.n_swa, "attention.sliding_window (Gemma 2/3)");
  args.add_int("--swa-pattern", &spec.swa_pattern, "attention.sliding_window_pattern: every n-th layer global");
  args.add_float("--attn-softcap", &spec.attn_softcap, "attn_logit_softcapping (Gemma 2)");
  args.add_float("--final-softcap", &spec.final_softcap, "final_logit_softcapping (Gemma 2/3)");
  args.add_flag("--rope-factors", &spec.rope_factors, "write rope_factors_long/short.weight (Phi-3 LongRoPE)");
  args.add_int("--ctx-orig", &spec.rope_scaling_orig_ctx, "rope.scaling.original_context_length");
  args.add_string("--rope-scaling", &spec.rope_scaling_type, "rope.scaling.type (linear, yarn)");
  args.add_float("--rope-factor", &spec.rope_scaling_factor, "rope.scaling.factor");
  args.add_float("--rope-attn-factor", &spec.rope_attn_factor, "rope.scaling.attn_factor");
  args.add_int("--dim", &spec.n_embd, "embedding length");
  args.add_int("--layers", &spec.n_layer, "block count");
  args.add_int("--heads", &spec.n_head, "attention heads");
  args.add_int("--kv-heads", &spec.n_head_kv, "key/value heads");
  args.add_int("--ff", &spec.n_ff, "feed-forward length");
  args.add_int("--vocab", &spec.n_vocab, "vocabulary size (>= 262)");
  args.add_int("--ctx", &spec.n_ctx, "training context length (metadata)");
  args.add_flag("--tied", &spec.tied_embeddings, "no output.weight (tied embeddings)");
  args.add_flag("--rope-freqs", &spec.rope_freqs, "write rope_freqs.weight (Llama 3.1 style)");
  args.add_float("--rope-base", &spec.rope_freq_base, "rope.freq_base");
  args.add_string("--type", &type, "weight type: f32, f16, bf16, q8_0, q4_0");
  args.add_int("--experts", &spec.n_expert, "Mixtral experts (0: dense)");
  args.add_int("--experts-used", &spec.n_expert_used, "experts used per token");
  args.add_int("--seed", &seed, "random seed");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProg, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (pos.size() != 1) return cli::fail(kProg, "expected exactly one output file");
  auto t = type_from_name(type);
  if (!t) return cli::fail(kProg, "unknown --type '" + type + "'");
  spec.type = *t;
  spec.seed = static_cast<uint64_t>(seed);
  if (Status st = write_synthetic_model(pos[0], spec); !st) return cli::fail(kProg, st.message());
  std::fprintf(stderr, "%s: wrote %s\n", kProg, pos[0].c_str());
  return 0;
}
