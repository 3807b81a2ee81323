// Mixtral MoE FFN: routing, grouped expert compute against a naive float reference, decode touching
// only the selected experts, scratch reuse, and binding of both tensor namings (with their errors).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "gguf/weight_store.h"
#include "kernels/thread_pool.h"
#include "model/llm.h"
#include "model/moe.h"
#include "tests/common/test_paths.h"
#include "tests/model/test_moe_reference.h"

namespace kestrel {
namespace {

using test::RefMoeLayer;

constexpr int64_t kEmbd = 64, kFf = 96;

ModelConfig moe_config(int64_t n_embd, int64_t n_ff, int n_expert, int n_used) {
  ModelConfig c;
  c.arch = "llama";
  c.n_embd = static_cast<int>(n_embd);
  c.n_ff = static_cast<int>(n_ff);
  c.n_expert = n_expert;
  c.n_expert_used = n_used;
  return c;
}

TensorView view_of(const test::RefMatrix& m, const std::string& name) {
  TensorView v;
  v.name = name;
  v.type = m.type;
  v.ne = {m.n_in, m.n_out};
  v.data = m.bytes.data();
  v.bytes = m.bytes.size();
  return v;
}

// A MoeLayer over the reference's own buffers (the per-expert form, no GGUF file involved).
struct BoundLayer {
  TensorView router;
  MoeLayer layer;
};
BoundLayer bind_views(const RefMoeLayer& l) {
  BoundLayer b;
  b.router = view_of(l.router, "router");
  for (size_t e = 0; e < l.experts.size(); ++e) {
    b.layer.gate.push_back(view_of(l.experts[e].gate, "gate"));
    b.layer.up.push_back(view_of(l.experts[e].up, "up"));
    b.layer.down.push_back(view_of(l.experts[e].down, "down"));
  }
  return b;
}

std::vector<float> random_input(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = d(rng);
  return x;
}

// max |a - ref| / max |ref|: one number per run, comparable across types.
double rel_error(const std::vector<float>& a, const std::vector<double>& ref) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(a[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return worst / scale;
}

std::vector<float> run_moe(kernels::ThreadPool& pool, const MoeLayer& layer, const ModelConfig& cfg,
                           const std::vector<float>& x, int64_t n_tokens) {
  MoeScratch scratch;
  std::vector<float> out(static_cast<size_t>(n_tokens * cfg.n_embd), -1.0f);
  moe_ffn(pool, layer, cfg, x.data(), n_tokens, out.data(), scratch);
  return out;
}

// ---------------------------------------------------------------------------------------------- routing

TEST(MoeRoute, EqualLogitsPickTheLowestExpertsWithEqualWeights) {
  const float logits[4] = {0, 0, 0, 0};
  int32_t ids[2];
  float w[2];
  moe_route_token(logits, 4, 2, ids, w);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 1);
  EXPECT_EQ(w[0], 0.5f);
  EXPECT_EQ(w[1], 0.5f);
}

TEST(MoeRoute, SoftmaxTopKThenRenormalise) {
  const float logits[5] = {1.0f, 3.0f, -2.0f, 2.0f, 0.5f};
  int32_t ids[2];
  float w[2];
  moe_route_token(logits, 5, 2, ids, w);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 3);
  const double a = std::exp(3.0), b = std::exp(2.0);
  EXPECT_NEAR(w[0], a / (a + b), 1e-6);
  EXPECT_NEAR(w[1], b / (a + b), 1e-6);

