// Load-time repacking (kernels/repack.h, model/repack_weights.cpp) changes where matrices live and how
// they are read, never the model's answer: synthetic models of each type, a MoE model and a model with
// tied embeddings, loaded with and without repacking. Prompt batches give bit-identical logits (the
// repacked prompt kernels build the same panels as the ggml-layout ones; copied matrices are the same
// bytes); decode steps equal within the f32 summation order (repacked decode sums like the scalar
// kernels, the ggml-layout SIMD decode in another order) and pick the same tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/repack.h"
#include "model/synthetic_model.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

struct RepackCase {
  const char* name;
  TensorType type;
  int n_expert = 0;
  bool tied = false;
};

class RepackModel : public ::testing::TestWithParam<RepackCase> {};

SyntheticSpec repack_spec(const RepackCase& c, uint64_t seed) {
  SyntheticSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 256;  // K-quants need rows of 256
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 288;    // 9 blocks (odd) and 18 row groups of 16 (a half panel); vocab 300: a 12-row tail
  if (c.type == TensorType::Q4_K || c.type == TensorType::Q6_K) spec.n_ff = 512;
  spec.n_ctx = 64;
  spec.type = c.type;
  spec.n_expert = c.n_expert;
  spec.n_expert_used = c.n_expert ? 2 : 0;
  spec.tied_embeddings = c.tied;
  spec.seed = seed;
  return spec;
}

TEST_P(RepackModel, SameLogitsWithAndWithoutRepacking) {
  const RepackCase& c = GetParam();
  const SyntheticSpec spec = repack_spec(c, 11);
  const std::string path = temp_dir() + "/repack_" + c.name + ".gguf";
  ASSERT_TRUE(write_synthetic_model(path, spec));
  auto on = Model::load(path);
  auto off = Model::load(path, {.repack = false});
  ASSERT_TRUE(on) << on.error();
  ASSERT_TRUE(off) << off.error();
  EXPECT_EQ((*off)->repack_summary(), "off");
  EXPECT_NE((*on)->repack_summary(), "off");
  const int V = spec.n_vocab;
  std::vector<int32_t> prompt(12);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = 1 + static_cast<int32_t>(i * 53) % (V - 1);

  // Q6_K: the q6_Kx16 kernels sum in llama.cpp's order (ggml_vec_dot_q6_K_q8_K) at every batch size on
  // AVX-512, the ggml-layout kernel (--no-repack) in one float chain per row: prompts agree to noise only.
  const bool prompt_exact = !(c.type == TensorType::Q6_K && kernels::active_isa() == kernels::Isa::Avx512);
  ASSERT_NO_FATAL_FAILURE(expect_repack_matches_plain(**on, **off, prompt, V, 4, prompt_exact));
}

INSTANTIATE_TEST_SUITE_P(Types, RepackModel,
                         ::testing::Values(RepackCase{"q8_0", TensorType::Q8_0}, RepackCase{"q4_0", TensorType::Q4_0},
                                           RepackCase{"f16", TensorType::F16}, RepackCase{"bf16", TensorType::BF16},
                                           RepackCase{"f16_tied", TensorType::F16, 0, true}, RepackCase{"q4_k", TensorType::Q4_K},
                                           RepackCase{"q6_k", TensorType::Q6_K},
                                           RepackCase{"q8_0_tied", TensorType::Q8_0, 0, true},
                                           RepackCase{"q4_0_moe", TensorType::Q4_0, 4, false}),
                         [](const auto& i) { return std::string(i.param.name); });

// --no-mmap with repacking holds the weights once: matrices in a repacked layout drop their ggml rows
// (data == nullptr), a tied embedding too (get_rows unpacks its rows from the layout); the rest are heap copies
// (the file mapping is gone). The answer is the plain one.
TEST(RepackModel, NoMmapKeepsOneCopyOfEachMatrix) {
  for (bool tied : {false, true}) {
    const SyntheticSpec spec = repack_spec(RepackCase{"heap", TensorType::Q8_0, 0, tied}, 12);
    const std::string path = temp_dir() + "/repack_heap_" + std::to_string(tied) + ".gguf";
    ASSERT_TRUE(write_synthetic_model(path, spec));
    auto heap = Model::load(path, {.use_mmap = false, .n_threads = 2});
    auto off = Model::load(path, {.repack = false});
    ASSERT_TRUE(heap) << heap.error();
    ASSERT_TRUE(off) << off.error();
    int n_packed = 0;
    for (const TensorView& t : (*heap)->weights().tensors()) {
      if (t.packed != nullptr) {
        ++n_packed;
        EXPECT_EQ(t.data, nullptr) << t.name;  // a tied embedding too: get_rows reads the layout
      } else {
        EXPECT_NE(t.data, nullptr) << t.name;
      }
      EXPECT_FALSE((*heap)->weights().is_mapped(t.data)) << t.name;
    }
    if (kernels::repack_layout(kernels::active_isa(), TensorType::Q8_0) != nullptr) {
      EXPECT_GT(n_packed, 0);
    }
    std::vector<int32_t> prompt(12);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = 1 + static_cast<int32_t>(i * 53) % (spec.n_vocab - 1);
    ASSERT_NO_FATAL_FAILURE(expect_repack_matches_plain(**heap, **off, prompt, spec.n_vocab, 4)) << "tied " << tied;
  }
}

}  // namespace
}  // namespace kestrel::test
