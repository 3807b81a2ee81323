// Config and weight binding: hyperparameters from metadata, tied embeddings, rope_freqs, and the
// one-line errors for missing tensors, wrong shapes, unsupported architectures/types and bad metadata.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/config.h"
#include "model/llm.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {
namespace {

SyntheticSpec small_spec() {
  SyntheticSpec s;
  s.n_vocab = 300;
  s.n_embd = 256;  // a multiple of 256 so a Q4_K tensor can stand in for a weight
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 96;
  s.n_ctx = 64;
  return s;
}

std::string make_model(const std::string& name, const SyntheticSpec& spec) {
  const std::string path = temp_dir() + "/" + name + ".gguf";
  Status st = write_synthetic_model(path, spec);
  EXPECT_TRUE(st) << st.message();
  return path;
}

// Copies a GGUF file with edits: `edit_kv` may change the metadata, `keep` drops tensors, `replace`
// may substitute a tensor (type, shape, bytes).
struct TensorEdit {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> data;
};
std::string rewrite(const std::string& src, const std::string& name, std::function<void(GGUFWriter&)> edit_kv,
                    const std::string& drop_tensor = "", const TensorEdit* replace = nullptr) {
  auto f = GGUFFile::open(src);
  EXPECT_TRUE(f) << f.error();
  GGUFWriter w;
  for (const KeyValue& kv : (*f)->metadata()) w.set(kv.key, kv.value);
  if (edit_kv) edit_kv(w);
  for (const TensorInfo& t : (*f)->tensors()) {
    if (t.name == drop_tensor) continue;
    if (replace && t.name == replace->name) {
      EXPECT_TRUE(w.add_tensor(t.name, replace->type, replace->ne, replace->data.data(), replace->data.size()));
      continue;
    }
    EXPECT_TRUE(w.add_tensor(t.name, t.type, t.ne, (*f)->tensor_data(t), t.bytes));
  }
  const std::string path = temp_dir() + "/" + name + ".gguf";
  EXPECT_TRUE(w.write(path));
  return path;
}

std::string load_error(const std::string& path) {
  auto m = Model::load(path);
  return m ? std::string("(loaded)") : m.error();
}

TEST(ModelConfig, ReadsHyperparameters) {
  SyntheticSpec spec = small_spec();
  spec.rope_freqs = true;
  spec.rope_freq_base = 500000.0f;
  spec.rms_eps = 1e-6f;
  const std::string path = make_model("hparams", spec);
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_vocab, 300);
  EXPECT_EQ(c.n_ctx_train, 64);
  EXPECT_EQ(c.n_embd, 256);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_ff, 96);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_rot, 64);
  EXPECT_FLOAT_EQ(c.rope_freq_base, 500000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_freq_scale, 1.0f);
  EXPECT_EQ(c.n_expert, 0);
  EXPECT_TRUE(c.has_rope_freqs);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ((*m)->type_name(), "F32");
}

TEST(ModelConfig, TiedEmbeddingsAndMixedTypes) {
  SyntheticSpec spec = small_spec();
  spec.tied_embeddings = true;
  spec.type = TensorType::Q8_0;
  auto m = Model::load(make_model("tied", spec));
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE((*m)->config().tied_embeddings);
  EXPECT_FALSE((*m)->config().has_rope_freqs);
  EXPECT_EQ((*m)->type_name(), "Q8_0");

  // Q8_0 weights with an F16 ffn_down (as llama.cpp's quantizer leaves odd-width rows) load and run.
  const int64_t F = spec.n_ff, E = spec.n_embd;
  TensorEdit f16_down{"blk.0.ffn_down.weight", TensorType::F16, {F, E}, std::vector<uint8_t>(F * E * 2, 0)};
  auto mixed = Model::load(rewrite(make_model("tied2", spec), "mixed", nullptr, "", &f16_down));
  ASSERT_TRUE(mixed) << mixed.error();
  auto s = Session::create(**mixed, {.n_ctx = 16, .n_threads = 1});
  ASSERT_TRUE(s) << s.error();
  EXPECT_TRUE((*s)->eval({1, 300 - 1, 42}));
}