  int32_t one;
  float w1;
  moe_route_token(logits, 5, 1, &one, &w1);
  EXPECT_EQ(one, 1);
  EXPECT_EQ(w1, 1.0f);  // top-1 renormalises to exactly 1
}

TEST(MoeRoute, LargeLogitsDoNotOverflow) {
  const float logits[3] = {1000.0f, 999.0f, -1000.0f};
  int32_t ids[2];
  float w[2];
  moe_route_token(logits, 3, 2, ids, w);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 1);
  EXPECT_NEAR(w[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_TRUE(std::isfinite(w[1]));
}

// ------------------------------------------------------------------------------- compute vs reference

struct FfnCase {
  TensorType type;
  int n_expert, n_used;
  int64_t n_tokens;
};

std::string case_name(const testing::TestParamInfo<FfnCase>& info) {
  const FfnCase& c = info.param;
  return std::string(type_name(c.type)) + "_e" + std::to_string(c.n_expert) + "top" + std::to_string(c.n_used) +
         "_t" + std::to_string(c.n_tokens);
}

// Tolerances on max|err|/max|ref|. F32/F16 differ from the double reference only by float summation;
// Q8_0/Q4_0 additionally re-quantize the SwiGLU activations before the down projection, where a value
// on a rounding edge can land one Q8_0 step away from the reference's.
double tolerance(TensorType t) {
  switch (t) {
    case TensorType::F32: return 1e-5;
    case TensorType::F16: return 1e-4;
    default: return 2e-3;
  }
}

class MoeFfnVsReference : public testing::TestWithParam<FfnCase> {};

TEST_P(MoeFfnVsReference, MatchesNaiveFloatLoops) {
  const FfnCase& c = GetParam();
  const RefMoeLayer ref = test::random_moe_layer(c.type, TensorType::F32, kEmbd, kFf, c.n_expert, c.n_used, 42);
  const BoundLayer b = bind_views(ref);
  MoeLayer layer = b.layer;
  layer.router = &b.router;
  const ModelConfig cfg = moe_config(kEmbd, kFf, c.n_expert, c.n_used);
  const std::vector<float> x = random_input(c.n_tokens * kEmbd, 7);
  kernels::ThreadPool pool(2);
  const std::vector<float> out = run_moe(pool, layer, cfg, x, c.n_tokens);
  const double err = rel_error(out, test::ref_moe_ffn(ref, x.data(), c.n_tokens));
  std::printf("moe %-24s worst rel error %.3g (tolerance %.0e)\n", case_name({c, 0}).c_str(), err,
              tolerance(c.type));
  EXPECT_LE(err, tolerance(c.type));
}

std::vector<FfnCase> all_cases() {
  std::vector<FfnCase> v;
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0})
    for (auto [e, k] : {std::pair{8, 2}, std::pair{4, 1}})
      for (int64_t n : {1, 7}) v.push_back({t, e, k, n});
  // Every expert used by every token: each group is the whole batch, which skips the gather.
  for (TensorType t : {TensorType::F32, TensorType::Q4_0}) v.push_back({t, 2, 2, 7});
  return v;
}
INSTANTIATE_TEST_SUITE_P(Types, MoeFfnVsReference, testing::ValuesIn(all_cases()), case_name);

TEST(MoeFfn, QuantizedRouterIsUsedAsStored) {
  // A Q8_0 router: its logits come from the Q8_0 dot product, which the reference reproduces.
  const RefMoeLayer ref = test::random_moe_layer(TensorType::Q8_0, TensorType::Q8_0, kEmbd, kFf, 8, 2, 5);
  const BoundLayer b = bind_views(ref);
  MoeLayer layer = b.layer;
  layer.router = &b.router;
  kernels::ThreadPool pool(2);
  const std::vector<float> x = random_input(5 * kEmbd, 9);
  const std::vector<float> out = run_moe(pool, layer, moe_config(kEmbd, kFf, 8, 2), x, 5);
  EXPECT_LE(rel_error(out, test::ref_moe_ffn(ref, x.data(), 5)), tolerance(TensorType::Q8_0));
}

