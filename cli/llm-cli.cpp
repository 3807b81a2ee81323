// llm-cli: generate text with a GGUF model, llama.cpp-style flags.
//   llm-cli -m model.gguf -p "Once upon a time" -n 64 [-t 2] [--temp 0] [-c 2048] [--cache-type f16]
//   llm-cli -m model.gguf -cnv [-sys "You are ..."] [--chat-template-file T.jinja]   (conversation)
//   llm-cli -m model.gguf -p ... --temp 0 --lookup 16            (speculative: prompt-lookup drafts)
//   llm-cli -m model.gguf -p ... --temp 0 -md draft.gguf [--draft 16]   (speculative: a draft model)
// The prompt (unless --no-echo) and the continuation go to stdout as they are produced; load time,
// prompt and generation speed, ISA and threads go to stderr. Errors: one line, exit code 1.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "cli/common_chat.h"
#include "gguf/tensor_type.h"
#include "kernels/isa.h"
#include "kernels/thread_pool.h"
#include "model/generate.h"
#include "model/llm.h"
#include "model/speculative.h"

namespace {

constexpr const char* kProg = "llm-cli";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

void print_info(const kestrel::Model& m, const std::string& path) {
  const kestrel::ModelConfig& c = m.config();
  std::printf("file: %s\narch: %s\ntype: %s\nparams: %llu\nweight bytes: %llu\n", path.c_str(), c.arch.c_str(),
              m.type_name().c_str(), static_cast<unsigned long long>(m.n_params()),
              static_cast<unsigned long long>(m.weights().total_bytes()));
  std::printf("n_vocab %d, n_ctx_train %d, n_embd %d, n_layer %d, n_ff %d, n_head %d, n_head_kv %d, head_dim %d, "
              "n_rot %d, rope_freq_base %g, rope_freq_scale %g, rms_eps %g, n_expert %d/%d, tied %d, rope_freqs %d\n",
              c.n_vocab, c.n_ctx_train, c.n_embd, c.n_layer, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.n_rot,
              c.rope_freq_base, c.rope_freq_scale, c.rms_eps, c.n_expert, c.n_expert_used, c.tied_embeddings,
              c.has_rope_freqs);
  std::printf("tokenizer: %s, bos %d, eos %d, add_bos %d\n", std::string(m.tokenizer().model_name()).c_str(),
              m.tokenizer().bos(), m.tokenizer().eos(), m.tokenizer().add_bos());
}

// One tensor as `llref tensors --full` prints it: name, op, ne (width, rows), sum, rms, every value.
void write_tap_line(FILE* f, const kestrel::TapTensor& t) {
  const int64_t n = t.rows * t.width;
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += t.data[i];
    sq += static_cast<double>(t.data[i]) * t.data[i];
  }
  std::fprintf(f, "{\"name\":\"%s\",\"op\":\"%s\",\"ne\":[%lld,%lld,1,1],\"sum\":%.6f,\"rms\":%.6f,\"first\":[", t.name,
               t.op, static_cast<long long>(t.width), static_cast<long long>(t.rows), sum,
               std::sqrt(sq / static_cast<double>(n > 0 ? n : 1)));
  for (int64_t i = 0; i < n; ++i) std::fprintf(f, "%s%.9g", i ? "," : "", t.data[i]);
  std::fputs("]}\n", f);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kestrel;
  std::string model_path, prompt, prompt_file, cache_type = "f16", logits_out, dump_tensors;
  int n_predict = -1, n_threads = 0, n_ctx = 0, n_batch = 512;
  bool no_mmap = false, no_repack = false, no_echo = false, info = false, chat = false;
  std::string system_prompt, chat_template_file, draft_path;
  int lookup = 0, n_draft = 16;
  float draft_p_min = ModelDrafter::kDefaultPMin;
  SamplerParams sp;
  cli::ArgParser args(kProg, "Generate text with a GGUF model.");
  args.add_string("-m,--model", &model_path, "model file (GGUF)");
  args.add_string("-p,--prompt", &prompt, "prompt text");
  args.add_string("-f,--file", &prompt_file, "read the prompt from a file");
  args.add_int("-n,--n-predict", &n_predict, "tokens to generate (-1: until end of generation or full context)");
  args.add_int("-t,--threads", &n_threads, "threads (0: all cores)");
  args.add_int("-c,--ctx-size", &n_ctx, "context size (0: min(4096, the model's training context))");
  args.add_int("-b,--batch-size", &n_batch, "prompt tokens evaluated per batch");
  args.add_float("--temp", &sp.temp, "temperature (<= 0: greedy)");
  args.add_int("--top-k", &sp.top_k, "top-k sampling (<= 0: off)");
  args.add_float("--top-p", &sp.top_p, "top-p sampling (1: off)");
  args.add_float("--min-p", &sp.min_p, "min-p sampling (0: off)");
  args.add_float("--repeat-penalty", &sp.repeat_penalty, "repetition penalty (1: off)");
  args.add_int("--repeat-last-n", &sp.repeat_last_n, "tokens considered by the repetition penalty");
  args.add_uint64("-s,--seed", &sp.seed, "random seed (0xFFFFFFFF: random)");
  args.add_flag("--no-mmap", &no_mmap, "copy the weights to memory instead of mapping the file");
  args.add_flag("--no-repack", &no_repack, "keep the file's weight layout: no load-time repacking or huge-page copies of the matrices");
  args.add_string("-ctk,--cache-type", &cache_type, "KV cache type: f32 or f16");
  args.add_flag("--no-echo", &no_echo, "do not print the prompt");
  args.add_string("--logits-out", &logits_out,
                  "write the logits of every prompt position (float32, [n_prompt][n_vocab]) to this file");
  args.add_string("--dump-tensors", &dump_tensors,
                  "write every named intermediate tensor of each evaluation to this file, one JSON line each, in the "
                  "format and with the names of `llref tensors MODEL PROMPT --full` (llama.cpp's graph names)");
  args.add_flag("--info", &info, "print the model's configuration and exit");
  args.add_flag("-cnv,--conversation,--chat", &chat,
                "conversation mode: the model's chat template, user turns from stdin (/clear, /exit, Ctrl-C stops a reply)");
  args.add_string("-sys,--system-prompt", &system_prompt, "system message for conversation mode");
  args.add_string("--chat-template-file", &chat_template_file, "Jinja chat template to use instead of the model's");
  args.add_int("--lookup", &lookup,
               "speculative decoding with prompt-lookup drafts of up to N tokens (n-gram matches in the prompt and "
               "output; needs --temp 0; 0: off)");
  args.add_string("-md,--model-draft", &draft_path, "speculative decoding with this draft model (same vocabulary; needs --temp 0)");
  args.add_int("--draft,--draft-max,--draft-n", &n_draft, "most tokens the draft model guesses per step");
  args.add_float("--draft-p-min", &draft_p_min, "the draft model stops guessing below this top probability");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProg, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (model_path.empty()) return cli::fail(kProg, "no model given (-m FILE)");
  if (auto st = kernels::init_isa_from_env(); !st) return cli::fail(kProg, st.message());

