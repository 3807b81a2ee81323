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
    : model_(model), session_(session), tmpl_(tmpl), sampler_(sp), n_predict_(n_predict) {}

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
  const auto t0 = std::chrono::steady_clock::now();
  if (Status s = session_.eval(suffix); !s) {
    messages_.erase(messages_.size() - 1);
    session_.reset();
    cached_.clear();
    return s;
  }
  cached_.insert(cached_.end(), suffix.begin(), suffix.end());
  st.prompt_s = seconds_since(t0);
  st.prompt_tokens = n;
  st.reused_tokens = static_cast<int>(p);
  st.evaluated_tokens = static_cast<int>(suffix.size());

  const Tokenizer& tok = model_.tokenizer();
  const int n_vocab = model_.config().n_vocab;
  const std::vector<int32_t> stops = tmpl_.stop_tokens();
  auto is_stop = [&](int32_t id) {
    for (int32_t s : stops)
      if (s == id) return true;
    return tok.is_eog(id);
  };
  for (int32_t id : *ids) sampler_.accept(id);
  TokenStreamer streamer(tok);
  std::string reply;
  const auto t1 = std::chrono::steady_clock::now();
  while (n_predict_ < 0 || st.generated_tokens < n_predict_) {
    if (stop && stop->load()) {
      st.interrupted = true;
      break;
    }
    const int32_t next = sampler_.sample(session_.logits(), n_vocab);
    sampler_.accept(next);
    if (is_stop(next)) break;
    ++st.generated_tokens;
    std::string piece = streamer.push(next);
    reply += piece;
    on_text(piece);
    if (n_predict_ >= 0 && st.generated_tokens >= n_predict_) break;
    if (session_.n_past() >= session_.n_ctx()) {
      st.context_full = true;
      break;
    }
    if (Status s = session_.eval({next}); !s) {
      messages_.erase(messages_.size() - 1);
      session_.reset();
      cached_.clear();
      return s;
    }
    cached_.push_back(next);
  }
  std::string rest = streamer.flush();
  reply += rest;
  if (!rest.empty()) on_text(rest);
  st.gen_s = seconds_since(t1);
  messages_.push_back({{"role", "assistant"}, {"content", reply}});
  return st;
}

int run_chat_cli(const char* prog, const Model& model, Session& session, const ChatTemplate& tmpl,
                 const std::string& system_prompt, SamplerParams sp, int n_predict) {
  ChatConversation chat(model, session, tmpl, sp, n_predict);
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
  }
  return 0;
}

}  // namespace kestrel::cli