TEST(MoeFfn, BatchEqualsTokenByToken) {
  // The grouped prompt path and the one-token decode path compute the same function.
  for (TensorType t : {TensorType::F32, TensorType::Q4_0}) {
    const RefMoeLayer ref = test::random_moe_layer(t, TensorType::F32, kEmbd, kFf, 8, 2, 11);
    const BoundLayer b = bind_views(ref);
    MoeLayer layer = b.layer;
    layer.router = &b.router;
    const ModelConfig cfg = moe_config(kEmbd, kFf, 8, 2);
    kernels::ThreadPool pool(2);
    const int64_t n = 9;
    const std::vector<float> x = random_input(n * kEmbd, 3);
    const std::vector<float> batch = run_moe(pool, layer, cfg, x, n);
    for (int64_t tok = 0; tok < n; ++tok) {
      const std::vector<float> xt(x.begin() + tok * kEmbd, x.begin() + (tok + 1) * kEmbd);
      const std::vector<float> one = run_moe(pool, layer, cfg, xt, 1);
      for (int64_t j = 0; j < kEmbd; ++j)
        ASSERT_NEAR(one[j], batch[tok * kEmbd + j], 1e-4 * (1 + std::fabs(one[j])))
            << type_name(t) << " token " << tok << " element " << j;
    }
  }
}

// ------------------------------------------------------------------------ only selected experts are read

// Fills every expert that no token in x routes to with NaN (F32 weights), so reading any of them would
// poison the output. Returns how many experts were poisoned.
int poison_unselected(RefMoeLayer& ref, const std::vector<float>& x, int64_t n_tokens) {
  std::vector<bool> used(ref.experts.size(), false);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int e : test::ref_route(ref, x.data() + t * ref.n_embd).experts) used[e] = true;
  int poisoned = 0;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t e = 0; e < ref.experts.size(); ++e) {
    if (used[e]) continue;
    for (test::RefMatrix* m : {&ref.experts[e].gate, &ref.experts[e].up, &ref.experts[e].down}) {
      float* f = reinterpret_cast<float*>(m->bytes.data());
      std::fill(f, f + m->bytes.size() / sizeof(float), nan);
    }
    ++poisoned;
  }
  return poisoned;
}

TEST(MoeFfn, DecodeReadsOnlyTheSelectedExperts) {
  RefMoeLayer ref = test::random_moe_layer(TensorType::F32, TensorType::F32, kEmbd, kFf, 8, 2, 21);
  const std::vector<float> x = random_input(kEmbd, 13);
  const std::vector<double> expected = test::ref_moe_ffn(ref, x.data(), 1);
  ASSERT_EQ(poison_unselected(ref, x, 1), 6);
  const BoundLayer b = bind_views(ref);
  MoeLayer layer = b.layer;
  layer.router = &b.router;
  kernels::ThreadPool pool(2);
  const std::vector<float> out = run_moe(pool, layer, moe_config(kEmbd, kFf, 8, 2), x, 1);
  EXPECT_LE(rel_error(out, expected), tolerance(TensorType::F32));  // infinite if a NaN leaked in
}

TEST(MoeFfn, PromptSkipsExpertsNoTokenChose) {
  RefMoeLayer ref = test::random_moe_layer(TensorType::F32, TensorType::F32, kEmbd, kFf, 8, 1, 23);
  const std::vector<float> x = random_input(3 * kEmbd, 17);
  const std::vector<double> expected = test::ref_moe_ffn(ref, x.data(), 3);
  ASSERT_GE(poison_unselected(ref, x, 3), 5);
  const BoundLayer b = bind_views(ref);
  MoeLayer layer = b.layer;
  layer.router = &b.router;
  kernels::ThreadPool pool(2);
  const std::vector<float> out = run_moe(pool, layer, moe_config(kEmbd, kFf, 8, 1), x, 3);
  EXPECT_LE(rel_error(out, expected), tolerance(TensorType::F32));
}

