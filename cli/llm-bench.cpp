// llm-bench: prompt-processing (pp) and text-generation (tg) speed, measured the way llama-bench does
// so the numbers compare directly:
//   pp<N>: one prompt of N tokens (BOS, then random ids) evaluated as one batch;
//   tg<N>: N tokens evaluated one at a time (BOS, then random ids; no sampling cost);
//   "@ d<D>" (-d): either test after a context of D tokens (BOS, random ids), evaluated untimed before
//   each repetition, as llama-bench's --n-depth does: decode speed with a long KV cache to attend over.
// Each test runs once as warm-up, then -r times on a fresh KV cache; t/s is the mean over the repetitions
// ± the sample standard deviation. -o md prints a table, -o json an array of objects (llama-bench's
// field names where they exist).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "cli/common_mixture.h"
#include "cli/common_format.h"
#include "cli/common_json.h"
#include "cli/common_stats.h"
#include "kernels/isa.h"
#include "model/llm.h"

namespace {

using kestrel::Status;
namespace cli = kestrel::cli;

constexpr const char* kProgram = "llm-bench";

// "128,512" -> {128, 512}; every item a whole integer >= min_value.
kestrel::Result<std::vector<int>> parse_int_list(const std::string& flag, const std::string& text, int min_value) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < min_value || v > 1000000)
      return Status::error("invalid value '" + text + "' for " + flag + ": expected a comma-separated list of integers >= " +
                           std::to_string(min_value));
    out.push_back(static_cast<int>(v));
  }
  if (out.empty() || text.back() == ',') return Status::error("invalid value '" + text + "' for " + flag + ": empty list item");
  return out;
}

struct TestSpec {
  int n_prompt = 0;
  int n_gen = 0;
  int n_threads = 1;
  int n_depth = 0;
  std::string name() const {
    const std::string base = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
    return n_depth > 0 ? base + " @ d" + std::to_string(n_depth) : base;
  }
};

struct TestResult {
  std::vector<double> samples_ns;
  std::vector<double> samples_ts;
  // tg: the fastest single token over all repetitions (JSON "best_token_ts"). On a shared machine some
  // tokens run with the cores to themselves: this approximates the quiet-machine rate, not the mean.
  double best_token_ns = 0;
};

class Runner {
 public:
  Runner(const kestrel::Model& model, int n_batch) : model_(model), n_batch_(n_batch), rng_(1234) {}

  kestrel::Result<TestResult> run(const TestSpec& t, int reps, bool warmup) {
    auto session = kestrel::Session::create(model_, {.n_ctx = t.n_depth + t.n_prompt + t.n_gen, .n_threads = t.n_threads,
                                                     .n_batch = n_batch_});
    if (!session) return Status::error(session.error());
    kestrel::Session& s = **session;
    if (warmup) {
      if (t.n_prompt > 0) KESTREL_RETURN_IF_ERROR(prompt(s, std::min(t.n_prompt, n_batch_)));
      if (t.n_gen > 0) KESTREL_RETURN_IF_ERROR(generate(s, 1));
    }
    TestResult r;
    for (int i = 0; i < reps; ++i) {
      s.reset();
      if (t.n_depth > 0) KESTREL_RETURN_IF_ERROR(prompt(s, t.n_depth));
      auto t0 = std::chrono::steady_clock::now();
      if (t.n_prompt > 0) KESTREL_RETURN_IF_ERROR(prompt(s, t.n_prompt));
      if (t.n_gen > 0) KESTREL_RETURN_IF_ERROR(generate(s, t.n_gen, &r.best_token_ns));
      double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      r.samples_ns.push_back(ns);
      r.samples_ts.push_back(static_cast<double>(t.n_prompt + t.n_gen) * 1e9 / ns);
    }
    return r;
  }

 private:
  int32_t random_token() { return static_cast<int32_t>(rng_() % static_cast<uint32_t>(model_.config().n_vocab)); }
  int32_t first_token() {
    const auto& tok = model_.tokenizer();
    return tok.add_bos() && tok.bos() >= 0 ? tok.bos() : random_token();
  }

  Status prompt(kestrel::Session& s, int n) {
    std::vector<int32_t> ids(n);
    ids[0] = first_token();
    for (int i = 1; i < n; ++i) ids[i] = random_token();
    return s.eval(ids);  // the session splits it into n_batch pieces itself
  }