TEST(ModelConfig, LinearRopeScaling) {
  const std::string path = rewrite(make_model("rs", small_spec()), "rs_linear", [](GGUFWriter& w) {
    w.set_string("llama.rope.scaling.type", "linear");
    w.set_f32("llama.rope.scaling.factor", 4.0f);
  });
  auto m = Model::load(path);
  ASSERT_TRUE(m) << m.error();
  EXPECT_FLOAT_EQ((*m)->config().rope_freq_scale, 0.25f);

  // YaRN (factor 4): llama.cpp's derived parameters; an unknown kind is an error naming the supported ones.
  const std::string yarn = rewrite(path, "rs_yarn", [](GGUFWriter& w) { w.set_string("llama.rope.scaling.type", "yarn"); });
  auto y = Model::load(yarn);
  ASSERT_TRUE(y) << y.error();
  EXPECT_EQ((*y)->config().rope_scaling, "yarn");
  EXPECT_FLOAT_EQ((*y)->config().yarn_ext_factor, 1.0f);
  EXPECT_FLOAT_EQ((*y)->config().yarn_attn_factor, 1.0f);  // get_mscale(4) / (1 + 0.1 ln 4)
  EXPECT_EQ((*y)->config().n_ctx_orig, (*y)->config().n_ctx_train);
  EXPECT_FLOAT_EQ((*y)->config().yarn_beta_fast, 32.0f);  // llama_hparams defaults; no generic key sets them
  EXPECT_FLOAT_EQ((*y)->config().yarn_beta_slow, 1.0f);
  // rope.scaling.attn_factor multiplies the YaRN factor; original_context_length binds n_ctx_orig, and 0
  // falls back to the training context (llama_context); a factor below 1 keeps mscale 1 but the cancelling
  // 1 / (1 + 0.1 ln factor) still applies.
  const std::string yarn2 = rewrite(path, "rs_yarn2", [](GGUFWriter& w) {
    w.set_string("llama.rope.scaling.type", "yarn");
    w.set_f32("llama.rope.scaling.factor", 0.5f);
    w.set_f32("llama.rope.scaling.attn_factor", 1.25f);
    w.set_u32("llama.rope.scaling.original_context_length", 48);
  });
  auto y2 = Model::load(yarn2);
  ASSERT_TRUE(y2) << y2.error();
  EXPECT_FLOAT_EQ((*y2)->config().rope_freq_scale, 2.0f);
  EXPECT_EQ((*y2)->config().n_ctx_orig, 48);
  EXPECT_FLOAT_EQ((*y2)->config().yarn_attn_factor, 1.25f / (1.0f + 0.1f * std::log(0.5f)));
  const std::string yarn0 = rewrite(path, "rs_yarn0", [](GGUFWriter& w) {
    w.set_string("llama.rope.scaling.type", "yarn");
    w.set_u32("llama.rope.scaling.original_context_length", 0);
  });
  auto y0 = Model::load(yarn0);
  ASSERT_TRUE(y0) << y0.error();
  EXPECT_EQ((*y0)->config().n_ctx_orig, (*y0)->config().n_ctx_train);
  const std::string bogus = rewrite(path, "rs_bogus", [](GGUFWriter& w) { w.set_string("llama.rope.scaling.type", "su"); });
  EXPECT_NE(load_error(bogus).find("rope.scaling.type = 'su' is not supported (none, linear, yarn, longrope)"),
            std::string::npos)
      << load_error(bogus);
}