TEST(MoeFfn, ScratchGrowsOnceThenIsReused) {
  const RefMoeLayer ref = test::random_moe_layer(TensorType::Q8_0, TensorType::F32, kEmbd, kFf, 4, 2, 31);
  const BoundLayer b = bind_views(ref);
  MoeLayer layer = b.layer;
  layer.router = &b.router;
  const ModelConfig cfg = moe_config(kEmbd, kFf, 4, 2);
  kernels::ThreadPool pool(2);
  MoeScratch scratch;
  const std::vector<float> x = random_input(16 * kEmbd, 1);
  std::vector<float> out(16 * kEmbd);
  moe_ffn(pool, layer, cfg, x.data(), 16, out.data(), scratch);
  auto pointers = [&] {
    return std::vector<const void*>{scratch.logits.data(), scratch.gathered.data(), scratch.gate.data(),
                                    scratch.up.data(), scratch.act.data(), scratch.down.data(),
                                    scratch.rows.data(), scratch.selected.data(), scratch.weights.data(),
                                    scratch.row_weights.data(), scratch.expert_begin.data(),
                                    scratch.expert_cursor.data()};
  };
  const auto before = pointers();
  for (int64_t n : {1, 16, 5, 1, 9}) moe_ffn(pool, layer, cfg, x.data(), n, out.data(), scratch);
  EXPECT_EQ(pointers(), before);
}

// ---------------------------------------------------------------------------------------- binding