  // best_ns (if given): lowered to the fastest token's time (0 = none yet).
  Status generate(kestrel::Session& s, int n, double* best_ns = nullptr) {
    int32_t id = first_token();
    for (int i = 0; i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      KESTREL_RETURN_IF_ERROR(s.eval({id}));
      (void)s.logits();  // the result is ready when eval returns
      const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
      if (best_ns != nullptr && (*best_ns == 0 || ns < *best_ns)) *best_ns = ns;
      id = random_token();
    }
    return Status::ok();
  }

  const kestrel::Model& model_;
  int n_batch_;
  std::mt19937 rng_;
};

kestrel::cli::Mixture model_mixture(const kestrel::Model& m) {
  std::vector<kestrel::cli::TensorStat> stats;
  for (const kestrel::TensorView& t : m.weights().tensors()) {
    uint64_t n = 1;
    for (int64_t d : t.ne) n *= static_cast<uint64_t>(d);
    stats.push_back({t.type, n, t.bytes});
  }
  return kestrel::cli::mixture_of(m.weights().file(), stats);
}

std::string model_desc(const kestrel::Model& m) {
  return m.config().arch + " " + cli::format_count_short(m.n_params()) + " " + m.type_name();
}

std::string iso_time_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

class Printer {
 public:
  Printer(bool json, std::string isa) : json_(json), isa_(std::move(isa)) {}

