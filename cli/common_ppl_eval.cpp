#include "cli/common_ppl_eval.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace kestrel::cli {

LogSoftmax LogSoftmax::of(const float* logits, int n_vocab) {
  LogSoftmax ls;
  ls.max = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - ls.max));
  ls.log_sum = std::log(sum);
  return ls;
}

Status ChunkEvaluator::score(const int32_t* chunk, bool want_rows, ChunkScores* out) {
  const int first = this->first();
  const int n_scored = scored_per_chunk();
  std::vector<int32_t> ids(chunk, chunk + n_ctx_);
  if (tok_.add_bos() && tok_.bos() >= 0) ids[0] = tok_.bos();

  s_.reset();
  kept_.assign(static_cast<size_t>(n_ctx_ - first) * n_vocab_, 0.0f);
  for (int start = 0; start < n_ctx_; start += n_batch_) {
    const int n = std::min(n_batch_, n_ctx_ - start);
    std::vector<int32_t> piece(ids.begin() + start, ids.begin() + start + n);
    const bool need = start + n > first;  // does this piece hold scored positions?
    KESTREL_RETURN_IF_ERROR(s_.eval(piece, need));
    if (!need) continue;
    for (int k = std::max(0, first - start); k < n; ++k) {
      const float* lg = s_.logits(k);
      std::memcpy(kept_.data() + static_cast<size_t>(start + k - first) * n_vocab_, lg, sizeof(float) * n_vocab_);
    }
  }

  out->target_logprob.resize(n_scored);
  out->argmax.resize(n_scored);
  if (want_rows) out->logprobs.resize(static_cast<size_t>(n_scored) * n_vocab_);
  for (int r = 0; r < n_scored; ++r) {
    const float* lg = kept_.data() + static_cast<size_t>(r) * n_vocab_;
    const LogSoftmax ls = LogSoftmax::of(lg, n_vocab_);
    out->target_logprob[r] = ls.logprob(lg, chunk[first + r + 1]);
    out->argmax[r] = static_cast<int32_t>(std::max_element(lg, lg + n_vocab_) - lg);
    if (want_rows) {
      float* row = out->logprobs.data() + static_cast<size_t>(r) * n_vocab_;
      for (int v = 0; v < n_vocab_; ++v) row[v] = static_cast<float>(ls.logprob(lg, v));
    }
  }
  return Status::ok();
}

}  // namespace kestrel::cli