  auto ct = type_from_name(cache_type);
  if (!ct || (*ct != TensorType::F32 && *ct != TensorType::F16))
    return cli::fail(kProg, "invalid --cache-type '" + cache_type + "': expected f32 or f16");
  if (n_threads < 0) return cli::fail(kProg, "invalid -t " + std::to_string(n_threads) + ": expected >= 0");
  if (n_ctx < 0) return cli::fail(kProg, "invalid -c " + std::to_string(n_ctx) + ": expected >= 0");
  if (n_batch < 1) return cli::fail(kProg, "invalid -b " + std::to_string(n_batch) + ": expected >= 1");
  if (n_predict < -1) return cli::fail(kProg, "invalid -n " + std::to_string(n_predict) + ": expected >= -1");
  if (lookup < 0) return cli::fail(kProg, "invalid --lookup " + std::to_string(lookup) + ": expected >= 0 (0: off)");
  if (n_draft < 1) return cli::fail(kProg, "invalid --draft " + std::to_string(n_draft) + ": expected >= 1");
  if (!(draft_p_min >= 0 && draft_p_min <= 1))
    return cli::fail(kProg, "invalid --draft-p-min " + std::to_string(draft_p_min) + ": expected 0 .. 1");
  const bool speculative = lookup > 0 || !draft_path.empty();
  if (lookup > 0 && !draft_path.empty()) return cli::fail(kProg, "give --lookup or -md, not both");
  if ((args.was_set("--draft") || args.was_set("--draft-max") || args.was_set("--draft-n")) && draft_path.empty())
    return cli::fail(kProg, "--draft needs a draft model (-md FILE)");
  if (speculative && sp.temp > 0)
    return cli::fail(kProg, "speculative decoding (--lookup, -md) needs greedy sampling (--temp 0)");
  if (!prompt_file.empty()) {
    if (args.was_set("-p")) return cli::fail(kProg, "give the prompt with -p or -f, not both");
    if (!read_file(prompt_file, &prompt)) return cli::fail(kProg, "cannot read prompt file '" + prompt_file + "'");
  }

