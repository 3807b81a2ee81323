#pragma once
// A multi-turn conversation over one Session, as llm-cli -cnv runs it: every turn renders the whole
// conversation with the model's chat template, tokenizes it, and evaluates only the tokens after the
// longest prefix already in the KV cache. Replies stop at the vocab's end-of-generation tokens. Each reply is
// one run of model/generate.h's Generator (so speculative decoding works here too).
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/chat.h"
#include "model/generate.h"
#include "model/llm.h"

namespace kestrel::cli {

struct TurnStats {
  int prompt_tokens = 0;     // the whole rendered conversation
  int reused_tokens = 0;     // found in the KV cache
  int evaluated_tokens = 0;  // prompt tokens evaluated this turn (prompt_tokens - reused_tokens)
  int generated_tokens = 0;
  bool interrupted = false;  // stopped by the stop flag (Ctrl-C)
  bool context_full = false; // the reply filled the context
  int n_drafted = 0, n_accepted = 0;  // speculative decoding
  double prompt_s = 0, gen_s = 0;
};

class ChatConversation {
 public:
  ChatConversation(const Model& model, Session& session, const ChatTemplate& tmpl, SamplerParams sp, int n_predict);
  void set_system(const std::string& text);  // empty: no system message
  // Speculative decoding of the replies (Generator's; greedy sampling only): prompt lookup or a drafter.
  void set_speculative(int lookup, Drafter* drafter, int n_draft);
  void clear();                              // forget the conversation (keeps the system message)
  // Adds a user message and generates the reply, streaming its text to on_text. On error (template,
  // a conversation longer than the context) the user message is withdrawn and the conversation is
  // unchanged.
  Result<TurnStats> user_turn(const std::string& text, const std::function<void(const std::string&)>& on_text,
                              const std::atomic<bool>* stop = nullptr);
  const nlohmann::ordered_json& messages() const { return messages_; }

 private:
  Result<std::vector<int32_t>> render_tokens(bool add_generation_prompt) const;
  const Model& model_;
  Session& session_;
  const ChatTemplate& tmpl_;
  GenerateParams gen_params_;  // sampling and speculation; every reply is one Generator run
  int n_predict_;
  std::string system_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  std::vector<int32_t> cached_;  // the tokens in the session's KV cache, in order
};

// llm-cli's conversation mode: reads user turns from stdin ("> " prompt on a terminal, one turn per line
// otherwise), /clear and /exit commands, Ctrl-C stops the current reply, EOF ends the session. Per-turn
// token counts go to stderr. Returns the exit code.
int run_chat_cli(const char* prog, const Model& model, Session& session, const ChatTemplate& tmpl,
                 const std::string& system_prompt, SamplerParams sp, int n_predict, int lookup = 0,
                 Drafter* drafter = nullptr, int n_draft = 16);

}  // namespace kestrel::cli
