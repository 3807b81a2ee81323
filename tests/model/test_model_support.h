#pragma once
// Shared helpers for the model tests: the stories260K reference files (*.ref.txt), float32 dumps, error
// measures, and running a model over ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/llm.h"
#include "model/synthetic_model.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {

// llama.cpp's reference output for one model (see ../shared/models/README.md).
struct RefFile {
  std::vector<int32_t> prompt_ids;
  std::vector<std::vector<float>> logits;  // per prompt position
  std::vector<int32_t> greedy_ids;
  std::string greedy_text;
  int n_vocab = 0;
};

inline std::string unquote_json(const std::string& s) {
  std::string out;
  size_t i = s.find('"');
  if (i == std::string::npos) return out;
  for (++i; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'u' && i + 4 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 4), nullptr, 16));
      i += 4;
    } else out += c;
  }
  return out;
}

inline bool read_ref_file(const std::string& path, RefFile* ref) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string key;
    ss >> key;
    if (key == "n_vocab") {
      ss >> ref->n_vocab;
    } else if (key == "prompt_ids" || key == "greedy_ids") {
      auto& v = key == "prompt_ids" ? ref->prompt_ids : ref->greedy_ids;
      int32_t x;
      while (ss >> x) v.push_back(x);
    } else if (key == "logits_pos") {
      int pos;
      ss >> pos;
      std::vector<float> row;
      float x;
      while (ss >> x) row.push_back(x);
      if (pos != static_cast<int>(ref->logits.size())) return false;
      ref->logits.push_back(std::move(row));
    } else if (key == "greedy_text") {
      ref->greedy_text = unquote_json(line.substr(key.size()));
    }
  }
  return !ref->prompt_ids.empty() && ref->logits.size() == ref->prompt_ids.size() && !ref->greedy_ids.empty();
}

inline std::vector<float> read_f32_file(const std::string& path) {
  std::vector<float> v;
  std::ifstream f(path, std::ios::binary);
  if (!f) return v;
  f.seekg(0, std::ios::end);
  const size_t n = static_cast<size_t>(f.tellg()) / sizeof(float);
  f.seekg(0);
  v.resize(n);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  return v;
}

inline float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

// How a session's logits at every evaluated position agree with a reference dump ([n_pos x V], row-major):
// the worst |difference|, the rms difference relative to the rms of the reference, and how many positions
// have the same argmax. The llref comparison tests all measure these three.
struct LogitAgreement {
  float worst = 0;
  double rel_rms = 0;
  size_t same_argmax = 0;
};
inline LogitAgreement compare_logits(const Session& s, const float* ref, size_t n_pos, int V) {
  LogitAgreement a;
  double sq_diff = 0, sq_ref = 0;
  for (size_t p = 0; p < n_pos; ++p) {
    const float* ours = s.logits(static_cast<int>(p));
    const float* theirs = ref + p * V;
    a.worst = std::max(a.worst, max_abs_diff(ours, theirs, V));
    for (int i = 0; i < V; ++i) {
      sq_diff += (ours[i] - theirs[i]) * (ours[i] - theirs[i]);
      sq_ref += theirs[i] * theirs[i];
    }
    a.same_argmax += argmax(ours, V) == argmax(theirs, V);
  }
  a.rel_rms = std::sqrt(sq_diff / sq_ref);
  return a;
}

// Parses the first line of `llref tokenize` output: "[1,2,3]".
inline std::vector<int32_t> parse_id_list(const std::string& out) {
  std::vector<int32_t> ids;
  std::string line = out.substr(0, out.find('\n'));
  for (char& c : line)
    if (c == '[' || c == ']' || c == ',') c = ' ';
  std::istringstream ss(line);
  int32_t x;
  while (ss >> x) ids.push_back(x);
  return ids;
}

// The prompt's token ids as llama.cpp reads them (`llref tokenize`); empty (and a test failure) if llref fails.
inline std::vector<int32_t> llref_tokenize(const std::string& model, const std::string& prompt) {
  std::string out;
  if (run_command("'" + llref_path() + "' tokenize '" + model + "' '" + prompt + "' 2>/dev/null", &out) != 0) {
    ADD_FAILURE() << "llref tokenize failed on " << model;
    return {};
  }
  return parse_id_list(out);
}

