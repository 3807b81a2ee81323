// llm-server: an OpenAI-compatible HTTP server (llama-server's endpoints and flags) that serves many
// clients at once by continuous batching over -np slots.
//   llm-server -m model.gguf [--host 127.0.0.1] [--port 8080] [-np 4] [-c 4096] [-t N] [--api-key KEY]
//              [--lookup N | -md DRAFT.gguf [--draft-max N] [--draft-p-min P]] [--draft-min N]
// The port is bound before the model loads, so /health answers 503 while loading and 200 once ready.
// SIGTERM/SIGINT: new requests get 503, running ones finish, then the process exits 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include <httplib.h>

#include "cli/common_args.h"
#include "gguf/tensor_type.h"
#include "kernels/isa.h"
#include "model/llm.h"
#include "model/chat.h"
#include "model/speculative.h"
#include "server/routes.h"
#include "server/scheduler.h"

namespace {

constexpr const char* kProg = "llm-server";

std::string base_name(const std::string& path) {
  const size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kestrel;
  std::string model_path, host = "127.0.0.1", api_key, template_file, cache_type = "f16", alias;
  int port = 8080, n_parallel = 4, n_ctx = 0, n_threads = 0, n_batch = 512, threads_http = 0;
  int max_tokens_limit = 1 << 20;
  int64_t max_body = 8 << 20;
  bool no_mmap = false;
  bool no_repack = false;
  std::string draft_path;
  int lookup = 0, draft_max = 16, draft_min = 0;
  float draft_p_min = ModelDrafter::kDefaultPMin;
  cli::ArgParser args(kProg, "OpenAI-compatible HTTP server with continuous batching.");
  args.add_string("-m,--model", &model_path, "model file (GGUF)");
  args.add_string("--host", &host, "address to listen on (default 127.0.0.1: this machine only)");
  args.add_int("--port", &port, "port to listen on (default 8080; 0: any free port, printed at start)");
  args.add_int("-np,--parallel", &n_parallel, "slots: sequences decoded together (default 4)");
  args.add_int("-c,--ctx-size", &n_ctx, "total context, split evenly over the slots (0: min(4096, training context) per slot)");
  args.add_int("-t,--threads", &n_threads, "compute threads (0: all cores)");
  args.add_int("-b,--batch-size", &n_batch, "tokens per forward pass (prompt chunks + one per decoding slot)");
  args.add_string("-ctk,--cache-type", &cache_type, "KV cache type: f32 or f16");
  args.add_string("--api-key", &api_key, "require 'Authorization: Bearer KEY' on every endpoint but /health");
  args.add_string("--chat-template-file", &template_file, "chat template (Jinja) used instead of the model's");
  args.add_string("-a,--alias", &alias, "model name reported by /v1/models (default: the file name)");
  args.add_int("--threads-http", &threads_http, "HTTP worker threads (0: max(32, 4 x slots))");
  args.add_int64("--max-body", &max_body, "largest request body in bytes (default 8 MiB)");
  args.add_int("--max-tokens-limit", &max_tokens_limit, "largest max_tokens a request may ask for");
  args.add_flag("--no-mmap", &no_mmap, "copy the weights to memory instead of mapping the file");
  args.add_flag("--no-repack", &no_repack, "keep the file's weight layout: no load-time repacking or huge-page copies of the matrices");
  args.add_int("--lookup", &lookup,
               "speculative decoding of greedy requests with prompt-lookup drafts of up to N tokens (default 0: only "
               "requests that set speculative.n_max)");
  args.add_string("-md,--model-draft,--spec-draft-model", &draft_path,
                  "speculative decoding of greedy requests with this draft model (same vocabulary)");
  args.add_int("--draft-max,--draft,--draft-n,--spec-draft-n-max", &draft_max,
               "most tokens the draft model guesses per step (default 16; requests: speculative.n_max)");
  args.add_int("--draft-min,--draft-n-min,--spec-draft-n-min", &draft_min,
               "drafts shorter than this are not verified (default 0; requests: speculative.n_min)");
  args.add_float("--draft-p-min,--spec-draft-p-min", &draft_p_min,
                 "the draft model stops guessing below this top probability (default 0.75; requests: speculative.p_min)");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProg, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (model_path.empty()) return cli::fail(kProg, "no model given (-m FILE)");
  if (port < 0 || port > 65535) return cli::fail(kProg, "invalid --port " + std::to_string(port));
  if (n_parallel < 1 || n_parallel > 256) return cli::fail(kProg, "invalid -np " + std::to_string(n_parallel) + ": expected 1..256");
  if (n_ctx < 0) return cli::fail(kProg, "invalid -c " + std::to_string(n_ctx) + ": expected >= 0");
  if (n_threads < 0) return cli::fail(kProg, "invalid -t " + std::to_string(n_threads) + ": expected >= 0");
  if (n_batch < n_parallel) return cli::fail(kProg, "invalid -b " + std::to_string(n_batch) + ": expected >= -np");
  if (threads_http < 0) return cli::fail(kProg, "invalid --threads-http: expected >= 0");
  if (max_body < 1024) return cli::fail(kProg, "invalid --max-body: expected >= 1024");
  if (max_tokens_limit < 1) return cli::fail(kProg, "invalid --max-tokens-limit: expected >= 1");
  if (lookup < 0) return cli::fail(kProg, "invalid --lookup " + std::to_string(lookup) + ": expected >= 0 (0: off)");
  if (lookup > 0 && !draft_path.empty()) return cli::fail(kProg, "give --lookup or -md, not both");
  const bool draft_flags = args.was_set("--draft-max") || args.was_set("--draft") || args.was_set("--draft-n") ||
                           args.was_set("--spec-draft-n-max") || args.was_set("--draft-p-min") ||
                           args.was_set("--spec-draft-p-min");
  if (draft_flags && draft_path.empty())
    return cli::fail(kProg, "--draft-max and --draft-p-min need a draft model (-md FILE); prompt lookup is --lookup N");
  if (draft_max < 1) return cli::fail(kProg, "invalid --draft-max " + std::to_string(draft_max) + ": expected >= 1");
  if (draft_min < 0) return cli::fail(kProg, "invalid --draft-min " + std::to_string(draft_min) + ": expected >= 0");
  const int spec_n_max = !draft_path.empty() ? draft_max : lookup;
  if (spec_n_max > 0 && draft_min > spec_n_max)
    return cli::fail(kProg, "invalid --draft-min " + std::to_string(draft_min) + ": expected <= " +
                                (draft_path.empty() ? "--lookup " : "--draft-max ") + std::to_string(spec_n_max));
  if (!(draft_p_min >= 0 && draft_p_min <= 1))
    return cli::fail(kProg, "invalid --draft-p-min " + std::to_string(draft_p_min) + ": expected 0 .. 1");
  auto ct = type_from_name(cache_type);
  if (!ct || (*ct != TensorType::F32 && *ct != TensorType::F16))
    return cli::fail(kProg, "invalid --cache-type '" + cache_type + "': expected f32 or f16");
  if (!template_file.empty() && !std::ifstream(template_file))
    return cli::fail(kProg, "cannot read chat template file '" + template_file + "'");
  if (auto st = kernels::init_isa_from_env(); !st) return cli::fail(kProg, st.message());

  // Signals go to the thread that waits for them (below), not to whichever thread runs; a client
  // that hangs up must not kill the process with SIGPIPE.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::ServerState state;
  state.api_key = api_key;
  state.model_name = alias.empty() ? base_name(model_path) : alias;
  state.limits.max_tokens = max_tokens_limit;
  state.limits.spec_n_max = spec_n_max;
  state.limits.spec_n_min = draft_min;
  state.limits.spec_p_min = draft_p_min;
  httplib::Server svr;
  const int n_http = threads_http > 0 ? threads_http : std::max(32, 4 * n_parallel);
  svr.new_task_queue = [n_http] { return new httplib::ThreadPool(static_cast<size_t>(n_http)); };
  svr.set_payload_max_length(static_cast<size_t>(max_body));
  svr.set_read_timeout(60);
  svr.set_write_timeout(60);
  server::register_routes(svr, state);
  int bound = port;
  if (port == 0) {
    bound = svr.bind_to_any_port(host);
    if (bound < 0) return cli::fail(kProg, "cannot listen on " + host);
  } else if (!svr.bind_to_port(host, port)) {
    return cli::fail(kProg, "cannot listen on " + host + ":" + std::to_string(port) + " (in use or not permitted)");
  }
  std::atomic<bool> http_returned{false};
  std::thread http([&] {
    svr.listen_after_bind();
    http_returned = true;
  });
  std::fprintf(stderr, "%s: listening on http://%s:%d, loading %s\n", kProg, host.c_str(), bound, model_path.c_str());
  auto shut_http = [&] {
    // stop() does nothing until the listen loop has started: a load that fails at once (a bad
    // template, a missing file) would otherwise leave the HTTP thread in accept() and the join hung.
    while (!svr.is_running() && !http_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    svr.stop();
    http.join();
  };

  auto model = Model::load(model_path, {.use_mmap = !no_mmap, .repack = !no_repack, .n_threads = n_threads});
  if (!model) {
    shut_http();
    return cli::fail(kProg, model.error());
  }
  const Model& m = **model;
  const int per_slot = n_ctx > 0 ? n_ctx / n_parallel : std::min(4096, m.config().n_ctx_train);
  if (per_slot < 1) {
    shut_http();
    return cli::fail(kProg, "-c " + std::to_string(n_ctx) + " leaves no context for " + std::to_string(n_parallel) + " slots");
  }
  SessionParams sp;
  sp.n_ctx = per_slot;
  sp.n_threads = n_threads;
  sp.cache_type = *ct;
  sp.n_batch = n_batch;
  sp.n_seq = n_parallel;
  auto session = Session::create(m, sp);
  if (!session) {
    shut_http();
    return cli::fail(kProg, session.error());
  }
  // The draft model: its own multi-sequence session, one sequence per slot (same context per slot).
  std::unique_ptr<Model> draft_model;
  std::unique_ptr<Session> draft_session;
  if (!draft_path.empty()) {
    auto dm = Model::load(draft_path, {.use_mmap = !no_mmap, .repack = !no_repack, .n_threads = n_threads});
    if (!dm) {
      shut_http();
      return cli::fail(kProg, "draft model: " + dm.error());
    }
    draft_model = std::move(*dm);
    if (Status st = check_same_vocab(m, *draft_model); !st) {
      shut_http();
      return cli::fail(kProg, st.message());
    }
    sp.pool = &(*session)->pool();  // the draft runs on the target's threads, in turn
    auto ds = Session::create(*draft_model, sp);
    if (!ds) {
      shut_http();
      return cli::fail(kProg, "draft model: " + ds.error());
    }
    draft_session = std::move(*ds);
  }
  // The model's chat template (or --chat-template-file's; ChatML when the model has none).
  auto tmpl = ChatTemplate::from_model(m, template_file);
  if (!tmpl) {
    shut_http();
    return cli::fail(kProg, "chat template: " + tmpl.error());
  }
  auto chat = std::make_shared<ChatTemplate>(std::move(*tmpl));
  state.render_chat = [chat](const server::json& messages, const server::json& extra) {
    return chat->apply(messages, true, extra);
  };
  state.chat_stop_tokens = chat->stop_tokens();
  if (chat->is_chatml_fallback()) std::fprintf(stderr, "%s: the model has no chat template: chat uses ChatML\n", kProg);
  server::Scheduler scheduler(m, **session, state.metrics, draft_model.get(), draft_session.get());
  state.model = &m;
  state.scheduler = &scheduler;
  state.limits.n_ctx_slot = per_slot;
  state.created = static_cast<long long>(std::time(nullptr));
  std::thread loop([&] { scheduler.run(); });
  state.ready = true;
  std::fprintf(stderr, "%s: ready: %s (%s, %.1f M params), %d slots x %d positions, %d threads, isa %s\n", kProg,
               state.model_name.c_str(), m.type_name().c_str(), m.n_params() / 1e6, n_parallel, per_slot,
               (*session)->pool().size(), std::string(kernels::isa_name(kernels::active_isa())).c_str());
  if (draft_model)
    std::fprintf(stderr, "%s: speculative decoding of greedy requests: draft model %s (%s), up to %d tokens\n", kProg,
                 draft_path.c_str(), draft_model->type_name().c_str(), spec_n_max);
  else if (spec_n_max > 0)
    std::fprintf(stderr, "%s: speculative decoding of greedy requests: prompt lookup, up to %d tokens\n", kProg,
                 spec_n_max);

  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "%s: %s: finishing the running requests\n", kProg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
  state.stopping = true;
  scheduler.stop();
  loop.join();
  // The last responses may still be on their way out.
  for (int i = 0; i < 3000 && state.in_flight > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  shut_http();
  std::fprintf(stderr, "%s: stopped\n", kProg);
  return 0;
}
