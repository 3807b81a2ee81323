// Vocab::build: resolves a TokenizerSpec the way llama.cpp's vocab loader does (defaults per
// tokenizer model, special ids, attribute fix-ups, end-of-generation set, special-token order).
#include "model/tokenizer_vocab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kestrel {
namespace {

uint32_t attr_from_type(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kNormal: return kAttrNormal;
    case TokenType::kUnknown: return kAttrUnknown;
    case TokenType::kControl: return kAttrControl;
    case TokenType::kUserDefined: return kAttrUserDefined;
    case TokenType::kUnused: return kAttrUnused;
    case TokenType::kByte: return kAttrByte;
    default: return kAttrUndefined;
  }
}

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

// Texts llama.cpp recognises when the file does not name the token (in its order of preference:
// we take the first listed text that exists, so Llama 3's EOT is <|eot_id|>, not <|end_of_text|>).
const char* const kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                 "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
                                 "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
                                 "<end_of_utterance>"};
const char* const kFimTexts[] = {
    // prefix, suffix, middle, pad, repo, file separator: only their CONTROL attribute matters here
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>",
    "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>", "<SUF>",
    "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>",
    "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
    "<|file_sep|>"};
const char* const kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
                                 "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
                                 "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
                                 "<turn|>", "<|tool_response>",
                                 "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>", "[e~["};

}  // namespace

int32_t Vocab::find(std::string_view text) const {
  auto it = index_.find(text);
  return it == index_.end() ? -1 : it->second;
}

int Vocab::merge_rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left).append(1, ' ').append(right);
  auto it = merges_.find(key);
  return it == merges_.end() ? -1 : it->second;
}

bool Vocab::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

Result<Vocab> Vocab::build(TokenizerSpec spec) {
  Vocab v;
  v.model_ = spec.model;
  if (spec.model == "llama") {
    v.type_ = VocabType::kSpm;
    v.bos_ = 1, v.eos_ = 2, v.unk_ = 0;
    v.add_space_prefix_ = true, v.add_bos_ = true, v.add_eos_ = false, v.clean_spaces_ = false;
  } else if (spec.model == "gpt2") {
    v.type_ = VocabType::kBpe;
    if (!spec.has_merges) return Status::error("byte-level BPE vocab without merges (tokenizer.ggml.merges)");
    auto pre = pretokenizer_from_name(spec.pre);
    if (!pre) return pre.status();
    v.pre_ = *pre;
    v.bos_ = 11, v.eos_ = 11, v.unk_ = -1;  // llama.cpp's (GPT-NeoX era) defaults, checked below
    v.add_space_prefix_ = false, v.add_bos_ = v.pre_.add_bos, v.add_eos_ = false;
    v.clean_spaces_ = v.pre_.clean_spaces;
  } else {
    return Status::error("unsupported tokenizer model '" + spec.model +
                         "' (tokenizer.ggml.model); supported: 'llama' (SentencePiece), 'gpt2' (byte-level BPE)");
  }
  if (spec.add_space_prefix) v.add_space_prefix_ = *spec.add_space_prefix;

  const size_t n = spec.tokens.size();
  if (n == 0) return Status::error("empty vocabulary (tokenizer.ggml.tokens)");
  if (n > static_cast<size_t>(INT32_MAX)) return Status::error("vocabulary too large (tokenizer.ggml.tokens)");
  if (!spec.scores.empty() && spec.scores.size() != n)
    return Status::error("tokenizer.ggml.scores has " + std::to_string(spec.scores.size()) + " entries but there are " +
                         std::to_string(n) + " tokens");
  if (!spec.token_types.empty() && spec.token_types.size() != n)
    return Status::error("tokenizer.ggml.token_type has " + std::to_string(spec.token_types.size()) +
                         " entries but there are " + std::to_string(n) + " tokens");

  v.tokens_.resize(n);
  v.index_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    TokenData& t = v.tokens_[i];
    t.text = spec.tokens[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::move(spec.tokens[i]);
    t.score = spec.scores.empty() ? 0.0f : spec.scores[i];
    if (std::isnan(t.score)) t.score = -INFINITY;  // NaN would break the merge queue's ordering
    t.attr = spec.token_types.empty() ? kAttrNormal : attr_from_type(spec.token_types[i]);
    auto [it, inserted] = v.index_.emplace(t.text, static_cast<int32_t>(i));
    if (!inserted)
      return Status::error("duplicate token in vocabulary: '" + t.text + "' has ids " + std::to_string(it->second) +
                           " and " + std::to_string(i));
  }

  v.merges_.reserve(spec.merges.size());
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const std::string& m = spec.merges[i];
    // llama.cpp splits at the first space after the first byte; a merge without one never matches.
    const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sp == std::string::npos) continue;
    v.merges_.emplace(m, static_cast<int>(i));  // first rank wins for duplicates, as with emplace there
  }

  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = v.find(hex);
    if (id < 0) id = v.find(std::string(1, static_cast<char>(b)));
    v.byte_tokens_[b] = id;
  }

  KESTREL_RETURN_IF_ERROR(v.resolve_special_ids(spec));
  v.detect_special_by_text();
  v.finish_tables(spec);
  return v;
}