// llama.cpp's logits at every position of `prompt` ([n_pos x V], row-major) with F32 caches, no flash
// attention, one thread (`llref logits --all --dump`, written to dump_path); empty (and a test failure)
// if llref fails. The comparisons with Kestrel's prompt logits all start here.
inline std::vector<float> llref_prompt_logits(const std::string& model, const std::string& prompt,
                                              const std::string& dump_path) {
  if (run_command("'" + llref_path() + "' logits '" + model + "' '" + prompt + "' -n 0 -t 1 --all --dump '" +
                  dump_path + "' -fa off -ctk f32 -ctv f32 >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "llref logits failed on " << model;
    return {};
  }
  return read_f32_file(dump_path);
}

inline bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

// The small Llama shape the synthetic-vs-llref tests use (vocab 600, 2 layers, FFN 2E+64, context 256;
// Llama 3.1 rope_freqs come with Llama 3's base 500000).
inline SyntheticSpec small_llama_spec(int n_embd, int n_head, int n_head_kv, bool tied, bool rope_freqs, TensorType type,
                                      uint64_t seed) {
  SyntheticSpec spec;
  spec.n_vocab = 600;
  spec.n_embd = n_embd;
  spec.n_layer = 2;
  spec.n_head = n_head;
  spec.n_head_kv = n_head_kv;
  spec.n_ff = 2 * n_embd + 64;
  spec.n_ctx = 256;
  spec.tied_embeddings = tied;
  spec.rope_freqs = rope_freqs;
  spec.rope_freq_base = rope_freqs ? 500000.0f : 10000.0f;
  spec.type = type;
  spec.seed = seed;
  return spec;
}

// Greedy continuation of ids for n tokens (one token per eval after the prompt batch).
inline std::vector<int32_t> greedy(Session& s, const std::vector<int32_t>& prompt, int n, int n_vocab) {
  std::vector<int32_t> out;
  if (!s.eval(prompt)) return out;
  for (int i = 0; i < n; ++i) {
    const int32_t next = argmax(s.logits(), n_vocab);
    out.push_back(next);
    if (i + 1 < n && !s.eval({next})) break;
  }
  return out;
}


// One model loaded with and without load-time repacking (kernels/repack.h), the same prompt in both:
// prompt logits bit-identical at every position (the prompt kernels build the same panels from either
// layout) unless prompt_exact is false (then within the decode steps' bound, same argmax), then n_decode
// greedy steps with the same tokens and logits within f32 summation-order noise (repacked decode tiles
// may add in another order). Call through ASSERT_NO_FATAL_FAILURE.
inline void expect_repack_matches_plain(const Model& on, const Model& off, const std::vector<int32_t>& prompt,
                                        int n_vocab, int n_decode, bool prompt_exact = true) {
  const int V = n_vocab;
  auto s_on = Session::create(on, {.n_ctx = 64, .n_threads = 2});
  auto s_off = Session::create(off, {.n_ctx = 64, .n_threads = 2});
  ASSERT_TRUE(s_on && s_off);
  ASSERT_TRUE((*s_on)->eval(prompt, true));
  ASSERT_TRUE((*s_off)->eval(prompt, true));
  auto bound = [V](const float* b) {
    const float scale = *std::max_element(b, b + V, [](float x, float y) { return std::fabs(x) < std::fabs(y); });
    return 1e-3f * std::fabs(scale) + 1e-5f;
  };
  for (int i = 0; i < static_cast<int>(prompt.size()); ++i) {
    const float* a = (*s_on)->logits(i);
    const float* b = (*s_off)->logits(i);
    if (prompt_exact) {
      ASSERT_EQ(max_abs_diff(a, b, V), 0.0f) << "prompt position " << i;
    } else {
      EXPECT_LE(max_abs_diff(a, b, V), bound(b)) << "prompt position " << i;
      EXPECT_EQ(argmax(a, V), argmax(b, V)) << "prompt position " << i;
    }
  }
  for (int step = 0; step < n_decode; ++step) {
    const float* a = (*s_on)->logits();
    const float* b = (*s_off)->logits();
    EXPECT_LE(max_abs_diff(a, b, V), bound(b)) << "step " << step;
    const int id = argmax(b, V);
    ASSERT_EQ(argmax(a, V), id) << "step " << step;
    ASSERT_TRUE((*s_on)->eval({id}));
    ASSERT_TRUE((*s_off)->eval({id}));
  }
}
}  // namespace kestrel::test
