// LayerNorm and GELU against llama.cpp: a two-layer synthetic GPT-2 file (llama.cpp's LLM_NORM
// layernorm with weight and bias, FFN up -> GELU -> down), written here with Kestrel's GGUF writer and
// the SentencePiece vocab of a synthetic Llama file; llref dumps layer 0 and we recompute
//   norm-0 (ggml_norm of inpL) and attn_norm-0 (* w + b) with kernels::layernorm,
//   ffn_gelu-0 (GELU of ffn_up_b-0) with kernels::gelu.
// Values are printed with 6 significant digits. LayerNorm must agree to 2e-5 relative. GELU's input is
// rounded to F16 (ggml's table), so a printed input within print precision of an F16 rounding midpoint
// may stand for either neighbour: every value must be the GELU of an input within print precision, and
// >= 99% that of the printed input itself, which the tanh formula without the table (off by up to
// ~5e-4) does not reach.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "kernels/ops.h"
#include "model/synthetic_model.h"
#include "tests/common/llref_dump.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {
namespace {

constexpr int kEmbd = 64, kHeads = 4, kFf = 128, kCtx = 128;
constexpr float kEps = 1e-5f;
const char* kPrompt = "Once upon a time there was a little girl named Lily who loved to play outside";

struct Gpt2File {
  std::vector<float> norm_w, norm_b;  // blk.0.attn_norm
};

Status write_gpt2(const std::string& path, Gpt2File* out) {
  // The vocab (and tokenizer keys) of a synthetic Llama file: the tokenizer is independent of the
  // architecture in llama.cpp.
  const std::string vocab_path = path + ".vocab.gguf";
  SyntheticSpec spec;
  spec.n_layer = 1;
  KESTREL_RETURN_IF_ERROR(write_synthetic_model(vocab_path, spec));
  auto vocab = GGUFFile::open(vocab_path);
  if (!vocab) return Status::error(vocab.error());
  GGUFWriter w;
  w.set_string("general.architecture", "gpt2");
  w.set_string("general.name", "kestrel-synthetic-gpt2");
  w.set_u32("gpt2.context_length", kCtx);
  w.set_u32("gpt2.embedding_length", kEmbd);
  w.set_u32("gpt2.feed_forward_length", kFf);
  w.set_u32("gpt2.block_count", 2);
  w.set_u32("gpt2.attention.head_count", kHeads);
  w.set_f32("gpt2.attention.layer_norm_epsilon", kEps);
  for (const KeyValue& kv : (*vocab)->metadata())
    if (kv.key.rfind("tokenizer.", 0) == 0) w.set(kv.key, kv.value);
  const int64_t n_vocab = spec.n_vocab;

  std::mt19937 rng(7);
  auto add = [&](const std::string& name, std::vector<int64_t> ne, float stddev, float mean,
                 std::vector<float>* keep = nullptr) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    std::normal_distribution<float> nd(mean, stddev);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = nd(rng);
    if (keep) *keep = v;
    return w.add_tensor(name, TensorType::F32, std::move(ne), v.data(), v.size() * sizeof(float));
  };
  const float s = 1.0f / std::sqrt(static_cast<float>(kEmbd));
  KESTREL_RETURN_IF_ERROR(add("token_embd.weight", {kEmbd, n_vocab}, 1.0f, 0.0f));
  KESTREL_RETURN_IF_ERROR(add("position_embd.weight", {kEmbd, kCtx}, 0.3f, 0.0f));
  KESTREL_RETURN_IF_ERROR(add("output_norm.weight", {kEmbd}, 0.1f, 1.0f));
  KESTREL_RETURN_IF_ERROR(add("output_norm.bias", {kEmbd}, 0.1f, 0.0f));
  // Two layers: llama.cpp keeps only the output rows (the last token) in the last layer, so layer 0
  // is the one that runs its FFN on every token.
  for (int il = 0; il < 2; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    KESTREL_RETURN_IF_ERROR(add(p + "attn_norm.weight", {kEmbd}, 0.2f, 1.0f, il == 0 ? &out->norm_w : nullptr));
    KESTREL_RETURN_IF_ERROR(add(p + "attn_norm.bias", {kEmbd}, 0.2f, 0.0f, il == 0 ? &out->norm_b : nullptr));
    KESTREL_RETURN_IF_ERROR(add(p + "attn_qkv.weight", {kEmbd, 3 * kEmbd}, s, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "attn_qkv.bias", {3 * kEmbd}, 0.1f, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "attn_output.weight", {kEmbd, kEmbd}, s, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "attn_output.bias", {kEmbd}, 0.1f, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_norm.weight", {kEmbd}, 0.1f, 1.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_norm.bias", {kEmbd}, 0.1f, 0.0f));
    // Up projections of about unit size plus a wide bias, so GELU sees its whole curved range.
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_up.weight", {kEmbd, kFf}, 3.0f * s, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_up.bias", {kFf}, 2.0f, 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_down.weight", {kFf, kEmbd}, 0.5f / std::sqrt(float(kFf)), 0.0f));
    KESTREL_RETURN_IF_ERROR(add(p + "ffn_down.bias", {kEmbd}, 0.1f, 0.0f));
  }
  return w.write(path);
}

