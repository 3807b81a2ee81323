// The element-wise and attention kernels against llama.cpp itself: llref dumps layer 0 of
// stories260K (inputs and outputs of RMS_NORM, ROPE, SWIGLU, SOFT_MAX and the attention block) for a
// 39-token prompt; we recompute each output from llama.cpp's own inputs with our kernels (active ISA).
// Values are printed with 6 significant digits, so tolerances are ~1e-5 relative; a wrong formula
// (pair layout, angle, scale, mask, GQA mapping) is off by O(1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"
#include "tests/common/llref_dump.h"
#include "tests/common/test_paths.h"

namespace kestrel::kernels {
namespace {

constexpr int64_t kTokens = 39, kHeadDim = 8, kHeads = 8, kHeadsKv = 4, kEmbd = 64, kFf = 172, kCtxPad = 256;
const char* kPrompt =
    "Once upon a time there was a little girl named Lily who loved to play outside in the park with her "
    "friends and her dog";

using Dumps = test::LlrefDumps;

Dumps run_llref(const std::string& cache_type) {
  const std::string model = test::shared_dir() + "/models/stories260K-f32.gguf";
  std::string error;
  Dumps d = test::run_llref_tensors(model, kPrompt, "-fa off -ctk " + cache_type + " -ctv " + cache_type, &error);
  EXPECT_TRUE(error.empty()) << error;
  return d;
}

const std::vector<float>& get(const Dumps& d, const std::string& key, size_t n, int occurrence = 0) {
  static const std::vector<float> empty;
  auto it = d.find(key);
  if (it == d.end() || static_cast<int>(it->second.size()) <= occurrence) {
    ADD_FAILURE() << "llref dump has no " << key;
    return empty;
  }
  EXPECT_EQ(it->second[occurrence].size(), n) << key;
  return it->second[occurrence];
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

class OpsVsLlamaCpp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_shared() || test::llref_path().empty()) return;
    f32_ = new Dumps(run_llref("f32"));
    f16_ = new Dumps(run_llref("f16"));
  }
  static void TearDownTestSuite() {
    delete f32_;
    delete f16_;
    f32_ = f16_ = nullptr;
  }
  void SetUp() override {
    KESTREL_REQUIRE_SHARED();
    KESTREL_REQUIRE_LLREF();
    ASSERT_TRUE(f32_ && !f32_->empty()) << "llref tensors produced no output";
  }
  static Dumps* f32_;
  static Dumps* f16_;
};
Dumps* OpsVsLlamaCpp::f32_ = nullptr;
Dumps* OpsVsLlamaCpp::f16_ = nullptr;

TEST_F(OpsVsLlamaCpp, Rope) {
  for (const char* name : {"Qcur-0", "Kcur-0"}) {
    const int64_t heads = name[0] == 'Q' ? kHeads : kHeadsKv;
    const size_t n = static_cast<size_t>(kTokens * heads * kHeadDim);
    std::vector<float> x = get(*f32_, std::string(name) + "|RESHAPE", n);
    const std::vector<float>& want = get(*f32_, std::string(name) + "|ROPE", n);
    if (x.size() != n) return;
    RopeParams p;  // stories260K: llama (normal pairs), n_rot = head_dim, base 10000
    for (int64_t t = 0; t < kTokens; ++t) rope(x.data() + t * heads * kHeadDim, heads, kHeadDim, t, p);
    expect_close(x, want, 3e-5, name);
  }
}