TEST(ModelConfig, ErrorsNameTheProblem) {
  const std::string base = make_model("base", small_spec());

  std::string e = load_error(rewrite(base, "no_k", nullptr, "blk.1.attn_k.weight"));
  EXPECT_NE(e.find("missing tensor 'blk.1.attn_k.weight'"), std::string::npos) << e;

  e = load_error(rewrite(base, "no_norm", nullptr, "output_norm.weight"));
  EXPECT_NE(e.find("missing tensor 'output_norm.weight'"), std::string::npos) << e;

  TensorEdit wide{"blk.0.ffn_up.weight", TensorType::F32, {256, 128}, std::vector<uint8_t>(256 * 128 * 4, 0)};
  e = load_error(rewrite(base, "bad_shape", nullptr, "", &wide));
  EXPECT_NE(e.find("tensor 'blk.0.ffn_up.weight' has shape [256, 128], expected [256, 96]"), std::string::npos) << e;

  // IQ2_XXS: 256 values per 66-byte block. Parsed fine, but not computable: the error names type and tensor.
  TensorEdit iq2{"blk.0.attn_q.weight", TensorType::IQ2_XXS, {256, 256}, std::vector<uint8_t>(256 * 66, 0)};
  e = load_error(rewrite(base, "iq2xxs", nullptr, "", &iq2));
  EXPECT_NE(e.find("tensor 'blk.0.attn_q.weight' has type iq2_xxs"), std::string::npos) << e;

  e = load_error(rewrite(base, "mamba", [](GGUFWriter& w) { w.set_string("general.architecture", "mamba"); }));
  EXPECT_NE(e.find("unsupported architecture 'mamba'"), std::string::npos) << e;

  e = load_error(rewrite(base, "kv3", [](GGUFWriter& w) { w.set_u32("llama.attention.head_count_kv", 3); }));
  EXPECT_NE(e.find("head_count_kv"), std::string::npos) << e;

  e = load_error(rewrite(base, "no_eps", [](GGUFWriter& w) { w.set_string("llama.attention.layer_norm_rms_epsilon", "x"); }));
  EXPECT_NE(e.find("llama.attention.layer_norm_rms_epsilon"), std::string::npos) << e;

  e = load_error(rewrite(base, "zero_layers", [](GGUFWriter& w) { w.set_u32("llama.block_count", 0); }));
  EXPECT_NE(e.find("llama.block_count"), std::string::npos) << e;

  // Every message is one line.
  for (const char* p : {"no_k", "bad_shape", "q4k", "mamba"}) {
    e = load_error(temp_dir() + "/" + p + ".gguf");
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(ModelConfig, ArchitectureHyperparameters) {
  // Gemma 3: llama.cpp's layer pattern (every 6th layer global unless the file says otherwise), local RoPE
  // base 10000 unscaled, global layers with the file's base and scaling, 1/sqrt(head_dim) query scale.
  SyntheticSpec g = small_spec();
  g.arch = "gemma3";
  g.n_layer = 7;
  g.head_dim = 128;
  g.n_swa = 32;
  g.rope_freq_base = 1e6f;
  g.rope_scaling_type = "linear";
  g.rope_scaling_factor = 8.0f;
  g.tied_embeddings = true;
  const std::string gemma3 = make_model("gemma3", g);
  auto m = Model::load(gemma3);
  ASSERT_TRUE(m) << m.error();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.n_swa, 32);
  for (int il = 0; il < 7; ++il) EXPECT_EQ(c.is_swa(il), il != 5) << il;
  EXPECT_FLOAT_EQ(c.rope_freq_base, 1e6f);
  EXPECT_FLOAT_EQ(c.rope_freq_scale, 0.125f);
  EXPECT_FLOAT_EQ(c.rope_freq_base_swa, 10000.0f);
  EXPECT_FLOAT_EQ(c.rope_freq_scale_swa, 1.0f);
  EXPECT_FLOAT_EQ(c.attn_scale, 1.0f / std::sqrt(128.0f));
  EXPECT_TRUE(c.tied_embeddings);
  // A session far longer than the window runs (the local layers' ring holds window + batch).
  auto s = Session::create(**m, {.n_ctx = 64, .n_threads = 1, .n_batch = 8});
  ASSERT_TRUE(s) << s.error();
  std::vector<int32_t> ids(40);
  for (int i = 0; i < 40; ++i) ids[i] = 3 + i;
  EXPECT_TRUE((*s)->eval(ids));
  for (int i = 0; i < 20; ++i) EXPECT_TRUE((*s)->eval({5}));

  // A per-layer bool array overrides the pattern; a wrong length is an error naming the key.
  auto arr = Model::load(rewrite(gemma3, "g3arr", [](GGUFWriter& w) {
    std::vector<Value> v;
    for (int i = 0; i < 7; ++i) v.push_back(Value::boolean(i % 2 == 0));
    w.set("gemma3.attention.sliding_window_pattern", Value::array(ValueType::BOOL, v));
  }));
  ASSERT_TRUE(arr) << arr.error();
  for (int il = 0; il < 7; ++il) EXPECT_EQ((*arr)->config().is_swa(il), il % 2 == 0) << il;
  std::string e = load_error(rewrite(gemma3, "g3bad", [](GGUFWriter& w) {
    w.set("gemma3.attention.sliding_window_pattern", Value::array(ValueType::BOOL, {Value::boolean(true)}));
  }));
  EXPECT_NE(e.find("gemma3.attention.sliding_window_pattern must be 7 bools"), std::string::npos) << e;
  e = load_error(rewrite(gemma3, "g3cap", [](GGUFWriter& w) { w.set_f32("gemma3.final_logit_softcapping", -1.0f); }));
  EXPECT_NE(e.find("gemma3.final_logit_softcapping must be >= 0"), std::string::npos) << e;

  // Gemma 2 without a window key: llama.cpp's default 4096, every other layer local, soft-caps read.
  SyntheticSpec g2 = small_spec();
  g2.arch = "gemma2";
  g2.attn_softcap = 50.0f;
  auto m2 = Model::load(make_model("gemma2", g2));
  ASSERT_TRUE(m2) << m2.error();
  EXPECT_EQ((*m2)->config().n_swa, 4096);
  EXPECT_TRUE((*m2)->config().is_swa(0));
  EXPECT_FALSE((*m2)->config().is_swa(1));
  EXPECT_FLOAT_EQ((*m2)->config().attn_softcap, 50.0f);

  // GPT-2: learned positions exist for the training context only.
  SyntheticSpec gp = small_spec();
  gp.arch = "gpt2";
  gp.n_head_kv = gp.n_head;
  auto m3 = Model::load(make_model("gpt2", gp));
  ASSERT_TRUE(m3) << m3.error();
  auto too_long = Session::create(**m3, {.n_ctx = 128, .n_threads = 1});
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().find("exceeds the model's 64 learned positions"), std::string::npos) << too_long.error();
  // Missing LayerNorm bias: the error names the tensor.
  e = load_error(rewrite(make_model("gpt2b", gp), "gpt2nob", nullptr, "blk.1.ffn_norm.bias"));
  EXPECT_NE(e.find("missing tensor 'blk.1.ffn_norm.bias'"), std::string::npos) << e;
}

TEST(ModelConfig, MissingFileIsAnError) {
  auto m = Model::load(temp_dir() + "/does-not-exist.gguf");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("does-not-exist.gguf"), std::string::npos) << m.error();
}

}  // namespace
}  // namespace kestrel::test