  const auto t_load = std::chrono::steady_clock::now();
  auto model = Model::load(model_path, {.use_mmap = !no_mmap, .repack = !no_repack, .n_threads = n_threads});
  if (!model) return cli::fail(kProg, model.error());
  const double load_s = seconds_since(t_load);
  const Model& m = **model;
  if (info) {
    print_info(m, model_path);
    return 0;
  }
  const ModelConfig& cfg = m.config();
  if (n_ctx == 0) n_ctx = std::min(4096, cfg.n_ctx_train);
  std::unique_ptr<Model> draft_model;
  if (!draft_path.empty()) {
    auto dm = Model::load(draft_path, {.use_mmap = !no_mmap, .repack = !no_repack, .n_threads = n_threads});
    if (!dm) return cli::fail(kProg, "draft model: " + dm.error());
    draft_model = std::move(*dm);
    if (Status st = check_same_vocab(m, *draft_model); !st) return cli::fail(kProg, st.message());
  }
  if (chat) {
    // As in llama-cli, a prompt given in conversation mode is the system message.
    if (system_prompt.empty()) system_prompt = prompt;
    auto tmpl = ChatTemplate::from_model(m, chat_template_file);
    if (!tmpl) return cli::fail(kProg, tmpl.error());
    SessionParams chat_params;
    chat_params.n_ctx = n_ctx;
    chat_params.n_threads = n_threads;
    chat_params.cache_type = *ct;
    chat_params.n_batch = n_batch;
    auto chat_session = Session::create(m, chat_params);
    if (!chat_session) return cli::fail(kProg, chat_session.error());
    std::unique_ptr<ModelDrafter> chat_drafter;
    if (draft_model) {
      chat_params.pool = &(*chat_session)->pool();  // the draft runs on the target's threads, in turn
      auto d = ModelDrafter::create(m, *draft_model, chat_params, draft_p_min);
      if (!d) return cli::fail(kProg, d.error());
      chat_drafter = std::move(*d);
    }
    return cli::run_chat_cli(kProg, m, **chat_session, *tmpl, system_prompt, sp, n_predict, lookup, chat_drafter.get(),
                             n_draft);
  }
  if (!system_prompt.empty() || !chat_template_file.empty())
    return cli::fail(kProg, "-sys and --chat-template-file need conversation mode (-cnv)");
  if (prompt.empty()) return cli::fail(kProg, "empty prompt (give one with -p TEXT or -f FILE)");
  if (n_ctx > cfg.n_ctx_train)  // llama.cpp warns and proceeds
    std::fprintf(stderr, "%s: warning: context size %d exceeds the model's training context %d\n", kProg, n_ctx,
                 cfg.n_ctx_train);
  const Tokenizer& tok = m.tokenizer();
  std::vector<int32_t> ids = tok.encode(prompt, true, true);
  if (ids.empty()) return cli::fail(kProg, "the prompt encodes to no tokens");
  if (static_cast<int>(ids.size()) > n_ctx)
    return cli::fail(kProg, "the prompt is " + std::to_string(ids.size()) + " tokens, longer than the context size " +
                                std::to_string(n_ctx) + " (raise -c)");

  SessionParams sess_params;
  sess_params.n_ctx = n_ctx;
  sess_params.n_threads = n_threads;
  sess_params.cache_type = *ct;
  sess_params.n_batch = n_batch;
  auto session = Session::create(m, sess_params);
  if (!session) return cli::fail(kProg, session.error());
  Session& s = **session;
  std::unique_ptr<FILE, int (*)(FILE*)> dump(nullptr, std::fclose);
  if (!dump_tensors.empty()) {
    dump.reset(std::fopen(dump_tensors.c_str(), "w"));
    if (!dump) return cli::fail(kProg, "cannot write '" + dump_tensors + "'");
    s.set_tensor_tap([f = dump.get()](const TapTensor& t) { write_tap_line(f, t); });
  }

