// llm-perplexity: llama-perplexity's measurements over Kestrel.
//   -f TEXT                         perplexity: the text is tokenized (with BOS), cut into chunks of -c
//                                   tokens, each chunk scored on its second half; prints running [i]ppl
//                                   values and "Final estimate: PPL = x +/- err" (llama.cpp's formula).
//   --kl-divergence-base FILE       ... and save the run's tokens and full log-prob rows to FILE.
//   --kl-divergence-base FILE --kl-divergence
//                                   compare this model with the saved run (tokens come from FILE): KL
//                                   divergence, top-token agreement, PPL ratio.
//   --multiple-choice FILE          JSONL tasks scored by ending log-likelihood (acc and acc_norm).
#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "cli/common_json.h"
#include "cli/common_kld_stats.h"
#include "cli/common_logprob_file.h"
#include "cli/common_multiple_choice.h"
#include "cli/common_ppl_eval.h"
#include "kernels/isa.h"
#include "model/llm.h"

namespace {

using kestrel::Result;
using kestrel::Status;
namespace cli = kestrel::cli;

constexpr const char* kProgram = "llm-perplexity";

struct Options {
  std::string model, text_file, kl_base, mc_file, stats_json, cache_type = "f16";
  int n_ctx = 512, n_threads = 0, n_batch = 2048, n_chunks = -1, mc_tasks = -1;
  bool kl_divergence = false, no_mmap = false, no_repack = false;
  bool ctx_given = false;
};

Result<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::error(path + ": cannot open text file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status write_stats_json(const std::string& path, const std::string& json) {
  if (path.empty()) return Status::ok();
  std::ofstream f(path, std::ios::binary);
  f << json << "\n";
  f.close();
  if (!f) return Status::error(path + ": cannot write statistics");
  return Status::ok();
}

// Plain perplexity, optionally saving the log-prob rows for a later --kl-divergence run.
Status run_perplexity(const Options& o, const kestrel::Model& model, kestrel::Session& session) {
  auto text = read_text(o.text_file);
  if (!text) return text.status();
  const int n_ctx = o.n_ctx, n_vocab = model.config().n_vocab;
  std::fprintf(stderr, "%s: tokenizing the input ..\n", kProgram);
  const std::vector<int32_t> tokens = model.tokenizer().encode(*text, true, false);
  if (static_cast<int64_t>(tokens.size()) < 2 * static_cast<int64_t>(n_ctx))
    return Status::error(o.text_file + ": " + std::to_string(tokens.size()) + " tokens, need at least " +
                         std::to_string(2 * n_ctx) + " (2 * -c " + std::to_string(n_ctx) + ")");
  int n_chunk = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
  if (o.n_chunks > 0) n_chunk = std::min(n_chunk, o.n_chunks);
  const int n_batch = std::min(o.n_batch, n_ctx);
  std::fprintf(stderr, "%s: %zu tokens, calculating perplexity over %d chunks, n_ctx=%d, batch_size=%d\n", kProgram,
               tokens.size(), n_chunk, n_ctx, n_batch);

  cli::ChunkEvaluator eval(session, model.tokenizer(), n_ctx, n_batch, n_vocab);
  std::unique_ptr<cli::LogProbWriter> base;
  if (!o.kl_base.empty()) {
    cli::LogProbHeader h{static_cast<uint32_t>(n_ctx), static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(n_chunk),
                         static_cast<uint32_t>(eval.first()), static_cast<uint32_t>(n_chunk * n_ctx)};
    auto w = cli::LogProbWriter::create(o.kl_base, h, std::vector<int32_t>(tokens.begin(), tokens.begin() + n_chunk * n_ctx));
    if (!w) return w.status();
    base = std::move(*w);
  }
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  cli::ChunkScores sc;
  for (int i = 0; i < n_chunk; ++i) {
    KESTREL_RETURN_IF_ERROR(eval.score(tokens.data() + static_cast<size_t>(i) * n_ctx, base != nullptr, &sc));
    for (double lp : sc.target_logprob) {
      nll -= lp;
      nll2 += lp * lp;
      ++count;
    }
    if (base) KESTREL_RETURN_IF_ERROR(base->write_chunk(sc.logprobs));
    std::printf("[%d]%.4f,", i + 1, std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
  }
  if (base) KESTREL_RETURN_IF_ERROR(base->close());
  const double mean = nll / static_cast<double>(count), mean2 = nll2 / static_cast<double>(count);
  const double ppl = std::exp(mean);
  const double var = mean2 - mean * mean;
  const double err = var > 0 ? std::sqrt(var / static_cast<double>(count - 1)) * ppl : 0;
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, err);
  if (base) std::fprintf(stderr, "%s: saved log-probs of %d chunks to %s\n", kProgram, n_chunk, o.kl_base.c_str());
  cli::json::Json stats;
  stats["ppl"] = ppl;
  stats["ppl_err"] = err;
  stats["n_tokens"] = tokens.size();
  stats["n_chunk"] = n_chunk;
  stats["n_ctx"] = n_ctx;
  stats["scored"] = count;
  return write_stats_json(o.stats_json, cli::json::dump(stats));
}

// KL divergence of this model's predictions from a saved base run, over the base run's tokens.
Status run_kl_divergence(const Options& o, const kestrel::Model& model, kestrel::Session& session) {
  auto reader = cli::LogProbReader::open(o.kl_base);
  if (!reader) return reader.status();
  const cli::LogProbHeader& h = (*reader)->header();
  const int n_vocab = model.config().n_vocab;
  if (static_cast<int>(h.n_vocab) != n_vocab)
    return Status::error(o.kl_base + ": base run has a vocabulary of " + std::to_string(h.n_vocab) + " tokens, this model " +
                         std::to_string(n_vocab) + " (different tokenizer)");
  if (o.ctx_given && static_cast<int>(h.n_ctx) != o.n_ctx)
    return Status::error(o.kl_base + ": base run used -c " + std::to_string(h.n_ctx) + ", not " + std::to_string(o.n_ctx));
  if (h.first != h.n_ctx / 2) return Status::error(o.kl_base + ": unsupported scoring window in base file");
  const std::vector<int32_t>& tokens = (*reader)->tokens();
  if (!o.text_file.empty()) {
    auto text = read_text(o.text_file);
    if (!text) return text.status();
    const std::vector<int32_t> mine = model.tokenizer().encode(*text, true, false);
    if (mine.size() < tokens.size() || !std::equal(tokens.begin(), tokens.end(), mine.begin()))
      return Status::error(o.kl_base + ": base run's tokens differ from " + o.text_file + " tokenized by this model");
  }
  int n_chunk = static_cast<int>(h.n_chunk);
  if (o.n_chunks > 0) n_chunk = std::min(n_chunk, o.n_chunks);
  const int n_ctx = static_cast<int>(h.n_ctx);
  if (n_ctx > session.n_ctx()) return Status::error("internal: session context smaller than the base run's");
  const int n_batch = std::min(o.n_batch, n_ctx);
  std::fprintf(stderr, "%s: KL divergence over %d chunks of %d tokens from %s\n", kProgram, n_chunk, n_ctx, o.kl_base.c_str());

  cli::ChunkEvaluator eval(session, model.tokenizer(), n_ctx, n_batch, n_vocab);
  cli::KldAccumulator acc;
  cli::ChunkScores sc;
  std::vector<float> base_rows;
  std::printf("chunk      PPL      KLD    same top\n");
  for (int i = 0; i < n_chunk; ++i) {
    const int32_t* chunk = tokens.data() + static_cast<size_t>(i) * n_ctx;
    KESTREL_RETURN_IF_ERROR(eval.score(chunk, true, &sc));
    KESTREL_RETURN_IF_ERROR((*reader)->read_chunk(&base_rows));
    for (int r = 0; r < eval.scored_per_chunk(); ++r) {
      const size_t off = static_cast<size_t>(r) * n_vocab;
      acc.add(base_rows.data() + off, sc.logprobs.data() + off, n_vocab, chunk[eval.first() + r + 1]);
    }
    std::printf("%5d %8.4f %8.5f %9.3f%%\n", i + 1, acc.running_ppl(), acc.running_kld(), 100.0 * acc.running_same_top());
    std::fflush(stdout);
  }
  const cli::KldSummary s = acc.summary();
  std::printf("\n%s", cli::format_kld_summary(s).c_str());
  return write_stats_json(o.stats_json, cli::kld_summary_json(s));
}

Status run_multiple_choice(const Options& o, const kestrel::Model& model, kestrel::Session& session) {
  auto tasks = cli::read_choice_tasks(o.mc_file);
  if (!tasks) return tasks.status();
  size_t n = tasks->size();
  if (o.mc_tasks > 0) n = std::min(n, static_cast<size_t>(o.mc_tasks));
  std::fprintf(stderr, "%s: %zu multiple-choice tasks from %s\n", kProgram, n, o.mc_file.c_str());
  size_t right = 0, right_norm = 0;
  for (size_t i = 0; i < n; ++i) {
    auto sc = cli::score_choice_task(session, model, (*tasks)[i], std::min(o.n_batch, o.n_ctx));
    if (!sc) return Status::error(o.mc_file + ": " + sc.error());
    right += sc->best == (*tasks)[i].label;
    right_norm += sc->best_norm == (*tasks)[i].label;
    std::printf("%zu\tacc %.4f%%\tacc_norm %.4f%%\n", i + 1, 100.0 * right / (i + 1), 100.0 * right_norm / (i + 1));
    std::fflush(stdout);
  }
  const double acc = static_cast<double>(right) / n, acc_norm = static_cast<double>(right_norm) / n;
  auto err = [n](double p) { return n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0; };
  std::printf("\nFinal result: acc = %.4f%% +/- %.4f%%, acc_norm = %.4f%% +/- %.4f%% over %zu tasks\n", 100 * acc,
              100 * err(acc), 100 * acc_norm, 100 * err(acc_norm), n);
  cli::json::Json stats;
  stats["tasks"] = n;
  stats["acc"] = acc;
  stats["acc_err"] = err(acc);
  stats["acc_norm"] = acc_norm;
  stats["acc_norm_err"] = err(acc_norm);
  return write_stats_json(o.stats_json, cli::json::dump(stats));
}

// The base run's context size decides the session's in --kl-divergence mode.
Result<int> kl_base_ctx(const std::string& path) {
  auto r = cli::LogProbReader::open(path);
  if (!r) return r.status();
  return static_cast<int>((*r)->header().n_ctx);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  cli::ArgParser args(kProgram, "Perplexity, KL divergence against a saved run, and multiple-choice accuracy (llama-perplexity's methods).");
  args.add_string("-m,--model", &o.model, "model file");
  args.add_string("-f,--file", &o.text_file, "text to score");
  args.add_int("-c,--ctx-size", &o.n_ctx, "tokens per chunk / context size (default 512)");
  args.add_int("-t,--threads", &o.n_threads, "threads (default: all cores)");
  args.add_int("-b,--batch-size", &o.n_batch, "longest batch evaluated at once (default 2048, at most -c)");
  args.add_int("--chunks", &o.n_chunks, "score at most this many chunks");
  args.add_string("--kl-divergence-base", &o.kl_base, "save log-probs to FILE (or read them with --kl-divergence)");
  args.add_flag("--kl-divergence", &o.kl_divergence, "compare with the run saved in --kl-divergence-base");
  args.add_string("--multiple-choice", &o.mc_file, "JSONL multiple-choice tasks to score");
  args.add_int("--multiple-choice-tasks", &o.mc_tasks, "score at most this many tasks");
  args.add_string("-ctk,--cache-type-k", &o.cache_type, "KV cache type: f16 (default) or f32");
  args.add_string("--stats-json", &o.stats_json, "also write the final numbers as JSON to FILE");
  args.add_flag("--no-mmap", &o.no_mmap, "copy weights to memory instead of mapping the file");
  args.add_flag("--no-repack", &o.no_repack, "keep the file's weight layout: no load-time repacking or huge-page copies of the matrices");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProgram, st.message());
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  o.ctx_given = args.was_set("-c") || args.was_set("--ctx-size");
  if (o.model.empty()) return cli::fail(kProgram, "no model given (-m FILE)");
  const bool mc = !o.mc_file.empty();
  if (o.kl_divergence && o.kl_base.empty()) return cli::fail(kProgram, "--kl-divergence needs --kl-divergence-base FILE");
  if (mc && (o.kl_divergence || !o.kl_base.empty())) return cli::fail(kProgram, "--multiple-choice cannot be combined with --kl-divergence");
  if (!mc && !o.kl_divergence && o.text_file.empty()) return cli::fail(kProgram, "no text given (-f FILE)");
  if (o.n_ctx < 8) return cli::fail(kProgram, "invalid value for -c: expected at least 8");
  if (o.n_batch < 1) return cli::fail(kProgram, "invalid value for -b: expected at least 1");
  if (o.cache_type != "f16" && o.cache_type != "f32")
    return cli::fail(kProgram, "invalid value '" + o.cache_type + "' for -ctk: expected f16 or f32");
  if (!o.text_file.empty() && !o.kl_divergence) {  // fail on a missing text before loading the model
    if (std::ifstream f(o.text_file); !f) return cli::fail(kProgram, o.text_file + ": cannot open text file");
  }
  int session_ctx = o.n_ctx;
  if (o.kl_divergence) {
    auto c = kl_base_ctx(o.kl_base);
    if (!c) return cli::fail(kProgram, c.error());
    if (!o.ctx_given) session_ctx = *c;
    else if (*c != o.n_ctx)
      return cli::fail(kProgram, o.kl_base + ": base run used -c " + std::to_string(*c) + ", not " + std::to_string(o.n_ctx));
    o.n_ctx = session_ctx;
  }

  if (Status st = kestrel::kernels::init_isa_from_env(); !st) return cli::fail(kProgram, st.message());
  auto model = kestrel::Model::load(o.model, {.use_mmap = !o.no_mmap, .repack = !o.no_repack, .n_threads = o.n_threads});
  if (!model) return cli::fail(kProgram, model.error());
  kestrel::SessionParams sp;
  sp.n_ctx = session_ctx;
  sp.n_threads = o.n_threads;
  sp.n_batch = std::min(o.n_batch, session_ctx);
  sp.cache_type = o.cache_type == "f32" ? kestrel::TensorType::F32 : kestrel::TensorType::F16;
  auto session = kestrel::Session::create(**model, sp);
  if (!session) return cli::fail(kProgram, session.error());

  Status st = mc ? run_multiple_choice(o, **model, **session)
              : o.kl_divergence ? run_kl_divergence(o, **model, **session)
                                : run_perplexity(o, **model, **session);
  if (!st) {
    std::fflush(stdout);
    return cli::fail(kProgram, st.message());
  }
  return 0;
}