Status Vocab::resolve_special_ids(const TokenizerSpec& spec) {
  struct Slot {
    const std::optional<int64_t>& key;
    int32_t& id;
  };
  const Slot slots[] = {{spec.bos_id, bos_}, {spec.eos_id, eos_}, {spec.eot_id, eot_},
                        {spec.eom_id, eom_}, {spec.unk_id, unk_}, {spec.pad_id, pad_}};
  for (const Slot& s : slots) {
    if (!valid(s.id)) s.id = -1;                                           // default out of range: none
    if (s.key && *s.key >= 0 && *s.key < size()) s.id = static_cast<int32_t>(*s.key);  // else keep default
  }
  if (spec.add_bos) add_bos_ = *spec.add_bos;
  if (spec.add_eos) add_eos_ = *spec.add_eos;
  if (add_bos_ && bos_ < 0)
    return Status::error("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
  if (add_eos_ && eos_ < 0)
    return Status::error("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");
  return Status::ok();
}

void Vocab::detect_special_by_text() {
  auto mark_control = [&](int32_t id) { tokens_[id].attr |= kAttrControl; };
  if (eot_ < 0) {
    for (const char* text : kEotTexts)
      if (int32_t id = find(text); id >= 0) {
        eot_ = id;
        mark_control(id);
        break;
      }
  }
  if (eom_ < 0)
    if (int32_t id = find("<|eom_id|>"); id >= 0) eom_ = id, mark_control(id);
  for (const char* text : kFimTexts)
    if (int32_t id = find(text); id >= 0) mark_control(id);
  for (TokenData& t : tokens_)
    if ((t.attr & kAttrControl) && t.text.find("unused") != std::string::npos) t.attr |= kAttrUnused;

  // End of generation: the named texts plus whatever EOS/EOT/EOM the file names. (FIM pad/repo/sep
  // are end-of-generation too in llama.cpp; they are all among kFimTexts' last entries.)
  for (const char* text : {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>",
                           "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"})
    if (int32_t id = find(text); id >= 0) eog_.push_back(id);
  for (const char* text : kEogTexts)
    if (int32_t id = find(text); id >= 0) eog_.push_back(id), mark_control(id);
  // gpt-oss: these structural tokens are always printed (llama.cpp makes them user-defined).
  for (const char* text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})
    if (int32_t id = find(text); id >= 0) tokens_[id].attr = kAttrUserDefined;
  for (int32_t id : {eos_, eot_, eom_})
    if (id >= 0) eog_.push_back(id);
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());

  auto eog_with_text = [&](const char* text) -> int32_t {
    for (int32_t id : eog_)
      if (tokens_[id].text == text) return id;
    return -1;
  };
  // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation.
  const int32_t end_id = eog_with_text("<|end|>");
  const bool has_call = eog_with_text("<|call|>") >= 0 || eog_with_text("<|calls|>") >= 0;
  if (end_id >= 0 && has_call && (eog_with_text("<|return|>") >= 0 || eog_with_text("<|flush|>") >= 0)) {
    eog_.erase(std::find(eog_.begin(), eog_.end(), end_id));
    tokens_[end_id].attr = kAttrUserDefined;
  }
  // Gemma 4 / PaddleOCR: "</s>" is ordinary text there.
  const int32_t s_id = eog_with_text("</s>");
  if (s_id >= 0 && eog_with_text("<|tool_response>") >= 0) {
    eog_.erase(std::find(eog_.begin(), eog_.end(), s_id));
    tokens_[s_id].attr = kAttrNormal;
  }
}

void Vocab::finish_tables(const TokenizerSpec& spec) {
  for (int32_t id = 0; id < size(); ++id)
    if (tokens_[id].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_tokens_.push_back(id);
  // Longest first (ties by id, so the order never depends on the sort implementation).
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(),
                   [&](int32_t a, int32_t b) { return tokens_[a].text.size() > tokens_[b].text.size(); });

  // Per-model attributes llama.cpp sets by name. Phi-3 special tokens swallow the white space after them.
  const std::string name = lower_ascii(spec.general_name);
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : special_tokens_) tokens_[id].attr |= kAttrRstrip;
    if (int32_t id = find("</s>"); id >= 0) tokens_[id].attr |= kAttrRstrip;
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"})
      if (int32_t id = find(text); id >= 0) tokens_[id].attr &= ~kAttrRstrip;
  }
  if (spec.pre == "jina-v2-de" || spec.pre == "jina-v2-es" || spec.pre == "jina-v2-code")
    if (int32_t id = find("<mask>"); id >= 0) tokens_[id].attr |= kAttrLstrip;
  if (name.find("modern-bert") != std::string::npos)
    if (int32_t id = find("[MASK]"); id >= 0) tokens_[id].attr |= kAttrLstrip;
}

}  // namespace kestrel