  // The header is printed with the first row, so an early error leaves stdout empty.
  void begin() {
    started_ = true;
    if (json_) {
      std::printf("[\n");
    } else {
      std::printf("| %-30s | %10s | %10s | %-12s | %7s | %6s | %13s | %20s |\n", "model", "size", "params", "backend",
                  "threads", "repack", "test", "t/s");
      std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: | %s: |\n", std::string(30, '-').c_str(),
                  std::string(9, '-').c_str(), std::string(9, '-').c_str(), std::string(12, '-').c_str(),
                  std::string(6, '-').c_str(), std::string(5, '-').c_str(), std::string(12, '-').c_str(),
                  std::string(19, '-').c_str());
    }
    std::fflush(stdout);
  }

  void row(const std::string& path, const kestrel::Model& m, const TestSpec& t, int n_batch, const TestResult& r) {
    if (!started_) begin();
    const double avg_ts = cli::mean_of(r.samples_ts), sd_ts = cli::stddev_of(r.samples_ts);
    if (!json_) {
      char ts[48];
      std::snprintf(ts, sizeof ts, "%.2f ± %.2f", avg_ts, sd_ts);
      std::printf("| %-30s | %10s | %10s | %-12s | %7d | %6d | %13s | %20s |\n", model_desc(m).c_str(),
                  cli::format_bytes(m.weights().total_bytes()).c_str(), cli::format_count(m.n_params()).c_str(),
                  ("CPU " + isa_).c_str(), t.n_threads, m.repack_summary() == "off" ? 0 : 1, t.name().c_str(), ts);
      std::fflush(stdout);
      return;
    }
    // One object per test, keys in llama-bench's order.
    cli::json::Json o;
    o["model_filename"] = path;
    o["model"] = model_desc(m);
    o["model_type"] = model_desc(m);
    o["type"] = m.type_name();
    const kestrel::cli::Mixture mix = model_mixture(m);
    o["file_type"] = mix.file_type;
    o["mixture"] = mix.summary();
    o["bpw"] = std::round(mix.bpw() * 1e4) / 1e4;
    o["model_size"] = m.weights().total_bytes();
    o["model_n_params"] = m.n_params();
    o["backend"] = "CPU";
    o["isa"] = isa_;
    o["n_threads"] = t.n_threads;
    o["n_batch"] = n_batch;
    o["repack"] = m.repack_summary() != "off";  // load-time weight repacking (--no-repack: false)
    o["test"] = t.name();
    o["n_prompt"] = t.n_prompt;
    o["n_gen"] = t.n_gen;
    o["n_depth"] = t.n_depth;
    o["test_time"] = iso_time_now();
    o["avg_ns"] = static_cast<int64_t>(std::llround(cli::mean_of(r.samples_ns)));
    o["stddev_ns"] = static_cast<int64_t>(std::llround(cli::stddev_of(r.samples_ns)));
    o["avg_ts"] = avg_ts;
    o["stddev_ts"] = sd_ts;
    cli::json::Json ns = cli::json::Json::array();
    for (double v : r.samples_ns) ns.push_back(static_cast<int64_t>(std::llround(v)));
    o["samples_ns"] = ns;
    o["samples_ts"] = r.samples_ts;
    if (r.best_token_ns > 0) o["best_token_ts"] = 1e9 / r.best_token_ns;
    // Rows are printed as they finish (a long run shows progress), so the array is written by hand.
    std::string text = cli::json::dump(o, 2), indented = "  ";
    for (char c : text) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    std::printf("%s%s", first_ ? "" : ",\n", indented.c_str());
    first_ = false;
    std::fflush(stdout);
  }

  void end() {
    if (json_ && started_) std::printf("\n]\n");
    std::fflush(stdout);
  }

 private:
  bool json_;
  std::string isa_;
  bool first_ = true;
  bool started_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models;
  std::string prompts = "512", gens = "128", threads = "2", depths = "0", output = "md";
  int reps = 5, n_batch = 512;
  bool no_warmup = false, no_mmap = false, no_repack = false;
  cli::ArgParser args(kProgram, "Measures prompt processing (pp) and generation (tg) speed, like llama-bench.");
  args.add_strings("-m,--model", &models, "model file (repeatable)");
  args.add_string("-p,--n-prompt", &prompts, "prompt lengths, comma-separated; 0 skips pp (default 512)");
  args.add_string("-n,--n-gen", &gens, "generated token counts, comma-separated; 0 skips tg (default 128)");
  args.add_string("-d,--n-depth", &depths, "context lengths (tokens) each test runs after, comma-separated (default 0)");
  args.add_string("-t,--threads", &threads, "thread counts, comma-separated (default 2)");
  args.add_int("-r,--repetitions", &reps, "repetitions of each test (default 5)");
  args.add_int("-b,--batch-size", &n_batch, "longest batch evaluated at once (default 512)");
  args.add_string("-o,--output", &output, "output format: md or json (default md)");
  args.add_flag("--no-warmup", &no_warmup, "skip the warm-up run");
  args.add_flag("--no-mmap", &no_mmap, "copy weights to memory instead of mapping the file");
  args.add_flag("--no-repack", &no_repack, "keep the file's weight layout: no load-time repacking or huge-page copies of the matrices");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProgram, st.message());
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  if (models.empty()) return cli::fail(kProgram, "no model given (-m FILE)");
  if (output != "md" && output != "json") return cli::fail(kProgram, "invalid value '" + output + "' for -o: expected md or json");
  if (reps < 1) return cli::fail(kProgram, "invalid value for -r: expected at least 1 repetition");
  if (n_batch < 1) return cli::fail(kProgram, "invalid value for -b: expected at least 1");
  auto p_list = parse_int_list("-p", prompts, 0);
  auto n_list = parse_int_list("-n", gens, 0);
  auto t_list = parse_int_list("-t", threads, 1);
  auto d_list = parse_int_list("-d", depths, 0);
  for (auto* r : {&p_list, &n_list, &t_list, &d_list})
    if (!*r) return cli::fail(kProgram, r->error());

  std::vector<TestSpec> tests;
  for (int t : *t_list)
    for (int d : *d_list) {
      for (int p : *p_list)
        if (p > 0) tests.push_back({p, 0, t, d});
      for (int n : *n_list)
        if (n > 0) tests.push_back({0, n, t, d});
    }
  if (tests.empty()) return cli::fail(kProgram, "nothing to do: every -p and -n value is 0");

  if (Status st = kestrel::kernels::init_isa_from_env(); !st) return cli::fail(kProgram, st.message());
  Printer out(output == "json", std::string(kestrel::kernels::isa_name(kestrel::kernels::active_isa())));
  for (const auto& path : models) {
    // Packing at load runs on as many threads as the largest -t (the tests' thread counts).
    const int load_threads = *std::max_element(t_list->begin(), t_list->end());
    auto model = kestrel::Model::load(path, {.use_mmap = !no_mmap, .repack = !no_repack, .n_threads = load_threads});
    if (!model) {
      out.end();
      return cli::fail(kProgram, model.error());
    }
    std::fprintf(stderr, "%s: %s: %s\n", kProgram, path.c_str(), model_mixture(**model).summary().c_str());
    std::fprintf(stderr, "%s: %s: repack: %s\n", kProgram, path.c_str(), (*model)->repack_summary().c_str());
    Runner runner(**model, n_batch);
    for (const auto& t : tests) {
      auto r = runner.run(t, reps, !no_warmup);
      if (!r) {
        out.end();
        return cli::fail(kProgram, path + ": " + t.name() + ": " + r.error());
      }
      out.row(path, **model, t, n_batch, *r);
    }
  }
  out.end();
  return 0;
}
