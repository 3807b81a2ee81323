// kestrel::Generator and StopMatcher: the generation loop shared by llm-cli and the Python module.
#include "model/generate.h"

#include <algorithm>
#include <utility>

namespace kestrel {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopMatcher::push(std::string_view text) {
  if (matched_) return {};
  held_.append(text);
  if (stops_.empty()) return std::exchange(held_, {});
  // Any match must start inside held_: what was released earlier had no tail that begins a stop string.
  size_t first = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at < first) {
      first = at;
      matched_stop_ = s;
    }
  }
  if (first != std::string::npos) {
    matched_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest tail of held_ that is a proper prefix of some stop string. Such a tail starts with the
  // first byte of a stop string, so it starts on a character boundary.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() { return matched_ ? std::string() : std::exchange(held_, {}); }

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Running: return "running";
    case FinishReason::Eog: return "eog";
    case FinishReason::StopString: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::ContextFull: return "context_full";
    case FinishReason::Error: return "error";
  }
  return "running";
}

Status check_speculative(const GenerateParams& p) {
  if (p.lookup < 0) return Status::error("lookup " + std::to_string(p.lookup) + " must be >= 0 (0: off)");
  if (p.drafter && p.n_draft < 1) return Status::error("n_draft " + std::to_string(p.n_draft) + " must be >= 1");
  if ((p.lookup > 0 || p.drafter) && p.sampling.temp > 0)
    return Status::error("speculative decoding needs greedy sampling (temperature 0); it does not do speculative "
                         "sampling at temperature > 0");
  return Status::ok();
}

Generator::Generator(Session& session, const Model& model, const GenerateParams& params)
    : s_(session),
      tok_(model.tokenizer()),
      n_vocab_(model.config().n_vocab),
      p_(params),
      sampler_(params.sampling),
      streamer_(model.tokenizer()),
      stop_(params.stop) {}

Status Generator::start(const std::vector<int32_t>& prompt, bool all_logits, const std::vector<int32_t>& cached) {
  finish_ = FinishReason::Error;
  if (prompt.empty()) return Status::error("the prompt has no tokens");
  KESTREL_RETURN_IF_ERROR(check_speculative(p_));
  if (p_.drafter) {
    drafter_ = p_.drafter;
    max_draft_ = p_.n_draft;
  } else if (p_.lookup > 0) {
    lookup_ = std::make_unique<LookupDrafter>();
    drafter_ = lookup_.get();
    max_draft_ = p_.lookup;
  }
  if (drafter_ && static_cast<int>(cached.size()) != s_.n_past())
    return Status::error("speculative decoding: the session holds " + std::to_string(s_.n_past()) + " tokens but " +
                         std::to_string(cached.size()) + " were given as its content");
  if (Status st = s_.eval(prompt, all_logits); !st) return st;
  n_prompt_ = static_cast<int>(prompt.size());
  n_past_base_ = s_.n_past();
  for (int32_t id : prompt) sampler_.accept(id);
  if (drafter_) {
    context_ = cached;
    context_.insert(context_.end(), prompt.begin(), prompt.end());
    // A draft model reads the prompt now, as part of the prompt's time (its first draft then evaluates
    // only the first generated token).
    if (Status st = drafter_->prefill(context_); !st) return st;
  }
  finish_ = FinishReason::Running;
  if (p_.max_tokens == 0) finish_ = FinishReason::Length;
  return Status::ok();
}

std::string Generator::finish(FinishReason r, std::string text) {
  finish_ = r;
  if (r != FinishReason::StopString) {
    text += stop_.push(streamer_.flush());  // the tail of an incomplete character may complete a stop string
    if (stop_.matched()) finish_ = FinishReason::StopString;
    text += stop_.flush();
  }
  return text;
}

bool Generator::is_stop_token(int32_t id) const {
  return tok_.is_eog(id) || std::find(p_.stop_tokens.begin(), p_.stop_tokens.end(), id) != p_.stop_tokens.end();
}

Status Generator::decode_step() {
  const int32_t last = tokens_.back();
  std::vector<int32_t> draft;
  if (drafter_) {
    // Every guess must fit in the context, be worth verifying (the batch gives up to k + 1 tokens, the
    // budget may need fewer) and leave the batch within one forward pass of n_batch rows: then a rollback
    // goes back at most n_batch - 1 positions, which a sliding-window ring (window + n_batch - 1 rows)
    // still holds.
    int k = std::min(max_draft_, s_.n_ctx() - s_.n_past() - 1);
    k = std::min(k, s_.n_batch() - 1);
    if (p_.max_tokens >= 0) k = std::min(k, p_.max_tokens - static_cast<int>(tokens_.size()) - 1);
    if (k > 0) {
      auto d = drafter_->draft(context_, k);
      if (!d) return Status::error(d.error());
      draft = std::move(*d);
      if (static_cast<int>(draft.size()) > k) draft.resize(k);
    }
  }
  const int n_past = s_.n_past();
  std::vector<int32_t> batch{last};
  batch.insert(batch.end(), draft.begin(), draft.end());
  KESTREL_RETURN_IF_ERROR(s_.eval(batch, !draft.empty()));
  ++n_evals_;
  // Row i holds the logits after batch[0..i]: its greedy choice is the token plain decoding gives there,
  // as long as every earlier guess was right.
  const int k = static_cast<int>(draft.size());
  int accepted = 0;
  for (int i = 0; i <= k; ++i) {
    const int32_t id = sampler_.sample(s_.logits(k == 0 ? -1 : i), n_vocab_);
    sampler_.accept(id);
    ready_.push_back(id);
    ++n_decoded_;
    if (i == k || id != draft[i] || is_stop_token(id)) break;
    ++accepted;
  }
  n_drafted_ += k;
  n_accepted_ += accepted;
  if (accepted < k) {
    const int keep = n_past + 1 + accepted;  // the previous token and the accepted guesses
    s_.truncate(keep);
    if (s_.n_past() != keep)  // cannot happen with k <= n_batch - 1 (see above); never continue from a wrong cache
      return Status::error("speculative decoding: the KV cache could not be rolled back to position " +
                           std::to_string(keep));
  }
  return Status::ok();
}

Result<std::string> Generator::next() {
  if (done()) return std::string();
  if (ready_.empty()) {
    if (pending_) {
      if (Status st = decode_step(); !st) {
        finish_ = FinishReason::Error;
        return Status::error(st.message());
      }
    } else {
      const int32_t id = sampler_.sample(s_.logits(), n_vocab_);  // the first token, from the prompt's logits
      sampler_.accept(id);
      ready_.push_back(id);
    }
  }
  const int32_t id = ready_.front();
  ready_.pop_front();
  pending_ = false;
  if (is_stop_token(id)) return finish(FinishReason::Eog, {});
  tokens_.push_back(id);
  if (drafter_) context_.push_back(id);
  std::string text = stop_.push(streamer_.push(id));
  if (stop_.matched()) return finish(FinishReason::StopString, std::move(text));
  if (p_.max_tokens >= 0 && static_cast<int>(tokens_.size()) >= p_.max_tokens)
    return finish(FinishReason::Length, std::move(text));
  // Positions plain decoding would have evaluated by now (accepted guesses are cached ahead of that).
  if (n_past_base_ + static_cast<int>(tokens_.size()) - 1 >= s_.n_ctx())
    return finish(FinishReason::ContextFull, std::move(text));
  pending_ = true;
  return text;
}

}  // namespace kestrel
