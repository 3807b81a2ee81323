#pragma once
// Drafters for speculative decoding: they guess the next tokens cheaply, and the Generator
// (model/generate.h) has the target model check all guesses in one batched forward pass, keeping the
// longest prefix that matches its own greedy choices. Decoding one token reads every weight once; a batch
// of 1 + k tokens reads them once too, so every accepted guess is a token almost for free.
//
//   LookupDrafter: prompt lookup (llama.cpp's lookup / ngram drafting). The guess is what followed the
//     most recent earlier occurrence of the context's last n tokens (n from ngram_max down to 1) in the
//     prompt and the output so far. Free, and good when the output quotes its input (code edits, summaries).
//   ModelDrafter: a smaller (e.g. quantized) model with the same vocabulary drafts greedily, token by
//     token, with its own Session; it stops early when its top probability falls below p_min. Each
//     draft token costs a decode of the draft model, so when its drafts keep failing (none confident
//     enough, or none accepted) it backs off: it sits out 1, 2, 4 ... up to kMaxSkip steps, in which
//     the target decodes alone, and then tries again (and catches up on the skipped tokens in one batch).
#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/status.h"
#include "model/llm.h"

namespace kestrel {

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to max_n tokens guessed to follow `context` (everything the target has seen: its cached tokens and
  // the last sampled one, in order). Fewer or none when there is no good guess. Errors come only from a
  // draft model's eval.
  virtual Result<std::vector<int32_t>> draft(const std::vector<int32_t>& context, int max_n) = 0;
  // Reads `context` (a new prompt) ahead of the first draft() call, so a draft model's prompt pass counts
  // as prompt time rather than as the first decode step's. Nothing to do for drafters without a model.
  virtual Status prefill(const std::vector<int32_t>& context) {
    (void)context;
    return Status::ok();
  }
};

class LookupDrafter final : public Drafter {
 public:
  static constexpr int kDefaultNgramMax = 3;
  explicit LookupDrafter(int ngram_max = kDefaultNgramMax) : ngram_max_(ngram_max < 1 ? 1 : ngram_max) {}
  Result<std::vector<int32_t>> draft(const std::vector<int32_t>& context, int max_n) override;

 private:
  int ngram_max_;
};

// Ok when the two models share one vocabulary (same tokenizer kind, size, every token's text, BOS/EOS);
// otherwise an error naming the first difference. Drafted ids index the target's vocabulary.
Status check_same_vocab(const Model& target, const Model& draft);

class ModelDrafter final : public Drafter {
 public:
  static constexpr float kDefaultPMin = 0.75f;  // llama.cpp's --draft-p-min default
  static constexpr int kMaxSkip = 16;            // the longest back-off, in draft() calls
  // The draft model must outlive the drafter. Its session gets `params` (use the target's n_ctx).
  static Result<std::unique_ptr<ModelDrafter>> create(const Model& target, const Model& draft,
                                                      const SessionParams& params, float p_min = kDefaultPMin);
  // A drafter on sequence `seq` of a multi-sequence session of the draft model that the caller owns (one
  // sequence per server slot, so one draft KV cache per slot and one thread pool for all). The caller has
  // checked check_same_vocab(target, draft); model and session must outlive the drafter.
  static std::unique_ptr<ModelDrafter> on_sequence(const Model& draft, Session& session, int seq,
                                                   float p_min = kDefaultPMin);
  Result<std::vector<int32_t>> draft(const std::vector<int32_t>& context, int max_n) override;
  Status prefill(const std::vector<int32_t>& context) override;
  void set_p_min(float p_min) { p_min_ = p_min; }

 private:
  ModelDrafter(const Model& draft, std::unique_ptr<Session> owned, Session& s, int seq, float p_min)
      : model_(draft), owned_(std::move(owned)), s_(s), seq_(seq), p_min_(p_min) {}
  Status eval(const int32_t* ids, size_t n);  // appends to seq_, in chunks of the session's n_batch
  Status catch_up(const std::vector<int32_t>& context);  // the cache := context (at least its last token evaluated)
  void forget();                              // empties seq_ (after an error)
  void note_outcome(bool hit);                // a draft step helped (some guess accepted) or not

  const Model& model_;
  std::unique_ptr<Session> owned_;  // create(): the drafter's own session; on_sequence(): none
  Session& s_;
  int seq_;
  float p_min_;
  std::vector<int32_t> cached_;  // the tokens in the draft session's cache, in order
  std::vector<float> probs_;     // scratch: the softmax of the last logits
  // Back-off: the last draft (to see on the next call how much of it the target accepted), where it
  // started in the context, the failed steps in a row and the calls still to sit out.
  std::vector<int32_t> last_draft_;
  size_t last_at_ = 0;
  int misses_ = 0, skip_ = 0;
};

}  // namespace kestrel
