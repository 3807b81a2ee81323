// llm-quantize's llama.cpp file types (Q4_K_M, Q5_0, IQ4_NL, ...): the per-tensor mixture rules, and
// whole files byte-identical with `llref quantize` on synthetic models of several shapes (GQA, tied
// embeddings, 8 experts; 384- and 640-wide rows that force the fallbacks of the 256-value types).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/common_quant_plan.h"
#include "gguf/gguf_file.h"
#include "kernels/type_traits.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"
#include "tests/tools/tools_test_util.h"

namespace kestrel::test {
namespace {

using cli::ModelFacts;
using cli::QuantOptions;
using cli::QuantPlanner;

QuantPlanner planner(const char* ftype, const ModelFacts& f, QuantOptions o = {}) {
  return QuantPlanner(*cli::find_quant_target(ftype), f, o);
}

ModelFacts dense(int n_layer, int n_head = 8, int n_head_kv = 8) {
  ModelFacts f;
  f.arch = "llama";
  f.n_layer = n_layer;
  f.n_head = n_head;
  f.n_head_kv = n_head_kv;
  f.n_attention_wv = n_layer;
  return f;
}

TensorType type_of(QuantPlanner& p, const std::string& name, std::vector<int64_t> ne) {
  return p.choose(name, ne, TensorType::F32).type;
}

// ---- rules (no files needed)

TEST(QuantPlan, TargetsFileTypesAndNames) {
  EXPECT_EQ(cli::find_quant_target("Q4_0")->ftype_id(), 2u);
  EXPECT_EQ(cli::find_quant_target("q8_0")->ftype_id(), 7u);
  EXPECT_EQ(cli::find_quant_target("f16")->ftype_id(), 1u);
  EXPECT_EQ(cli::find_quant_target("bf16")->ftype_id(), 32u);
  EXPECT_EQ(cli::find_quant_target("f32")->ftype_id(), 0u);
  EXPECT_EQ(cli::find_quant_target("q4_k_m")->ftype_id(), 15u);
  EXPECT_EQ(cli::find_quant_target("Q4_K")->ftype_id(), 15u);  // llama-quantize's alias
  EXPECT_EQ(cli::find_quant_target("q5_k_s")->type, TensorType::Q5_K);
  EXPECT_EQ(cli::find_quant_target("q3_k_l")->ftype_id(), 13u);
  EXPECT_EQ(cli::find_quant_target("iq4_nl")->ftype_id(), 25u);
  EXPECT_EQ(cli::find_quant_target("iq4_xs")->ftype_id(), 30u);
  EXPECT_EQ(cli::find_quant_target("q5_1")->ftype_id(), 9u);
  EXPECT_FALSE(cli::find_quant_target("q4_k_x"));
  EXPECT_EQ(cli::file_type_name(15), "Q4_K_M");
  EXPECT_EQ(cli::file_type_name(19), "IQ2_XXS");
  EXPECT_EQ(cli::file_type_name(999), "");
}

TEST(QuantPlan, CopiedTensors) {
  auto p = planner("q4_k_m", dense(2));
  EXPECT_TRUE(p.choose("blk.0.attn_norm.weight", {64}, TensorType::F32).keep_as_is);
  EXPECT_TRUE(p.choose("rope_freqs.weight", {32}, TensorType::F32).keep_as_is);
  EXPECT_TRUE(p.choose("blk.1.ffn_gate_inp.weight", {64, 8}, TensorType::F32).keep_as_is);
  EXPECT_TRUE(p.choose("x.weight", {64, 1}, TensorType::F32).keep_as_is);  // one row: 1-D for ggml
  EXPECT_TRUE(p.choose("blk.0.attn_q.bias", {64, 64}, TensorType::F32).keep_as_is);  // not a "weight"
}

TEST(QuantPlan, RowFallbacks) {
  auto p = planner("q4_k_m", dense(8));
  EXPECT_EQ(type_of(p, "blk.1.attn_q.weight", {640, 640}), TensorType::Q5_0);    // Q4_K -> Q5_0
  EXPECT_EQ(type_of(p, "blk.1.attn_q.weight", {512, 640}), TensorType::Q4_K);
  EXPECT_EQ(type_of(p, "output.weight", {640, 100}), TensorType::Q8_0);          // 640 % 256: Q8_0 rule
  EXPECT_EQ(type_of(p, "blk.1.attn_q.weight", {100, 64}), TensorType::F16);      // not even 32
  auto q5 = planner("q5_k_s", dense(8));
  EXPECT_EQ(type_of(q5, "blk.1.attn_q.weight", {384, 64}), TensorType::Q5_1);    // Q5_K -> Q5_1
  auto q6 = planner("q6_k", dense(8));
  EXPECT_EQ(type_of(q6, "blk.1.attn_q.weight", {384, 64}), TensorType::Q8_0);    // Q6_K -> Q8_0
  auto q3 = planner("q3_k_s", dense(8));
  EXPECT_EQ(type_of(q3, "blk.1.attn_q.weight", {384, 64}), TensorType::Q4_0);    // Q3_K -> Q4_0
  auto xs = planner("iq4_xs", dense(8));
  EXPECT_EQ(type_of(xs, "blk.1.attn_q.weight", {384, 64}), TensorType::IQ4_NL);  // IQ4_XS -> IQ4_NL
  auto q40 = planner("q4_0", dense(8));
  auto c = q40.choose("blk.0.ffn_down.weight", {172, 64}, TensorType::F32);
  EXPECT_EQ(c.type, TensorType::F16);
  EXPECT_FALSE(c.note.empty());
  auto bf = planner("bf16", dense(8));
  EXPECT_EQ(type_of(bf, "blk.0.ffn_down.weight", {172, 64}), TensorType::BF16);
}

TEST(QuantPlan, OutputAndEmbeddings) {
  auto p = planner("q4_0", dense(2));
  EXPECT_EQ(type_of(p, "output.weight", {4096, 32000}), TensorType::Q6_K);
  EXPECT_EQ(type_of(p, "output.weight", {64, 512}), TensorType::Q8_0);  // Q6_K -> Q8_0 fallback
  EXPECT_EQ(type_of(p, "token_embd.weight", {4096, 512}), TensorType::Q4_0);
  auto q8 = planner("q8_0", dense(2));
  EXPECT_EQ(type_of(q8, "output.weight", {4096, 32000}), TensorType::Q8_0);
  ModelFacts tied = dense(2);
  tied.has_output = false;
  auto t = planner("q4_k_m", tied);
  EXPECT_EQ(type_of(t, "token_embd.weight", {4096, 512}), TensorType::Q6_K);
  auto pure = planner("q4_0", dense(2), {.pure = true, .leave_output = false, .output_type = {}, .token_embd_type = {}});
  EXPECT_EQ(type_of(pure, "output.weight", {4096, 512}), TensorType::Q4_0);
  auto o = planner("q4_k_m", dense(2), {.pure = false, .leave_output = false, .output_type = TensorType::Q8_0, .token_embd_type = TensorType::F16});
  EXPECT_EQ(type_of(o, "output.weight", {4096, 512}), TensorType::Q8_0);
  EXPECT_EQ(type_of(o, "token_embd.weight", {4096, 512}), TensorType::F16);
  // An override applies under --pure too, and is not silently changed when it does not fit.
  auto op = planner("q4_0", dense(2), {.pure = true, .leave_output = false, .output_type = TensorType::Q4_K, .token_embd_type = {}});
  EXPECT_FALSE(op.choose("output.weight", {640, 512}, TensorType::F32).error.empty());
  auto leave = planner("q4_0", dense(2), {.pure = false, .leave_output = true, .output_type = {}, .token_embd_type = {}});
  EXPECT_TRUE(leave.choose("output.weight", {4096, 512}, TensorType::F16).keep_as_is);
}

TEST(QuantPlan, LayerRulesOfQ4_K_M) {
  // 16 layers: use_more_bits is true for layers 0, 1 (first eighth), 14, 15 (last eighth), and
  // 4, 7, 10, 13 ((i - 2) % 3 == 2).
  auto p = planner("q4_k_m", dense(16));
  std::string more;
  for (int i = 0; i < 16; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const TensorType v = type_of(p, b + "attn_v.weight", {4096, 4096});
    const TensorType d = type_of(p, b + "ffn_down.weight", {11008, 4096});
    EXPECT_EQ(v, d) << i;
    EXPECT_EQ(type_of(p, b + "attn_q.weight", {4096, 4096}), TensorType::Q4_K);
    more += v == TensorType::Q6_K ? '6' : v == TensorType::Q4_K ? '4' : '?';
  }
  EXPECT_EQ(more, "6644644644644666");
}

TEST(QuantPlan, OtherMixtures) {
  auto s = planner("q4_k_s", dense(16));
  for (int i = 0; i < 6; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(type_of(s, b + "attn_v.weight", {4096, 4096}), i < 4 ? TensorType::Q5_K : TensorType::Q4_K) << i;
    EXPECT_EQ(type_of(s, b + "ffn_down.weight", {4096, 4096}), i < 2 ? TensorType::Q5_K : TensorType::Q4_K) << i;
  }
  auto q2 = planner("q2_k", dense(8, 32, 8));  // GQA 4
  EXPECT_EQ(type_of(q2, "blk.0.attn_v.weight", {4096, 1024}), TensorType::Q4_K);
  EXPECT_EQ(type_of(q2, "blk.0.ffn_down.weight", {4096, 4096}), TensorType::Q3_K);
  EXPECT_EQ(type_of(q2, "blk.0.attn_output.weight", {4096, 4096}), TensorType::Q3_K);
  auto q3m = planner("q3_k_m", dense(32));
  EXPECT_EQ(type_of(q3m, "blk.0.attn_v.weight", {4096, 4096}), TensorType::Q5_K);
  EXPECT_EQ(type_of(q3m, "blk.1.attn_v.weight", {4096, 4096}), TensorType::Q5_K);
  EXPECT_EQ(type_of(q3m, "blk.2.attn_v.weight", {4096, 4096}), TensorType::Q4_K);
  EXPECT_EQ(type_of(q3m, "blk.0.ffn_down.weight", {4096, 4096}), TensorType::Q5_K);  // i < n/16
  EXPECT_EQ(type_of(q3m, "blk.1.ffn_down.weight", {4096, 4096}), TensorType::Q5_K);
  EXPECT_EQ(type_of(q3m, "blk.2.ffn_down.weight", {4096, 4096}), TensorType::Q4_K);
  EXPECT_EQ(type_of(q3m, "blk.0.attn_output.weight", {4096, 4096}), TensorType::Q4_K);
  auto nl = planner("iq4_nl", dense(8, 32, 8));
  EXPECT_EQ(type_of(nl, "blk.0.attn_v.weight", {4096, 1024}), TensorType::Q5_K);
  EXPECT_EQ(type_of(nl, "blk.0.ffn_down.weight", {4096, 4096}), TensorType::Q5_K);   // first eighth
  EXPECT_EQ(type_of(nl, "blk.1.ffn_down.weight", {4096, 4096}), TensorType::IQ4_NL);
  // 8 experts: attn_v and attn_k Q8_0, attn_output Q5_K.
  ModelFacts moe = dense(4);
  moe.n_expert = 8;
  auto m = planner("q4_k_m", moe);
  EXPECT_EQ(type_of(m, "blk.0.attn_v.weight", {4096, 1024}), TensorType::Q8_0);
  EXPECT_EQ(type_of(m, "blk.0.attn_k.weight", {4096, 1024}), TensorType::Q8_0);
  EXPECT_EQ(type_of(m, "blk.1.attn_output.weight", {4096, 4096}), TensorType::Q5_K);
  // The layer comes from the name (2: use_more_bits), not from the count of ffn_down tensors (0: not).
  EXPECT_EQ(type_of(m, "blk.2.ffn_down_exps.weight", {14336, 4096, 8}), TensorType::Q6_K);
  // Llama 70B (80 layers, GQA): attn_v at least Q5_K.
  auto big = planner("q3_k_s", dense(80, 64, 8));
  EXPECT_EQ(type_of(big, "blk.0.attn_v.weight", {8192, 1024}), TensorType::Q5_K);
}

TEST(QuantPlan, LlamaCppTensorOrder) {
  const std::vector<std::string> names = {"blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_up.weight",
                                          "blk.2.attn_q.weight", "output.weight"};
  const std::vector<size_t> order = cli::plan_order(names);
  std::vector<std::string> sorted;
  for (size_t i : order) sorted.push_back(names[i]);
  EXPECT_EQ(sorted, (std::vector<std::string>{"output.weight", "token_embd.weight", "blk.2.attn_q.weight",
                                              "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}));
}

// ---- whole files against llama.cpp

struct MixShape {
  const char* name;
  SyntheticSpec spec;
  std::vector<std::string> ftypes;  // empty: every file type
};

// Small models, so the whole comparison stays fast (IQ4_NL's search is slow in both quantizers).
std::vector<MixShape> mixture_shapes() {
  std::vector<MixShape> v;
  SyntheticSpec gqa;  // GQA 4, 160-wide rows (not a multiple of 256), 8 layers for the layer rules
  gqa.n_embd = 160, gqa.n_layer = 8, gqa.n_head = 8, gqa.n_head_kv = 2, gqa.n_ff = 224, gqa.n_vocab = 280;
  gqa.type = TensorType::F16, gqa.seed = 3;
  v.push_back({"gqa4_160", gqa, {}});
  SyntheticSpec tied;  // tied embeddings, 384-wide rows
  tied.n_embd = 384, tied.n_layer = 2, tied.n_head = 6, tied.n_head_kv = 6, tied.n_ff = 96, tied.n_vocab = 280;
  tied.tied_embeddings = true, tied.type = TensorType::F16, tied.seed = 4;
  v.push_back({"tied_384", tied, {"Q4_K_M", "Q6_K", "Q3_K_L", "Q2_K", "Q5_1", "Q4_0"}});
  SyntheticSpec wide;  // 640-wide rows, ffn_down rows of 512 (the 256-value types themselves)
  wide.n_embd = 640, wide.n_layer = 1, wide.n_head = 10, wide.n_head_kv = 2, wide.n_ff = 512, wide.n_vocab = 280;
  wide.type = TensorType::F16, wide.seed = 6;
  v.push_back({"wide_640", wide, {"Q4_K_M", "Q4_K_S", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS", "Q8_0"}});
  SyntheticSpec moe;  // 8 experts (attn_v/attn_k Q8_0, attn_output Q5_K rules), 256-wide rows
  moe.n_embd = 256, moe.n_layer = 2, moe.n_head = 4, moe.n_head_kv = 4, moe.n_ff = 64, moe.n_vocab = 280;
  moe.n_expert = 8, moe.n_expert_used = 2, moe.type = TensorType::F16, moe.seed = 5;
  v.push_back({"moe8_256", moe, {"Q4_K_M", "Q3_K_M", "Q5_K_S", "Q5_0", "Q8_0"}});
  return v;
}

// The missing type named by llm-quantize's "needs type X ... cannot write yet" refusal, or "".
std::string refused_type(const RunResult& r) {
  const size_t at = r.err.find("needs type ");
  if (r.rc == 0 || at == std::string::npos || r.err.find("cannot write yet") == std::string::npos) return "";
  const size_t from = at + 11;
  return r.err.substr(from, r.err.find(' ', from) - from);
}

TEST(QuantizeMixtures, SyntheticModelsByteIdenticalToLlref) {
  KESTREL_REQUIRE_LLREF();
  std::vector<std::string> refused;
  int compared = 0;
  for (const MixShape& sh : mixture_shapes()) {
    const std::string in = temp_dir() + "/mix-" + sh.name + ".gguf";
    ASSERT_TRUE(write_synthetic_model(in, sh.spec).is_ok());
    for (const cli::QuantTarget& t : cli::quant_targets()) {
      const std::string ft(t.name);
      if (t.type == TensorType::F32 || t.type == TensorType::BF16) continue;  // covered in test_quantize
      if (!sh.ftypes.empty() && std::find(sh.ftypes.begin(), sh.ftypes.end(), ft) == sh.ftypes.end()) continue;
      // Under the sanitizers (slow) only a few mixtures: the same code paths.
      if (sanitized() && ft != "Q4_K_M" && ft != "Q5_1" && ft != "Q3_K_M") continue;
      SCOPED_TRACE(std::string(sh.name) + " " + ft);
      const std::string ours = temp_dir() + "/mix-ours.gguf", ref = temp_dir() + "/mix-ref.gguf";
      RunResult r = quantize(in, ours, ft, false);
      const std::string missing = refused_type(r);
      if (!missing.empty()) {
        // Only a type Kestrel really cannot write is an acceptable refusal, and the error is one line.
        auto mt = type_from_name(missing);
        ASSERT_TRUE(mt) << r.err;
        EXPECT_EQ(kernels::type_traits(*mt), nullptr) << r.err;
        expect_one_line_error(r, "llm-quantize", "cannot write yet");
        refused.push_back(std::string(sh.name) + ":" + ft + "(" + missing + ")");
        continue;
      }
      ASSERT_EQ(r.rc, 0) << r.err;
      llref_quantize(in, ref, ft, false);
      expect_same_model(ours, ref);  // names the first differing tensor or key
      expect_same_file(ours, ref);   // and the whole file, as cmp sees it (metadata order too)
      ++compared;
    }
  }
  std::string list;
  for (const auto& s : refused) list += " " + s;
  std::printf("[mixtures] %d files byte-identical to llama.cpp; refused (type not writable yet):%s\n", compared,
              list.empty() ? " none" : list.c_str());
  EXPECT_GT(compared, sanitized() ? 2 : 10);
}

// llref's quantize takes only IN OUT TYPE [--pure]; the override flags are checked against llama.cpp's own
// llama-quantize when it is built (../shared/ref/build-tools.sh; env LLAMA_QUANTIZE or its cache dir).
std::string llama_quantize_path() {
  if (const char* e = std::getenv("LLAMA_QUANTIZE"); e && *e) return e;
  const char* home = std::getenv("HOME");
  const std::string p = std::string(home ? home : "/root") + "/.cache/llama-ref/tools-build/bin/llama-quantize";
  return std::filesystem::exists(p) ? p : "";
}

TEST(QuantizeMixtures, OverridesMatchLlamaQuantize) {
  const std::string lq = llama_quantize_path();
  if (lq.empty()) GTEST_SKIP() << "llama-quantize not built (../shared/ref/build-tools.sh) and LLAMA_QUANTIZE not set";
  SyntheticSpec spec = mixture_shapes()[0].spec;
  spec.n_layer = 2;
  const std::string in = temp_dir() + "/ovr.gguf", ours = temp_dir() + "/ovr-ours.gguf", ref = temp_dir() + "/ovr-ref.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  RunResult r = run(program("llm-quantize") + " " + shell_quote(in) + " " + shell_quote(ours) +
                    " q5_0 --output-tensor-type f16 --token-embedding-type q8_0 -t 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  RunResult lr = run(shell_quote(lq) + " --output-tensor-type f16 --token-embedding-type q8_0 " + shell_quote(in) + " " +
                     shell_quote(ref) + " q5_0 2");
  ASSERT_EQ(lr.rc, 0) << lr.err;
  expect_same_model(ours, ref);
  auto f = GGUFFile::open(ours);
  ASSERT_TRUE(f);
  EXPECT_EQ((*f)->find_tensor("output.weight")->type, TensorType::F16);
  EXPECT_EQ((*f)->find_tensor("token_embd.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(*(*f)->get_int("general.file_type"), 8);
}

TEST(QuantizeMixtures, PureTypesMatchLlref) {
  KESTREL_REQUIRE_LLREF();
  SyntheticSpec spec = mixture_shapes()[0].spec;
  spec.n_layer = 1;
  const std::string in = temp_dir() + "/pure.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  for (const char* ft : {"q4_1", "q5_0", "q5_1", "iq4_nl"}) {
    SCOPED_TRACE(ft);
    const std::string ours = temp_dir() + "/pure-ours.gguf", ref = temp_dir() + "/pure-ref.gguf";
    RunResult r = quantize(in, ours, ft, true);
    ASSERT_EQ(r.rc, 0) << r.err;
    llref_quantize(in, ref, ft, true);
    expect_same_model(ours, ref);
  }
}

TEST(QuantizeMixtures, OverrideThatDoesNotFitIsAnError) {
  SyntheticSpec spec = mixture_shapes()[0].spec;  // 384-wide rows
  spec.n_layer = 1;
  const std::string in = temp_dir() + "/bad-ovr.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  RunResult r = run(program("llm-quantize") + " " + shell_quote(in) + " " + shell_quote(temp_dir() + "/x.gguf") +
                    " q8_0 --token-embedding-type q4_k");
  expect_one_line_error(r, "llm-quantize", "not a multiple of 256");
}

// ---- the mixture as llm-gguf and llm-bench report it

TEST(QuantizeMixtures, GgufAndBenchReportTheMixture) {
  SyntheticSpec spec = mixture_shapes()[0].spec;  // 160-wide: Q5_0 everywhere but output (Q8_0) and norms
  spec.n_layer = 1;
  const std::string in = temp_dir() + "/mixrep.gguf", out = temp_dir() + "/mixrep-q5_0.gguf";
  ASSERT_TRUE(write_synthetic_model(in, spec).is_ok());
  RunResult q = quantize(in, out, "q5_0", false);
  ASSERT_EQ(q.rc, 0) << q.err;
  auto f = GGUFFile::open(out);
  ASSERT_TRUE(f);
  uint64_t bytes = 0, elements = 0;
  int n_q5 = 0, n_q8 = 0, n_f32 = 0;
  for (const TensorInfo& t : (*f)->tensors()) {
    bytes += t.bytes;
    elements += t.n_elements();
    n_q5 += t.type == TensorType::Q5_0;
    n_q8 += t.type == TensorType::Q8_0;
    n_f32 += t.type == TensorType::F32;
  }
  char want[160];
  std::snprintf(want, sizeof want, "Q5_0: %d\u00d7q5_0, %d\u00d7f32, %d\u00d7q8_0, %.2f bpw", n_q5, n_f32, n_q8,
                8.0 * double(bytes) / double(elements));
  EXPECT_EQ(n_q8, 1);  // output.weight
  RunResult g = run(program("llm-gguf") + " " + shell_quote(out));
  ASSERT_EQ(g.rc, 0) << g.err;
  EXPECT_NE(g.out.find(std::string("mixture: ") + want), std::string::npos) << want << "\n" << g.out;
  RunResult b = run(program("llm-bench") + " -m " + shell_quote(out) + " -p 4 -n 0 -r 1 -t 1 -o json");
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_NE(b.out.find(std::string("\"mixture\": \"") + want + "\""), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("\"file_type\": \"Q5_0\""), std::string::npos) << b.out;
  EXPECT_NE(b.err.find(want), std::string::npos) << b.err;
}

}  // namespace
}  // namespace kestrel::test