TEST_F(OpsVsLlamaCpp, RmsnormAndSwiglu) {
  // Second norm-0 is the FFN norm of ffn_inp-0 (RMS_NORM alone; the weight is a separate MUL).
  const size_t n = static_cast<size_t>(kTokens * kEmbd);
  const std::vector<float>& x = get(*f32_, "ffn_inp-0|ADD", n);
  const std::vector<float>& want = get(*f32_, "norm-0|RMS_NORM", n, 1);
  if (x.size() != n || want.size() != n) return;
  std::vector<float> got(n);
  for (int64_t t = 0; t < kTokens; ++t) rmsnorm(x.data() + t * kEmbd, nullptr, got.data() + t * kEmbd, kEmbd, 1e-5f);
  expect_close(got, want, 2e-5, "rmsnorm");

  const size_t m = static_cast<size_t>(kTokens * kFf);
  const std::vector<float>& g = get(*f32_, "ffn_gate-0|MUL_MAT", m);
  const std::vector<float>& u = get(*f32_, "ffn_up-0|MUL_MAT", m);
  const std::vector<float>& sw = get(*f32_, "ffn_swiglu-0|SWIGLU", m);
  if (g.size() != m || u.size() != m) return;
  std::vector<float> out(m);
  swiglu(g.data(), u.data(), out.data(), static_cast<int64_t>(m));
  expect_close(out, sw, 2e-5, "swiglu");
}

TEST_F(OpsVsLlamaCpp, SoftmaxOfCausalScores) {
  const size_t n = static_cast<size_t>(kCtxPad * kTokens * kHeads);
  const std::vector<float>& kq = get(*f32_, "kq-0|MUL_MAT", n);
  const std::vector<float>& want = get(*f32_, "kq_soft_max-0|SOFT_MAX", n);
  if (kq.size() != n || want.size() != n) return;
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  for (int64_t h = 0; h < kHeads; ++h) {
    for (int64_t t = 0; t < kTokens; ++t) {
      const size_t row = static_cast<size_t>((h * kTokens + t) * kCtxPad);
      std::vector<float> x(kq.begin() + row, kq.begin() + row + t + 1);  // causal: positions 0..t
      for (float& v : x) v *= scale;
      softmax(x.data(), t + 1);
      for (int64_t j = 0; j < kCtxPad; ++j) {
        const float w = want[row + j];
        if (j > t) ASSERT_EQ(w, 0.0f) << "masked position " << j;
        else ASSERT_NEAR(x[j], w, 2e-5 * (1.0 + w)) << "head " << h << " token " << t << " pos " << j;
      }
    }
  }
}

