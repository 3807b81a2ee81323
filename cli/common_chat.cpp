// ChatConversation and llm-cli's conversation loop (see common_chat.h).
#include "cli/common_chat.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace kestrel::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::atomic<bool> g_stop{false};
std::atomic<bool> g_generating{false};

void on_sigint(int) {
  if (g_generating.load()) {
    g_stop.store(true);  // stop the reply, keep the session
  } else {
    constexpr char kMsg[] = "\n";
    (void)!write(STDOUT_FILENO, kMsg, 1);
    _exit(130);  // at the prompt Ctrl-C ends the session, like llama-cli
  }
}

// Reads one line without the newline; false at end of input.
bool read_line(std::string* out) {
  out->clear();
  int c;
  while ((c = std::fgetc(stdin)) != EOF) {
    if (c == '\n') break;
    out->push_back(static_cast<char>(c));
  }
  if (c == EOF && out->empty()) return false;
  if (!out->empty() && out->back() == '\r') out->pop_back();
  return true;
}

}  // namespace

ChatConversation::ChatConversation(const Model& model, Session& session, const ChatTemplate& tmpl, SamplerParams sp,
                                   int n_predict)
    : model_(model), session_(session), tmpl_(tmpl), n_predict_(n_predict) {
  gen_params_.sampling = sp;
}

void ChatConversation::set_speculative(int lookup, Drafter* drafter, int n_draft) {
  gen_params_.lookup = lookup;
  gen_params_.drafter = drafter;
  gen_params_.n_draft = n_draft;
}

void ChatConversation::set_system(const std::string& text) {
  system_ = text;
  clear();
}

void ChatConversation::clear() {
  messages_ = nlohmann::ordered_json::array();
  if (!system_.empty()) messages_.push_back({{"role", "system"}, {"content", system_}});
}

Result<std::vector<int32_t>> ChatConversation::render_tokens(bool add_generation_prompt) const {
  auto prompt = tmpl_.apply(messages_, add_generation_prompt);
  if (!prompt) return prompt.status();
  return chat_prompt_tokens(model_.tokenizer(), *prompt);
}

Result<TurnStats> ChatConversation::user_turn(const std::string& text,
                                              const std::function<void(const std::string&)>& on_text,
                                              const std::atomic<bool>* stop) {
  TurnStats st;
  messages_.push_back({{"role", "user"}, {"content", text}});
  auto ids = render_tokens(true);
  if (!ids) {
    messages_.erase(messages_.size() - 1);
    return ids.status();
  }
  const int n = static_cast<int>(ids->size());
  if (n >= session_.n_ctx()) {
    messages_.erase(messages_.size() - 1);
    return Status::error("context full: the conversation is " + std::to_string(n) + " tokens and the context holds " +
                         std::to_string(session_.n_ctx()) + " (/clear starts over, -c raises the context size)");
  }
  // Longest common prefix with what is cached; at least one token is evaluated to get fresh logits.
  size_t p = 0;
  while (p < cached_.size() && p < ids->size() && cached_[p] == (*ids)[p]) ++p;
  if (p == ids->size()) --p;
  session_.truncate(static_cast<int>(p));
  p = std::min(p, static_cast<size_t>(session_.n_past()));  // a sliding-window ring may keep less than asked
  cached_.resize(p);
  std::vector<int32_t> suffix(ids->begin() + static_cast<long>(p), ids->end());
  auto fail = [&](Status s) -> Result<TurnStats> {
    messages_.erase(messages_.size() - 1);
    session_.reset();
    cached_.clear();
    return s;
  };
  GenerateParams gp = gen_params_;
  gp.max_tokens = n_predict_;
  gp.stop_tokens = tmpl_.stop_tokens();
  Generator gen(session_, model_, gp);
  const auto t0 = std::chrono::steady_clock::now();
  if (Status s = gen.start(suffix, false, cached_); !s) return fail(s);
  const int base = session_.n_past();
  cached_.insert(cached_.end(), suffix.begin(), suffix.end());
  st.prompt_s = seconds_since(t0);
  st.prompt_tokens = n;
  st.reused_tokens = static_cast<int>(p);
  st.evaluated_tokens = static_cast<int>(suffix.size());

  std::string reply;
  const auto t1 = std::chrono::steady_clock::now();
  while (!gen.done()) {
    if (stop && stop->load()) {
      st.interrupted = true;
      break;
    }
    auto piece = gen.next();
    if (!piece) return fail(Status::error(piece.error()));
    reply += *piece;
    if (!piece->empty()) on_text(*piece);
  }
  const std::vector<int32_t>& out = gen.tokens();
  st.generated_tokens = static_cast<int>(out.size());
  st.context_full = gen.finish_reason() == FinishReason::ContextFull;
  st.n_drafted = gen.n_drafted();
  st.n_accepted = gen.n_accepted();
  // The cache holds the reply's tokens but the last (not evaluated yet), or all of them after an
  // end-of-generation token; speculation may have cached accepted guesses past the reply's end: drop them
  // (at most n_batch - 1 positions, within a sliding-window ring's reach).
  const int in_cache = std::min(session_.n_past() - base, st.generated_tokens);
  session_.truncate(base + in_cache);
  if (session_.n_past() != base + in_cache) return fail(Status::error("the KV cache could not be rolled back"));
  cached_.insert(cached_.end(), out.begin(), out.begin() + in_cache);
  st.gen_s = seconds_since(t1);
  messages_.push_back({{"role", "assistant"}, {"content", reply}});
  return st;
}

