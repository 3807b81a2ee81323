// RoPE scaling kinds against llama.cpp: a one-layer synthetic Llama file carries rope.scaling metadata
// (YaRN, linear), llref dumps layer 0's Q and K before and after ROPE, and our rope() with the
// parameters llama.cpp derives from that metadata (llama-context.cpp: ext_factor 1 for YaRN,
// attn_factor = get_mscale(factor) / (1 + 0.1 ln factor), beta_fast 32, beta_slow 1, n_ctx_orig =
// rope.scaling.original_context_length) must reproduce its output. Values are printed with 6
// significant digits, so the tolerance is 3e-5 relative; the wrong scaling kind is off by O(1e-1).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "model/synthetic_model.h"
#include "tests/common/llref_dump.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {
namespace {

constexpr int kEmbd = 64, kHeads = 4, kHeadsKv = 2, kHeadDim = kEmbd / kHeads;
const char* kPrompt = "Once upon a time there was a little girl named Lily who loved to play outside";

struct Case {
  const char* type;
  float factor;
  int orig_ctx;
};

// Max |ours - llama.cpp| / (1 + |llama.cpp|) over Qcur-0 and Kcur-0 with parameters p.
double rope_error(const LlrefDumps& d, const kernels::RopeParams& p) {
  double worst = 0;
  for (const char* name : {"Qcur-0", "Kcur-0"}) {
    const int heads = name[0] == 'Q' ? kHeads : kHeadsKv;
    auto in = d.find(std::string(name) + "|RESHAPE"), out = d.find(std::string(name) + "|ROPE");
    if (in == d.end() || out == d.end() || in->second.empty() || out->second.empty()) {
      ADD_FAILURE() << "llref dump has no " << name << " RESHAPE/ROPE";
      return 1e30;
    }
    std::vector<float> x = in->second[0];
    const std::vector<float>& want = out->second[0];
    const int64_t row = heads * kHeadDim;
    EXPECT_EQ(x.size(), want.size());
    EXPECT_EQ(x.size() % row, 0u);
    if (x.size() != want.size() || x.size() < static_cast<size_t>(8 * row)) {
      ADD_FAILURE() << name << ": unexpected dump size " << x.size();
      return 1e30;
    }
    for (int64_t t = 0; t < static_cast<int64_t>(x.size()) / row; ++t) kernels::rope(x.data() + t * row, heads, kHeadDim, t, p);
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - want[i]) / (1.0 + std::fabs(want[i])));
  }
  return worst;
}

TEST(RopeScalingVsLlamaCpp, YarnAndLinear) {
  KESTREL_REQUIRE_LLREF();
  for (const Case& c : {Case{"yarn", 4.0f, 32}, Case{"yarn", 8.0f, 64}, Case{"linear", 2.0f, 0}}) {
    const std::string tag = std::string(c.type) + " x" + std::to_string(c.factor);
    SyntheticSpec spec;
    spec.n_embd = kEmbd;
    spec.n_head = kHeads;
    spec.n_head_kv = kHeadsKv;
    spec.n_layer = 1;
    spec.rope_scaling_type = c.type;
    spec.rope_scaling_factor = c.factor;
    spec.rope_scaling_orig_ctx = c.orig_ctx;
    const std::string path = temp_dir() + "/rope-" + c.type + std::to_string(c.orig_ctx) + ".gguf";
    ASSERT_TRUE(write_synthetic_model(path, spec).is_ok()) << tag;
    std::string error;
    const LlrefDumps d = run_llref_tensors(path, kPrompt, "-fa off -ctk f32 -ctv f32", &error);
    ASSERT_TRUE(error.empty()) << error;

    kernels::RopeParams p;
    p.freq_base = spec.rope_freq_base;
    p.freq_scale = 1.0f / c.factor;
    if (std::string(c.type) == "yarn") {
      p.ext_factor = 1.0f;
      p.n_ctx_orig = c.orig_ctx;
      p.attn_factor = (0.1f * std::log(c.factor) + 1.0f) * (1.0f / (1.0f + 0.1f * std::log(c.factor)));
    }
    ASSERT_TRUE(kernels::check_rope_params(kHeadDim, p).is_ok());
    const double err = rope_error(d, p);
    std::cout << tag << ": max relative difference to llama.cpp " << err << "\n";
    EXPECT_LT(err, 3e-5) << tag;

    // The test can tell the kinds apart: unscaled rope, and for YaRN plain linear scaling, are far off.
    kernels::RopeParams plain;
    plain.freq_base = p.freq_base;
    EXPECT_GT(rope_error(d, plain), 1e-2) << tag;
    if (p.ext_factor != 0.0f) {
      kernels::RopeParams linear = plain;
      linear.freq_scale = p.freq_scale;
      EXPECT_GT(rope_error(d, linear), 1e-2) << tag;
    }
  }
}

}  // namespace
}  // namespace kestrel::test