// Runs our attention on llama.cpp's layer-0 q/k/v and compares with its kqv_out-0. With an F16 cache
// llama.cpp (flash attention off) also rounds the softmax probabilities to F16 before the V product,
// which we do not: the test checks that emulating it reproduces llama.cpp, and bounds our difference
// element by element (2^-8 of sum p_j |v_j|) and on average. With an F32 cache both agree to print precision.
void check_attention(const Dumps& d, TensorType cache) {
  const size_t nq = static_cast<size_t>(kTokens * kHeads * kHeadDim), nk = static_cast<size_t>(kTokens * kHeadsKv * kHeadDim);
  const std::vector<float>& q = get(d, "Qcur-0|ROPE", nq);
  const std::vector<float>& k = get(d, "Kcur-0|ROPE", nk);
  const std::vector<float>& v = get(d, "Vcur-0|MUL_MAT", nk);
  const std::vector<float>& want = get(d, "kqv_out-0|CONT", nq);
  const std::vector<float>& kq = get(d, "kq-0|MUL_MAT", static_cast<size_t>(kCtxPad * kTokens * kHeads));
  if (q.size() != nq || k.size() != nk || v.size() != nk || want.size() != nq || kq.empty()) return;
  const bool f16 = cache == TensorType::F16;
  std::vector<uint16_t> k16(nk), v16(nk);
  for (size_t i = 0; i < nk; ++i) k16[i] = fp32_to_fp16(k[i]), v16[i] = fp32_to_fp16(v[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));

  std::vector<float> out(nq);
  AttentionArgs a;
  a.q = q.data();
  a.k_cache = f16 ? static_cast<const void*>(k16.data()) : k.data();
  a.v_cache = f16 ? static_cast<const void*>(v16.data()) : v.data();
  a.cache_type = cache;
  a.n_tokens = kTokens;
  a.n_head = kHeads;
  a.n_head_kv = kHeadsKv;
  a.head_dim = kHeadDim;
  a.pos0 = 0;
  a.scale = scale;
  a.out = out.data();
  ThreadPool pool(2);
  attention(pool, a);

  double emulated_err = 0, ours_err = 0;  // mean relative differences, printed for the record
  auto round16 = [&](float x) { return f16 ? fp16_to_fp32(fp32_to_fp16(x)) : x; };
  int64_t rows = 0, skipped = 0;
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t h = 0; h < kHeads; ++h) {
      const int64_t kvh = h / (kHeads / kHeadsKv);
      std::vector<double> p(static_cast<size_t>(t + 1));
      double mx = -1e300, sum = 0;
      bool same_scores = true;
      for (int64_t j = 0; j <= t; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < kHeadDim; ++e)
          dot += double(round16(q[(t * kHeads + h) * kHeadDim + e])) * round16(k[(j * kHeadsKv + kvh) * kHeadDim + e]);
        const double ref = kq[static_cast<size_t>((h * kTokens + t) * kCtxPad + j)];
        if (std::fabs(dot - ref) > 1e-3 * (1.0 + std::fabs(ref))) same_scores = false;
        p[j] = dot * scale;
        mx = std::max(mx, p[j]);
      }
      ++rows;
      // The dumps print 6 digits; a K value printed on an F16 rounding tie (seen: -16.9922) rounds
      // the other way here than in llama.cpp's cache, visible as a different K.q score. Such rows
      // test the dump, not the kernel: skip them (counted below).
      if (!same_scores) {
        ++skipped;
        continue;
      }
      for (double& x : p) sum += (x = std::exp(x - mx));
      for (int64_t e = 0; e < kHeadDim; ++e) {
        double emulated = 0, magnitude = 0;
        for (int64_t j = 0; j <= t; ++j) {
          const double vj = round16(v[(j * kHeadsKv + kvh) * kHeadDim + e]);
          emulated += double(round16(static_cast<float>(p[j] / sum))) * vj;  // llama.cpp: F16 probabilities
          magnitude += p[j] / sum * std::fabs(vj);
        }
        const size_t i = static_cast<size_t>((t * kHeads + h) * kHeadDim + e);
        // F16: llama.cpp rounds the probabilities to F16 for the V product (we do not), and the
        // emulation above cannot be exact because the dumped v has 6 digits, which can land on an
        // F16 rounding tie (seen: v = -0.60083 flips by one F16 ulp). Measured on this prompt: both
        // stay within 2^-9 of sum_j p_j |v_j| of llama.cpp except near such ties; we bound ours by
        // 2^-8 (a formula error is off by O(1)) and require the emulation to agree as closely on
        // average (checked after the loop).
        const double tol = 3e-5 * (1.0 + std::fabs(want[i])) + (f16 ? std::ldexp(magnitude, -8) : 0.0);
        emulated_err += std::fabs(emulated - want[i]) / (magnitude + 1e-30);
        ours_err += std::fabs(out[i] - want[i]) / (magnitude + 1e-30);
        ASSERT_NEAR(out[i], want[i], tol) << "token " << t << " head " << h << " dim " << e;
      }
    }
  }
  const double n_checked = static_cast<double>((rows - skipped) * kHeadDim);
  emulated_err /= n_checked;
  ours_err /= n_checked;
  EXPECT_LE(skipped * 4, rows) << "too many rows with ambiguous K values in the dump";
  std::cout << type_name(cache) << " cache: " << rows - skipped << " of " << rows << " (token, head) rows compared\n";
  std::cout << type_name(cache) << " cache: mean |x - llama.cpp| / sum p|v|: ours " << ours_err
            << ", llama.cpp emulation " << emulated_err << "\n";
  // Emulating llama.cpp's F16 rounding of the probabilities reproduces it to print precision (measured
  // 4e-6), which pins down the only difference of ours with an F16 cache (measured 1e-4).
  EXPECT_LT(emulated_err, 2e-5);
  EXPECT_LT(ours_err, f16 ? 5e-4 : 2e-5);
}

TEST_F(OpsVsLlamaCpp, AttentionF32Cache) { check_attention(*f32_, TensorType::F32); }
TEST_F(OpsVsLlamaCpp, AttentionF16Cache) { check_attention(*f16_, TensorType::F16); }

}  // namespace
}  // namespace kestrel::kernels
