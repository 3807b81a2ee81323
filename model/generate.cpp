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

Generator::Generator(Session& session, const Model& model, const GenerateParams& params)
    : s_(session),
      tok_(model.tokenizer()),
      n_vocab_(model.config().n_vocab),
      p_(params),
      sampler_(params.sampling),
      streamer_(model.tokenizer()),
      stop_(params.stop) {}

Status Generator::start(const std::vector<int32_t>& prompt, bool all_logits) {
  finish_ = FinishReason::Error;
  if (prompt.empty()) return Status::error("the prompt has no tokens");
  if (Status st = s_.eval(prompt, all_logits); !st) return st;
  n_prompt_ = static_cast<int>(prompt.size());
  for (int32_t id : prompt) sampler_.accept(id);
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

Result<std::string> Generator::next() {
  if (done()) return std::string();
  if (pending_) {
    pending_ = false;
    if (Status st = s_.eval({tokens_.back()}); !st) {
      finish_ = FinishReason::Error;
      return Status::error(st.message());
    }
    ++n_decoded_;
  }
  const int32_t id = sampler_.sample(s_.logits(), n_vocab_);
  sampler_.accept(id);
  if (tok_.is_eog(id) || std::find(p_.stop_tokens.begin(), p_.stop_tokens.end(), id) != p_.stop_tokens.end())
    return finish(FinishReason::Eog, {});
  tokens_.push_back(id);
  std::string text = stop_.push(streamer_.push(id));
  if (stop_.matched()) return finish(FinishReason::StopString, std::move(text));
  if (p_.max_tokens >= 0 && static_cast<int>(tokens_.size()) >= p_.max_tokens)
    return finish(FinishReason::Length, std::move(text));
  if (s_.n_past() >= s_.n_ctx()) return finish(FinishReason::ContextFull, std::move(text));
  pending_ = true;
  return text;
}

}  // namespace kestrel
