// Real files: every GGUF in shared/models and shared/vocab parses, and the facts below match what
// llama.cpp's own gguf reader (libggml-base of the llref release) reports for them: header counts,
// data offsets, tensor names/types/shapes/offsets and the llama.* hyper-parameters.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "tests/gguf/gguf_test_util.h"

namespace kestrel {
namespace {
namespace fs = std::filesystem;

std::string model(const std::string& name) { return test::shared_dir() + "/models/" + name; }

struct FileFacts {
  const char* path;  // relative to shared/
  uint64_t n_kv, n_tensors, data_offset;
};
// From ggml's gguf_get_n_kv / gguf_get_n_tensors / gguf_get_data_offset.
constexpr FileFacts kFacts[] = {
    {"models/stories260K-f16.gguf", 21, 48, 14240},
    {"models/stories260K-f32.gguf", 19, 48, 14176},
    {"models/stories260K-q4_0.gguf", 21, 48, 14240},
    {"models/stories260K-q8_0.gguf", 21, 48, 14240},
    {"vocab/ggml-vocab-deepseek-coder.gguf", 25, 0, 1156067},
    {"vocab/ggml-vocab-deepseek-llm.gguf", 23, 0, 3970167},
    {"vocab/ggml-vocab-falcon.gguf", 18, 0, 2287728},
    {"vocab/ggml-vocab-gpt-2.gguf", 16, 0, 1766807},
    {"vocab/ggml-vocab-llama-bpe.gguf", 17, 0, 7818044},
    {"vocab/ggml-vocab-llama-spm.gguf", 22, 0, 723869},
    {"vocab/ggml-vocab-mpt.gguf", 17, 0, 1771393},
    {"vocab/ggml-vocab-phi-3.gguf", 26, 0, 726019},
    {"vocab/ggml-vocab-qwen2.gguf", 14, 0, 5922018},
    {"vocab/ggml-vocab-refact.gguf", 18, 0, 1720710},
    {"vocab/ggml-vocab-starcoder.gguf", 19, 0, 1719346},
};

// Each file is parsed once (the vocab files are large): all must parse, and those in kFacts must match.
TEST(SharedFiles, EveryGGUFParsesAndMatchesGgml) {
  KESTREL_REQUIRE_SHARED();
  int n = 0, checked = 0;
  for (const char* dir : {"models", "vocab"}) {
    for (const auto& e : fs::directory_iterator(fs::path(test::shared_dir()) / dir)) {
      if (e.path().extension() != ".gguf") continue;
      auto f = GGUFFile::open(e.path().string());
      ASSERT_TRUE(f) << f.error();
      EXPECT_EQ((*f)->version(), 3u) << e.path();
      EXPECT_EQ((*f)->alignment(), 32u) << e.path();
      ++n;
      const std::string rel = std::string(dir) + "/" + e.path().filename().string();
      for (const FileFacts& ff : kFacts) {
        if (rel != ff.path) continue;
        EXPECT_EQ((*f)->metadata().size(), ff.n_kv) << ff.path;
        EXPECT_EQ((*f)->tensors().size(), ff.n_tensors) << ff.path;
        EXPECT_EQ((*f)->data_offset(), ff.data_offset) << ff.path;
        ++checked;
      }
    }
  }
  EXPECT_GE(n, 15);
  EXPECT_EQ(checked, static_cast<int>(sizeof(kFacts) / sizeof(kFacts[0])));
}

TEST(SharedFiles, Stories260KMetadata) {
  KESTREL_REQUIRE_SHARED();
  auto f = GGUFFile::open(model("stories260K-f32.gguf"));
  ASSERT_TRUE(f) << f.error();
  const GGUFFile& g = **f;
  EXPECT_EQ(*g.get_string("general.architecture"), "llama");
  EXPECT_EQ(*g.get_u32("llama.context_length"), 128u);
  EXPECT_EQ(*g.get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(*g.get_u32("llama.feed_forward_length"), 172u);
  EXPECT_EQ(*g.get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(*g.get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(*g.get_u32("llama.block_count"), 5u);
  EXPECT_EQ(*g.get_u32("llama.rope.dimension_count"), 8u);
  EXPECT_FLOAT_EQ(*g.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(*g.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(*g.get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*g.get_u32("tokenizer.ggml.eos_token_id"), 2u);
  auto tokens = g.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens) << tokens.error();
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[0], "<unk>");
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_EQ((*tokens)[3], "<0x00>");
  EXPECT_EQ(g.get_float_array("tokenizer.ggml.scores")->size(), 512u);
  auto types = g.get_i32_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types) << types.error();
  EXPECT_EQ((*types)[0], 2);  // unknown
  EXPECT_EQ((*types)[1], 3);  // control
  EXPECT_EQ((*types)[3], 6);  // byte
}

struct TensorFact {
  size_t index;
  const char* name;
  TensorType type;
  std::vector<int64_t> ne;
  uint64_t bytes, offset;
};

void expect_tensors(const std::string& file, const std::vector<TensorFact>& facts) {
  auto f = GGUFFile::open(model(file));
  ASSERT_TRUE(f) << f.error();
  ASSERT_EQ((*f)->tensors().size(), 48u);
  for (const TensorFact& tf : facts) {
    const TensorInfo& t = (*f)->tensors()[tf.index];
    EXPECT_EQ(t.name, tf.name) << file;
    EXPECT_EQ(t.type, tf.type) << file << " " << tf.name;
    EXPECT_EQ(t.ne, tf.ne) << file << " " << tf.name;
    EXPECT_EQ(t.bytes, tf.bytes) << file << " " << tf.name;
    EXPECT_EQ(t.offset, tf.offset) << file << " " << tf.name;
  }
  // 5 layers x 9 tensors + token_embd, output_norm, output.
  for (int l = 0; l < 5; ++l)
    for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                          "ffn_down"})
      EXPECT_NE((*f)->find_tensor("blk." + std::to_string(l) + "." + n + ".weight"), nullptr) << file << " " << l << n;
}

TEST(SharedFiles, Stories260KTensorTables) {
  KESTREL_REQUIRE_SHARED();
  // Facts as ggml reports them (ggml_get_tensor + ggml_nbytes + gguf_get_tensor_offset).
  expect_tensors("stories260K-f32.gguf", {
      {0, "token_embd.weight", TensorType::F32, {64, 512}, 131072, 0},
      {1, "output_norm.weight", TensorType::F32, {64}, 256, 131072},
      {2, "output.weight", TensorType::F32, {64, 512}, 131072, 131328},
      {3, "blk.0.attn_q.weight", TensorType::F32, {64, 64}, 16384, 262400},
  });
  expect_tensors("stories260K-q4_0.gguf", {
      {0, "output.weight", TensorType::Q4_0, {64, 512}, 18432, 0},
      {1, "output_norm.weight", TensorType::F32, {64}, 256, 18432},
      {2, "token_embd.weight", TensorType::Q4_0, {64, 512}, 18432, 18688},
      {3, "blk.0.attn_k.weight", TensorType::Q4_0, {64, 32}, 1152, 37120},
      {8, "blk.0.ffn_down.weight", TensorType::F16, {172, 64}, 22016, 44288},
      {9, "blk.0.ffn_gate.weight", TensorType::Q4_0, {64, 172}, 6192, 66304},
  });
  expect_tensors("stories260K-q8_0.gguf", {{3, "blk.0.attn_k.weight", TensorType::Q8_0, {64, 32}, 2176, 69888}});
  expect_tensors("stories260K-f16.gguf", {{8, "blk.0.ffn_down.weight", TensorType::F16, {172, 64}, 22016, 156160}});
}

TEST(SharedFiles, SameF32TensorAcrossQuantizations) {
  KESTREL_REQUIRE_SHARED();
  // Norm weights stay f32 in every quantization: their bytes must be identical.
  auto a = GGUFFile::open(model("stories260K-f32.gguf"));
  auto b = GGUFFile::open(model("stories260K-q4_0.gguf"));
  ASSERT_TRUE(a && b);
  for (const char* n : {"output_norm.weight", "blk.3.ffn_norm.weight"}) {
    const TensorInfo* ta = (*a)->find_tensor(n);
    const TensorInfo* tb = (*b)->find_tensor(n);
    ASSERT_TRUE(ta && tb) << n;
    ASSERT_EQ(ta->bytes, tb->bytes);
    EXPECT_EQ(std::memcmp((*a)->tensor_data(*ta), (*b)->tensor_data(*tb), ta->bytes), 0) << n;
  }
}

TEST(SharedFiles, VocabArrays) {
  KESTREL_REQUIRE_SHARED();
  std::string path = test::shared_dir() + "/vocab/ggml-vocab-llama-bpe.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path;
  auto f = GGUFFile::open(path);
  ASSERT_TRUE(f) << f.error();
  auto tokens = (*f)->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens) << tokens.error();
  EXPECT_EQ(tokens->size(), 128256u);
  auto merges = (*f)->get_string_array("tokenizer.ggml.merges");
  ASSERT_TRUE(merges) << merges.error();
  EXPECT_EQ(merges->size(), 280147u);
  EXPECT_EQ(*(*f)->get_string("tokenizer.ggml.model"), "gpt2");
}

}  // namespace
}  // namespace kestrel
