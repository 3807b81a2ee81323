// Synthetic Llama models with F16 and BF16 weights and a 154-token prompt (ten 16-token tiles, a
// partial one, and more than one job per thread) on the AVX-512 prompt kernels, on AMX tiles where the
// CPU has them (kernels/avx512/gemm_amx_half_avx512.h), evaluated by Kestrel (tiles on, and off: the
// FMA kernels) and by llama.cpp (llref): the logits at every prompt position must agree.
// test_synthetic_llref.cpp covers more shapes with a shorter prompt and no BF16.
//
// Tolerances as in test_synthetic_llref.cpp for F16 (both engines round activations to F16 before each
// matmul; a summation-order difference sometimes moves an activation across a rounding boundary, and the
// flip spreads through attention): max |difference| 2e-2, RMS of the difference 0.5% of the logits' RMS.
// BF16 rounds activations to 8 significant bits instead of 11, so one flip is an 8x larger step: the
// bounds are 8x as large for the max (1.6e-1) and 2x for the RMS (1e-2). Measured on a Sapphire Rapids
// Xeon, 154 positions, tiles and FMA alike: F16 max 0.0097, RMS 0.064%; BF16 max 0.052, RMS 0.25%.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/isa.h"
#include "kernels/matmul_isa.h"
#include "tests/model/test_model_support.h"

namespace kestrel::test {
namespace {

const char* kPrompt =
    "Once upon a time, there was a little girl named Lily. She liked to play with her friend in the park. "
    "One day they found a big red ball under a tree, and they played with it until the sun went down. "
    "Then they went home, ate their dinner and told their mothers about the ball.";

struct Shape {
  const char* name;
  int n_embd, n_head, n_head_kv;
  bool tied, rope_freqs;
};
const Shape kShapes[] = {{"hd64_gqa1_untied", 256, 4, 4, false, false}, {"hd64_gqa8_tied_ropefreqs", 512, 8, 1, true, true}};

TEST(SyntheticHalfVsLlamaCpp, LongPromptLogitsF16AndBF16) {
  KESTREL_REQUIRE_LLREF();
  ASSERT_TRUE(kernels::init_isa_from_env());
  int seed = 41;
  for (const Shape& sh : kShapes) {
    for (TensorType type : {TensorType::F16, TensorType::BF16}) {
      SyntheticSpec spec = small_llama_spec(sh.n_embd, sh.n_head, sh.n_head_kv, sh.tied, sh.rope_freqs, type,
                                            static_cast<uint64_t>(++seed));
      const std::string tag = std::string(sh.name) + "_" + std::string(type_name(type));
      const std::string path = temp_dir() + "/" + tag + ".gguf";
      ASSERT_TRUE(write_synthetic_model(path, spec)) << tag;

      const std::vector<int32_t> ids = llref_tokenize(path, kPrompt);
      ASSERT_GT(ids.size(), 40u) << tag;
      const std::vector<float> ref = llref_prompt_logits(path, kPrompt, temp_dir() + "/" + tag + ".f32");
      auto model = Model::load(path);
      ASSERT_TRUE(model) << model.error();
      const int V = (*model)->config().n_vocab;
      ASSERT_EQ(ref.size(), ids.size() * V) << tag;
      const float max_tol = type == TensorType::F16 ? 2e-2f : 16e-2f;
      const float rms_tol = type == TensorType::F16 ? 5e-3f : 1e-2f;
      for (bool amx : {true, false}) {
#if defined(__x86_64__)
        const bool was = kernels::set_amx_enabled(amx);
        const bool tiles = kernels::amx_bf16_enabled();
#else
        if (!amx) continue;
        const bool tiles = false;
#endif
        auto s = Session::create(**model, {.n_ctx = 256, .n_threads = 2, .cache_type = TensorType::F32});
        ASSERT_TRUE(s) << s.error();
        ASSERT_TRUE((*s)->eval(ids, true));
#if defined(__x86_64__)
        kernels::set_amx_enabled(was);
#endif
        const auto [worst, rel_rms, same_argmax] = compare_logits(**s, ref.data(), ids.size(), V);
        std::printf("[synthetic half %s, %s] %zu positions: max |diff| %.3g, rms diff / rms logits %.2g, same argmax %zu\n",
                    tag.c_str(), tiles ? "AMX tiles" : "FMA / VDPBF16PS kernels", ids.size(), worst, rel_rms, same_argmax);
        EXPECT_LE(worst, max_tol) << tag;
        EXPECT_LE(rel_rms, rms_tol) << tag;
        EXPECT_GE(same_argmax * 10, ids.size() * 9) << tag;
        if (amx && !tiles) break;  // no tiles on this CPU: a second run would repeat the first
      }
    }
  }
}

}  // namespace
}  // namespace kestrel::test
