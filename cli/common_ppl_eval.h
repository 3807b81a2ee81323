#pragma once
// The scoring pass shared by llm-perplexity's modes, with llama-perplexity's conventions:
// a chunk of n_ctx tokens starts on a fresh KV cache, its first token is replaced by BOS when the vocab
// adds one, it is evaluated in pieces of at most n_batch tokens, and only the positions from `first`
// (= n_ctx / 2) to n_ctx - 2 are scored: position r predicts token r + 1.
#include <cstdint>
#include <vector>

#include "gguf/status.h"
#include "model/llm.h"

namespace kestrel::cli {

// Log-softmax of one logits row, in double like llama.cpp's scorer.
struct LogSoftmax {
  float max = 0;
  double log_sum = 0;  // log(sum(exp(logit - max)))
  static LogSoftmax of(const float* logits, int n_vocab);
  double logprob(const float* logits, int32_t token) const {
    return static_cast<double>(logits[token] - max) - log_sum;
  }
};

struct ChunkScores {
  std::vector<double> target_logprob;  // one per scored position: log p(next token)
  std::vector<int32_t> argmax;         // the most likely token at each scored position
  std::vector<float> logprobs;         // full rows (scored positions x n_vocab), only if requested
};

class ChunkEvaluator {
 public:
  ChunkEvaluator(Session& session, const Tokenizer& tok, int n_ctx, int n_batch, int n_vocab)
      : s_(session), tok_(tok), n_ctx_(n_ctx), n_batch_(n_batch), n_vocab_(n_vocab) {}
  int first() const { return n_ctx_ / 2; }
  int scored_per_chunk() const { return n_ctx_ - 1 - first(); }
  // chunk: n_ctx token ids from the text (the first is replaced by BOS here when the vocab adds one).
  Status score(const int32_t* chunk, bool want_rows, ChunkScores* out);

 private:
  Session& s_;
  const Tokenizer& tok_;
  int n_ctx_, n_batch_, n_vocab_;
  std::vector<float> kept_;  // logits of the scored positions, scored_per_chunk() + 1 rows
};

}  // namespace kestrel::cli