const std::vector<float>* dump(const LlrefDumps& d, const std::string& key, int occurrence = 0) {
  auto it = d.find(key);
  if (it == d.end() || static_cast<int>(it->second.size()) <= occurrence) {
    ADD_FAILURE() << "llref dump has no " << key;
    return nullptr;
  }
  return &it->second[occurrence];
}

TEST(GeluLayernormVsLlamaCpp, Gpt2LayerZero) {
  KESTREL_REQUIRE_LLREF();
  const std::string path = temp_dir() + "/gpt2-synthetic.gguf";
  Gpt2File f;
  const Status st = write_gpt2(path, &f);
  ASSERT_TRUE(st.is_ok()) << st.message();
  std::string error;
  const LlrefDumps d = run_llref_tensors(path, kPrompt, "-fa off -ctk f32 -ctv f32", &error);
  ASSERT_TRUE(error.empty()) << error;

  // LayerNorm of the embeddings, plain (norm-0) and with weight and bias (attn_norm-0).
  const std::vector<float>* x = dump(d, "inpL|ADD");
  const std::vector<float>* plain = dump(d, "norm-0|NORM");
  const std::vector<float>* full = dump(d, "attn_norm-0|ADD");
  ASSERT_TRUE(x && plain && full);
  ASSERT_EQ(x->size() % kEmbd, 0u);
  ASSERT_EQ(plain->size(), x->size());
  ASSERT_EQ(full->size(), x->size());
  const int64_t n_tok = static_cast<int64_t>(x->size()) / kEmbd;
  ASSERT_GE(n_tok, 8);
  std::vector<float> a(x->size()), b(x->size());
  for (int64_t t = 0; t < n_tok; ++t) {
    kernels::layernorm(x->data() + t * kEmbd, nullptr, nullptr, a.data() + t * kEmbd, kEmbd, kEps);
    kernels::layernorm(x->data() + t * kEmbd, f.norm_w.data(), f.norm_b.data(), b.data() + t * kEmbd, kEmbd, kEps);
  }
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - (*plain)[i]) / (1.0 + std::fabs((*plain)[i])));
    worst = std::max(worst, std::fabs(b[i] - (*full)[i]) / (1.0 + std::fabs((*full)[i])));
  }
  std::cout << "layernorm: max relative difference to llama.cpp " << worst << "\n";
  EXPECT_LT(worst, 2e-5);

  // GELU of the biased up projection.
  const std::vector<float>* up = dump(d, "ffn_up_b-0|ADD");
  const std::vector<float>* gelu = dump(d, "ffn_gelu-0|GELU");
  ASSERT_TRUE(up && gelu);
  ASSERT_EQ(up->size(), gelu->size());
  ASSERT_EQ(up->size(), static_cast<size_t>(n_tok * kFf));
  std::vector<float> g = *up;
  kernels::gelu(g.data(), static_cast<int64_t>(g.size()));
  auto same = [](double got, double want) { return std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-7; };
  size_t close = 0;
  double worst_gelu = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double want = (*gelu)[i];
    worst_gelu = std::max(worst_gelu, std::fabs(g[i] - want) / (1e-6 + std::fabs(want)));
    if (same(g[i], want)) {
      ++close;
      continue;
    }
    // The printed input (6 digits) may sit on an F16 rounding midpoint and stand for either
    // neighbour: then llama.cpp's value must be the GELU of an input within print precision.
    float lo = (*up)[i] * (1.0f - 5e-6f), hi = (*up)[i] * (1.0f + 5e-6f);
    kernels::gelu(&lo, 1);
    kernels::gelu(&hi, 1);
    EXPECT_TRUE(same(lo, want) || same(hi, want))
        << "gelu at " << i << " of x = " << (*up)[i] << ": ours " << g[i] << ", llama.cpp " << want;
  }
  std::cout << "gelu: " << close << " of " << g.size() << " at print precision (the rest on printed F16 ties)\n";
  EXPECT_GE(close * 100, g.size() * 99);
}

}  // namespace
}  // namespace kestrel::test
