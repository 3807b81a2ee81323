#pragma once
// The one generation loop every front end uses (llm-cli, the Python module, the server): evaluate the
// prompt, sample the next token, stop at end-of-generation tokens, extra stop tokens, stop strings, a token
// budget or a full context, and hand out text that never splits a UTF-8 character and never shows any part
// of a stop string.
//
//   kestrel::Generator gen(session, model, {.sampling = {.temp = 0}, .max_tokens = 64, .stop = {"\n\n"}});
//   if (Status st = gen.start(prompt_ids); !st) ...;
//   while (!gen.done()) {
//     auto piece = gen.next();                  // one token (the text may be empty while held back)
//     if (!piece) ...;                          // eval error, e.g. a context overflow
//     fputs(piece->c_str(), stdout);
//   }
//   gen.finish_reason();                        // Eog, StopString, Length or ContextFull
//
// Speculative decoding (GenerateParams::lookup or ::drafter, greedy sampling only): when the next token
// needs an eval, a drafter guesses up to k following tokens and the target evaluates the previous token
// and the k guesses in one batch (every position's logits). Row i's greedy choice is accepted while it
// equals guess i; the first mismatch (or row k) gives one more token, and the KV cache is truncated back
// to the accepted tokens. The tokens are those plain greedy decoding gives (up to the summation order of
// batched vs single-token matmuls, ~1e-6 on the logits). next() still hands out one token per call.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/status.h"
#include "model/llm.h"
#include "model/speculative.h"

namespace kestrel {

// Finds stop strings in streamed text. Holds back the longest tail that could still become a stop string,
// and after a match gives only the text before it. Pushed text must consist of whole UTF-8 characters (what
// a TokenStreamer gives), so held-back and released text never split a character either.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored
  std::string push(std::string_view text);  // text safe to show now; "" once matched
  std::string flush();                      // the held-back tail, when the stream ends without a match
  bool matched() const { return matched_; }
  const std::string& matched_stop() const { return matched_stop_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
  std::string matched_stop_;
};

enum class FinishReason {
  Running,
  Eog,          // an end-of-generation token (EOS, EOT, ... or one of GenerateParams::stop_tokens)
  StopString,   // one of GenerateParams::stop appeared in the text
  Length,       // max_tokens generated
  ContextFull,  // the session's context is full
  Error,        // an eval failed (next() returned the error)
};
std::string_view finish_reason_name(FinishReason r);  // "eog", "stop", "length", "context_full", "error", "running"

struct GenerateParams {
  SamplerParams sampling;
  int max_tokens = -1;               // < 0: until end of generation or a full context
  std::vector<std::string> stop;     // generation ends before the first of these; it is not shown
  std::vector<int32_t> stop_tokens;  // extra end-of-generation ids (e.g. a chat template's), besides is_eog()
  // Speculative decoding (needs sampling.temp <= 0; start() refuses otherwise). lookup > 0: prompt-lookup
  // drafts of up to `lookup` tokens. drafter (e.g. a ModelDrafter; must outlive the generator, and is used
  // instead of lookup): drafts of up to n_draft tokens. Drafts are also capped by the context, the token
  // budget and the session's n_batch - 1 (so the batch is one forward pass and a sliding-window ring
  // still holds every position a rollback returns to).
  int lookup = 0;
  Drafter* drafter = nullptr;
  int n_draft = 16;
};

// Checks GenerateParams' speculative settings; ok when no speculation is asked for.
Status check_speculative(const GenerateParams& p);

class Generator {
 public:
  // The session and the model it was made from must outlive the generator.
  Generator(Session& session, const Model& model, const GenerateParams& params);

  // Evaluates the prompt after what the session already holds (all_logits: keep every position's logits)
  // and tells the repetition penalty about it. Errors (context overflow, bad id, bad speculative
  // settings) leave the generator done. cached: the tokens the session already holds (its n_past()),
  // which drafters see as context; needed with a drafter when the session is not empty.
  Status start(const std::vector<int32_t>& prompt, bool all_logits = false, const std::vector<int32_t>& cached = {});
  // One token: evaluates the previous one if needed, samples the next, and returns the text ready to show
  // (empty while a UTF-8 character or a possible stop string is incomplete; the last step also returns
  // what was held back). An eval error ends the generation.
  Result<std::string> next();

  bool done() const { return finish_ != FinishReason::Running; }
  FinishReason finish_reason() const { return finish_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // generated ids, end-of-generation excluded
  int n_prompt() const { return n_prompt_; }
  // Tokens sampled from evals after the prompt (all generated tokens but the first; an end-of-generation
  // token counts): the same count with and without speculation.
  int n_decoded() const { return n_decoded_; }
  int n_evals() const { return n_evals_; }        // forward passes after the prompt (one per token without speculation)
  int n_drafted() const { return n_drafted_; }    // draft tokens verified
  int n_accepted() const { return n_accepted_; }  // draft tokens the target agreed with
  bool speculative() const { return drafter_ != nullptr; }
  uint64_t seed() const { return sampler_.seed(); }

 private:
  std::string finish(FinishReason r, std::string text);  // ends the stream: text plus everything held back
  bool is_stop_token(int32_t id) const;
  Status decode_step();  // evaluates tokens_.back() (with drafts when speculating) and queues what follows

  Session& s_;
  const Tokenizer& tok_;
  const int n_vocab_;
  GenerateParams p_;
  Sampler sampler_;
  TokenStreamer streamer_;
  StopMatcher stop_;
  FinishReason finish_ = FinishReason::Error;  // not started (or start() failed): done
  std::vector<int32_t> tokens_;
  bool pending_ = false;  // tokens_.back() still has to be evaluated before the next sample
  std::deque<int32_t> ready_;    // sampled tokens not handed out yet (several after an accepted draft)
  std::unique_ptr<LookupDrafter> lookup_;
  Drafter* drafter_ = nullptr;   // lookup_ or p_.drafter; nullptr: plain decoding
  int max_draft_ = 0;
  std::vector<int32_t> context_;  // what the drafter sees: cached + prompt + generated tokens
  int n_past_base_ = 0;           // the session's n_past() after the prompt
  int n_prompt_ = 0, n_decoded_ = 0, n_evals_ = 0, n_drafted_ = 0, n_accepted_ = 0;
};

}  // namespace kestrel
