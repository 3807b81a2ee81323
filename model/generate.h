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
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/status.h"
#include "model/llm.h"

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
};

class Generator {
 public:
  // The session and the model it was made from must outlive the generator.
  Generator(Session& session, const Model& model, const GenerateParams& params);

  // Evaluates the prompt after what the session already holds (all_logits: keep every position's logits)
  // and tells the repetition penalty about it. Errors (context overflow, bad id) leave the generator done.
  Status start(const std::vector<int32_t>& prompt, bool all_logits = false);
  // One token: evaluates the previous one if needed, samples the next, and returns the text ready to show
  // (empty while a UTF-8 character or a possible stop string is incomplete; the last step also returns
  // what was held back). An eval error ends the generation.
  Result<std::string> next();

  bool done() const { return finish_ != FinishReason::Running; }
  FinishReason finish_reason() const { return finish_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // generated ids, end-of-generation excluded
  int n_prompt() const { return n_prompt_; }
  int n_decoded() const { return n_decoded_; }  // single-token evals after the prompt
  uint64_t seed() const { return sampler_.seed(); }

 private:
  std::string finish(FinishReason r, std::string text);  // ends the stream: text plus everything held back

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
  int n_prompt_ = 0, n_decoded_ = 0;
};

}  // namespace kestrel
