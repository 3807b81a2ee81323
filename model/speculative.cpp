// The drafters of speculative decoding (see speculative.h).
#include "model/speculative.h"

#include <algorithm>
#include <string>

#include "kernels/ops.h"

namespace kestrel {

Result<std::vector<int32_t>> LookupDrafter::draft(const std::vector<int32_t>& context, int max_n) {
  std::vector<int32_t> out;
  const int64_t L = static_cast<int64_t>(context.size());
  if (max_n < 1 || L < 2) return out;
  // Longest n-gram first: a longer match predicts better. The most recent earlier occurrence wins, since
  // text that is being quoted or repeated was usually seen last.
  for (int64_t n = std::min<int64_t>(ngram_max_, L - 1); n >= 1; --n) {
    const int32_t* pattern = context.data() + (L - n);
    for (int64_t start = L - n - 1; start >= 0; --start) {
      if (!std::equal(pattern, pattern + n, context.data() + start)) continue;
      const int64_t from = start + n;  // < L: the match ends before the pattern does
      const int64_t take = std::min<int64_t>(max_n, L - from);
      out.assign(context.begin() + from, context.begin() + from + take);
      return out;
    }
  }
  return out;
}

Status check_same_vocab(const Model& target, const Model& draft) {
  const Tokenizer& a = target.tokenizer();
  const Tokenizer& b = draft.tokenizer();
  auto differ = [](const std::string& what) {
    return Status::error("the draft model's vocabulary differs from the target's (" + what + ")");
  };
  if (a.model_name() != b.model_name())
    return differ("tokenizer " + std::string(b.model_name()) + " vs " + std::string(a.model_name()));
  if (target.config().n_vocab != draft.config().n_vocab || a.n_vocab() != b.n_vocab())
    return differ(std::to_string(b.n_vocab()) + " tokens vs " + std::to_string(a.n_vocab()));
  if (a.bos() != b.bos() || a.eos() != b.eos()) return differ("BOS/EOS ids");
  for (int32_t id = 0; id < a.n_vocab(); ++id)
    if (a.token_text(id) != b.token_text(id)) return differ("token " + std::to_string(id));
  return Status::ok();
}

Result<std::unique_ptr<ModelDrafter>> ModelDrafter::create(const Model& target, const Model& draft,
                                                           const SessionParams& params, float p_min) {
  KESTREL_RETURN_IF_ERROR(check_same_vocab(target, draft));
  auto s = Session::create(draft, params);
  if (!s) return Status::error("draft model: " + s.error());
  Session& ref = **s;
  return std::unique_ptr<ModelDrafter>(new ModelDrafter(draft, std::move(*s), ref, 0, p_min));
}

std::unique_ptr<ModelDrafter> ModelDrafter::on_sequence(const Model& draft, Session& session, int seq, float p_min) {
  return std::unique_ptr<ModelDrafter>(new ModelDrafter(draft, nullptr, session, seq, p_min));
}

Status ModelDrafter::eval(const int32_t* ids, size_t n) {
  // eval_batch takes at most n_batch tokens; a new prompt is caught up in several passes. Only the last
  // pass's last row of logits is kept (the next draft token's).
  const size_t chunk = static_cast<size_t>(std::max(1, s_.n_batch()));
  for (size_t i = 0; i < n; i += chunk) {
    const int m = static_cast<int>(std::min(chunk, n - i));
    if (Status st = s_.eval_batch({SeqTokens{seq_, ids + i, m, i + m == n}}); !st) return st;
  }
  return Status::ok();
}

void ModelDrafter::forget() {
  s_.truncate(seq_, 0);
  cached_.clear();
}

Status ModelDrafter::catch_up(const std::vector<int32_t>& context) {
  // Keep the longest prefix the draft cache shares with the context (after the target's rollback the
  // draft cache still holds the rejected guesses), but evaluate at least the last token for fresh logits.
  size_t p = 0;
  while (p < cached_.size() && p < context.size() && cached_[p] == context[p]) ++p;
  if (p == context.size()) --p;
  s_.truncate(seq_, static_cast<int>(p));
  p = std::min(p, static_cast<size_t>(s_.n_past(seq_)));  // a sliding-window ring may keep less than asked
  cached_.resize(p);
  if (Status st = eval(context.data() + p, context.size() - p); !st) {
    forget();
    return Status::error("draft model: " + st.message());
  }
  cached_.insert(cached_.end(), context.begin() + static_cast<long>(p), context.end());
  return Status::ok();
}

Status ModelDrafter::prefill(const std::vector<int32_t>& context) {
  last_draft_.clear();  // a new prompt: the back-off starts afresh
  misses_ = skip_ = 0;
  if (context.empty()) return Status::ok();
  return catch_up(context);
}

void ModelDrafter::note_outcome(bool hit) {
  if (hit) {
    misses_ = skip_ = 0;
    return;
  }
  // One miss is often just the edit point of a quoted text; from the second in a row on, sit out
  // 1, 2, 4 ... steps: a draft model that never agrees then costs ~1/kMaxSkip of its decodes, not all.
  ++misses_;
  skip_ = misses_ < 2 ? 0 : std::min(kMaxSkip, 1 << std::min(misses_ - 2, 30));
}

Result<std::vector<int32_t>> ModelDrafter::draft(const std::vector<int32_t>& context, int max_n) {
  std::vector<int32_t> out;
  if (!last_draft_.empty()) {  // did the target take the first guess of the last draft?
    note_outcome(last_at_ < context.size() && context[last_at_] == last_draft_[0]);
    last_draft_.clear();
  }
  if (skip_ > 0) {
    --skip_;
    return out;
  }
  if (max_n < 1 || context.empty()) return out;
  if (Status st = catch_up(context); !st) return st;

  const int V = model_.config().n_vocab;
  const Tokenizer& tok = model_.tokenizer();
  while (static_cast<int>(out.size()) < max_n) {
    // Greedy: the first maximum, and its probability under the full softmax.
    const float* l = s_.item_logits(0);
    const int32_t id = static_cast<int32_t>(std::max_element(l, l + V) - l);
    // The SIMD softmax on a copy (a scalar exp over 262144 logits took ~2 ms per draft token).
    probs_.assign(l, l + V);
    kernels::softmax(probs_.data(), V);
    if (probs_[id] < p_min_) break;  // not confident: a guess that is likely wrong only costs compute
    out.push_back(id);
    if (tok.is_eog(id) || static_cast<int>(out.size()) == max_n || s_.n_past(seq_) >= s_.n_ctx()) break;
    if (Status st = eval(&id, 1); !st) {
      forget();
      return Status::error("draft model: " + st.message());
    }
    cached_.push_back(id);
  }
  if (out.empty()) {
    note_outcome(false);
  } else {
    last_draft_ = out;
    last_at_ = context.size();
  }
  return out;
}

}  // namespace kestrel