int run_chat_cli(const char* prog, const Model& model, Session& session, const ChatTemplate& tmpl,
                 const std::string& system_prompt, SamplerParams sp, int n_predict, int lookup, Drafter* drafter,
                 int n_draft) {
  ChatConversation chat(model, session, tmpl, sp, n_predict);
  chat.set_speculative(lookup, drafter, n_draft);
  chat.set_system(system_prompt);
  const bool tty = isatty(STDIN_FILENO);
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  if (tty)
    std::fprintf(stderr, "%s: chat mode%s. Type a message; /clear forgets the conversation, /exit or Ctrl-D ends, "
                 "Ctrl-C stops a reply.\n", prog, tmpl.is_chatml_fallback() ? " (no template in the model: ChatML)" : "");
  int turn = 0;
  std::string line;
  while (true) {
    if (tty) {
      std::fputs("\n> ", stdout);
      std::fflush(stdout);
    }
    if (!read_line(&line)) break;
    if (line == "/exit") break;
    if (line == "/clear") {
      chat.clear();
      std::fprintf(stderr, "%s: conversation cleared\n", prog);
      continue;
    }
    if (line.empty()) continue;
    g_stop.store(false);
    g_generating.store(true);
    auto st = chat.user_turn(line, [](const std::string& t) {
      std::fwrite(t.data(), 1, t.size(), stdout);
      std::fflush(stdout);
    }, &g_stop);
    g_generating.store(false);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!st) {  // the turn was withdrawn; the session goes on (/clear, a shorter message, /exit)
      std::fprintf(stderr, "%s: %s\n", prog, st.error().c_str());
      continue;
    }
    ++turn;
    std::fprintf(stderr, "%s: turn %d: prompt %d tokens, %d reused from the cache, %d evaluated in %.1f ms; "
                 "%d generated in %.1f ms (%.2f tok/s)%s%s\n", prog, turn, st->prompt_tokens, st->reused_tokens,
                 st->evaluated_tokens, st->prompt_s * 1e3, st->generated_tokens, st->gen_s * 1e3,
                 st->generated_tokens / std::max(st->gen_s, 1e-9), st->interrupted ? " [interrupted]" : "",
                 st->context_full ? " [context full]" : "");
    if (lookup > 0 || drafter)
      std::fprintf(stderr, "%s: turn %d: speculative: %d drafted, %d accepted (%.1f%%)\n", prog, turn, st->n_drafted,
                   st->n_accepted, 100.0 * st->n_accepted / std::max(st->n_drafted, 1));
  }
  return 0;
}

}  // namespace kestrel::cli