// Writes a one-layer GGUF holding `ref`'s experts, merged (3-D *_exps) or per expert (ffn_gate.E...).
// `skip` leaves one tensor out; `bad_shape` writes that tensor with its first two dims swapped.
std::string write_layer(const RefMoeLayer& ref, bool merged, const std::string& skip = "",
                        const std::string& bad_shape = "") {
  static int counter = 0;
  const std::string path = test::temp_dir() + "/moe_layer_" + std::to_string(counter++) + ".gguf";
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  auto add = [&](const std::string& name, TensorType t, std::vector<int64_t> ne, const std::vector<uint8_t>& data) {
    if (name == skip) return;
    if (name == bad_shape) std::swap(ne[0], ne[1]);
    const Status st = w.add_tensor(name, t, ne, data.data(), data.size());
    ASSERT_TRUE(st.is_ok()) << st.message();
  };
  const int64_t n_exp = static_cast<int64_t>(ref.experts.size());
  add("blk.0.ffn_gate_inp.weight", ref.router.type, {ref.n_embd, n_exp}, ref.router.bytes);
  struct Part {
    const char* name;
    const test::RefMatrix test::RefExpert::*m;
  };
  for (Part p : {Part{"ffn_gate", &test::RefExpert::gate}, Part{"ffn_up", &test::RefExpert::up},
                 Part{"ffn_down", &test::RefExpert::down}}) {
    const test::RefMatrix& first = ref.experts[0].*p.m;
    if (merged) {
      std::vector<uint8_t> all;
      for (const auto& ex : ref.experts) all.insert(all.end(), (ex.*p.m).bytes.begin(), (ex.*p.m).bytes.end());
      add(std::string("blk.0.") + p.name + "_exps.weight", first.type, {first.n_in, first.n_out, n_exp}, all);
    } else {
      for (int64_t e = 0; e < n_exp; ++e) {
        const test::RefMatrix& m = ref.experts[e].*p.m;
        add("blk.0." + std::string(p.name) + "." + std::to_string(e) + ".weight", m.type, {m.n_in, m.n_out},
            m.bytes);
      }
    }
  }
  const Status st = w.write(path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return path;
}

class MoeBind : public testing::TestWithParam<bool> {};  // param: merged naming

TEST_P(MoeBind, BoundLayerComputesTheReference) {
  const bool merged = GetParam();
  const RefMoeLayer ref = test::random_moe_layer(TensorType::Q4_0, TensorType::F32, kEmbd, kFf, 4, 2, 77);
  auto ws = WeightStore::open(write_layer(ref, merged));
  ASSERT_TRUE(ws.is_ok()) << ws.error();
  const ModelConfig cfg = moe_config(kEmbd, kFf, 4, 2);
  auto layer = bind_moe_layer(**ws, 0, cfg);
  ASSERT_TRUE(layer.is_ok()) << layer.error();
  ASSERT_EQ(layer->gate.size(), 4u);
  ASSERT_EQ(layer->down.size(), 4u);
  EXPECT_EQ(layer->down[3].ne, (std::vector<int64_t>{kFf, kEmbd}));
  kernels::ThreadPool pool(2);
  const std::vector<float> x = random_input(7 * kEmbd, 5);
  const std::vector<float> out = run_moe(pool, *layer, cfg, x, 7);
  EXPECT_LE(rel_error(out, test::ref_moe_ffn(ref, x.data(), 7)), tolerance(TensorType::Q4_0));
}

TEST_P(MoeBind, MissingExpertTensorIsNamed) {
  const bool merged = GetParam();
  const RefMoeLayer ref = test::random_moe_layer(TensorType::F32, TensorType::F32, kEmbd, kFf, 4, 2, 1);
  const std::string missing = merged ? "blk.0.ffn_down_exps.weight" : "blk.0.ffn_up.2.weight";
  auto ws = WeightStore::open(write_layer(ref, merged, missing));
  ASSERT_TRUE(ws.is_ok()) << ws.error();
  auto layer = bind_moe_layer(**ws, 0, moe_config(kEmbd, kFf, 4, 2));
  ASSERT_FALSE(layer.is_ok());
  EXPECT_NE(layer.error().find(missing), std::string::npos) << layer.error();
}

TEST_P(MoeBind, WrongShapeIsNamed) {
  const bool merged = GetParam();
  const RefMoeLayer ref = test::random_moe_layer(TensorType::F32, TensorType::F32, kEmbd, kFf, 4, 2, 1);
  const std::string bad = merged ? "blk.0.ffn_gate_exps.weight" : "blk.0.ffn_down.1.weight";
  auto ws = WeightStore::open(write_layer(ref, merged, "", bad));
  ASSERT_TRUE(ws.is_ok()) << ws.error();
  auto layer = bind_moe_layer(**ws, 0, moe_config(kEmbd, kFf, 4, 2));
  ASSERT_FALSE(layer.is_ok());
  EXPECT_NE(layer.error().find(bad), std::string::npos) << layer.error();
  EXPECT_NE(layer.error().find("shape"), std::string::npos) << layer.error();
}

INSTANTIATE_TEST_SUITE_P(Naming, MoeBind, testing::Values(true, false),
                         [](const testing::TestParamInfo<bool>& i) { return i.param ? "Merged" : "PerExpert"; });

TEST(MoeBindErrors, RouterAndCountsAreChecked) {
  const RefMoeLayer ref = test::random_moe_layer(TensorType::F32, TensorType::F32, kEmbd, kFf, 4, 2, 1);
  {
    auto ws = WeightStore::open(write_layer(ref, true, "blk.0.ffn_gate_inp.weight"));
    ASSERT_TRUE(ws.is_ok()) << ws.error();
    auto layer = bind_moe_layer(**ws, 0, moe_config(kEmbd, kFf, 4, 2));
    ASSERT_FALSE(layer.is_ok());
    EXPECT_NE(layer.error().find("blk.0.ffn_gate_inp.weight"), std::string::npos) << layer.error();
  }
  auto ws = WeightStore::open(write_layer(ref, true));
  ASSERT_TRUE(ws.is_ok()) << ws.error();
  // The file has 4 experts; a config claiming 8 makes the router shape wrong.
  auto wrong_count = bind_moe_layer(**ws, 0, moe_config(kEmbd, kFf, 8, 2));
  ASSERT_FALSE(wrong_count.is_ok());
  EXPECT_NE(wrong_count.error().find("blk.0.ffn_gate_inp.weight"), std::string::npos) << wrong_count.error();
  auto too_many_used = bind_moe_layer(**ws, 0, moe_config(kEmbd, kFf, 4, 5));
  ASSERT_FALSE(too_many_used.is_ok());
  EXPECT_NE(too_many_used.error().find("expert_used_count"), std::string::npos) << too_many_used.error();
  auto wrong_layer = bind_moe_layer(**ws, 1, moe_config(kEmbd, kFf, 4, 2));
  ASSERT_FALSE(wrong_layer.is_ok());
  EXPECT_NE(wrong_layer.error().find("blk.1."), std::string::npos) << wrong_layer.error();
}

}  // namespace
}  // namespace kestrel