  if (!no_echo) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
  }
  GenerateParams gp;
  gp.sampling = sp;
  gp.max_tokens = n_predict;
  gp.lookup = lookup;
  std::unique_ptr<ModelDrafter> drafter;
  if (draft_model) {
    sess_params.pool = &s.pool();  // the draft runs on the target's threads, in turn
    auto d = ModelDrafter::create(m, *draft_model, sess_params, draft_p_min);
    if (!d) return cli::fail(kProg, d.error());
    drafter = std::move(*d);
    gp.drafter = drafter.get();
    gp.n_draft = n_draft;
  }
  Generator gen(s, m, gp);
  const auto t_prompt = std::chrono::steady_clock::now();
  if (Status st = gen.start(ids, !logits_out.empty()); !st) return cli::fail(kProg, st.message());
  const double prompt_s = seconds_since(t_prompt);
  if (!logits_out.empty()) {
    FILE* f = std::fopen(logits_out.c_str(), "wb");
    if (!f) return cli::fail(kProg, "cannot write '" + logits_out + "'");
    bool ok = true;
    for (size_t i = 0; i < ids.size(); ++i)
      ok = ok && std::fwrite(s.logits(static_cast<int>(i)), sizeof(float), cfg.n_vocab, f) ==
                     static_cast<size_t>(cfg.n_vocab);
    if (std::fclose(f) != 0 || !ok) return cli::fail(kProg, "cannot write '" + logits_out + "'");
  }

  const auto t_gen = std::chrono::steady_clock::now();
  const std::clock_t cpu_gen = std::clock();  // process CPU time (all threads): a loaded machine's steadier measure
  while (!gen.done()) {
    auto text = gen.next();
    if (!text) return cli::fail(kProg, text.error());
    std::fwrite(text->data(), 1, text->size(), stdout);
    std::fflush(stdout);
  }
  if (gen.finish_reason() == FinishReason::ContextFull)
    std::fprintf(stderr, "\n%s: context full (%d tokens), stopping\n", kProg, s.n_ctx());
  const int n_gen = static_cast<int>(gen.tokens().size()), n_decoded = gen.n_decoded();
  const double gen_s = seconds_since(t_gen);
  const double gen_cpu_s = static_cast<double>(std::clock() - cpu_gen) / CLOCKS_PER_SEC;
  std::fputc('\n', stdout);
  std::fflush(stdout);

  std::fprintf(stderr, "%s: model %s (%s, %s, %.1f M params), load %.1f ms\n", kProg, model_path.c_str(),
               cfg.arch.c_str(), m.type_name().c_str(), m.n_params() / 1e6, load_s * 1e3);
  std::fprintf(stderr, "%s: prompt %zu tokens in %.1f ms (%.2f tok/s)\n", kProg, ids.size(), prompt_s * 1e3,
               ids.size() / std::max(prompt_s, 1e-9));
  std::fprintf(stderr, "%s: generation %d tokens, %d decoded in %.1f ms (%.2f tok/s), CPU %.1f ms\n", kProg, n_gen,
               n_decoded, gen_s * 1e3, n_decoded / std::max(gen_s, 1e-9), gen_cpu_s * 1e3);
  if (gen.speculative())
    std::fprintf(stderr, "%s: speculative (%s): %d drafted, %d accepted (%.1f%%), %d target evals for %d tokens\n",
                 kProg, draft_model ? ("draft model " + draft_path + ", up to " + std::to_string(n_draft)).c_str()
                                    : ("lookup, up to " + std::to_string(lookup)).c_str(),
                 gen.n_drafted(), gen.n_accepted(), 100.0 * gen.n_accepted() / std::max(gen.n_drafted(), 1),
                 gen.n_evals(), n_decoded);
  std::fprintf(stderr, "%s: isa %s, threads %d, n_ctx %d, cache %s, seed %llu\n", kProg,
               std::string(kernels::isa_name(kernels::active_isa())).c_str(), s.pool().size(), s.n_ctx(),
               std::string(type_name(*ct)).c_str(), static_cast<unsigned long long>(gen.seed()));
  return 0;
}
