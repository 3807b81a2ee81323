// A Q4_K_M file (llm-quantize's q4_k_m mixture of an F32 synthetic model: Q4_K matrices, Q6_K for
// output.weight and the bumped attn_v / ffn_down) loaded with and without the x16 layouts
// (kernels/kquant_x16.h): prompt logits bit-identical (the prompt kernels build the same panels from
// either layout), decode logits within f32 summation-order noise with the same greedy tokens (the x16
// decode tiles sum per sub-block in another order than the ggml-layout kernel).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "kernels/isa.h"
#include "model/synthetic_model.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

TEST(RepackKquantModel, Q4KMSameLogitsWithAndWithoutRepacking) {
  SyntheticSpec spec;
  spec.n_vocab = 300;
  spec.n_embd = 256;  // K-quant rows are multiples of 256
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 512;
  spec.n_ctx = 64;
  spec.type = TensorType::F32;
  spec.seed = 23;
  const std::string f32 = temp_dir() + "/repack_kquant_f32.gguf", q = temp_dir() + "/repack_kquant_q4_k_m.gguf";
  ASSERT_TRUE(write_synthetic_model(f32, spec));
  const std::string cmd = "'" + bin_dir() + "/llm-quantize' '" + f32 + "' '" + q + "' q4_k_m > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto on = Model::load(q);
  auto off = Model::load(q, {.repack = false});
  ASSERT_TRUE(on) << on.error();
  ASSERT_TRUE(off) << off.error();
  EXPECT_EQ((*off)->repack_summary(), "off");
  // Q4_K and Q6_K matrices have x16 layouts on AVX-512 (the tiles under test).
  if (kernels::active_isa() == kernels::Isa::Avx512) {
    EXPECT_NE((*on)->repack_summary().rfind("0 ", 0), 0u) << (*on)->repack_summary();
  }

  const int V = spec.n_vocab;
  std::vector<int32_t> prompt(40);  // >= 32 tokens: Q4_K's prompt path runs on AMX tiles where present
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = 1 + static_cast<int32_t>(i * 37) % (V - 1);
  // Its Q6_K matrices: prompts agree to noise only on AVX-512 (see test_repack_model.cpp).
  ASSERT_NO_FATAL_FAILURE(
      expect_repack_matches_plain(**on, **off, prompt, V, 6, kernels::active_isa() != kernels::Isa::Avx512));
}

}  // namespace
}  // namespace kestrel::test
