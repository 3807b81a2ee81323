// The Tokenizer over a Vocab: special-token splitting, SPM or BPE encoding of the text between special
// tokens, pieces for printing, llama.cpp-compatible detokenization, and the UTF-8-safe streamer.
#include "model/tokenizer.h"

#include <cstdlib>

#include "model/tokenizer_bpe.h"
#include "model/tokenizer_special.h"
#include "model/tokenizer_spm.h"
#include "model/tokenizer_vocab.h"
#include "model/unicode.h"

namespace kestrel {
namespace {

const char kEscapedSpace[] = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string escape_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char c : s) {
    if (c == ' ') out += kEscapedSpace;
    else out += c;
  }
  return out;
}

std::string unescape_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, kEscapedSpace) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// GPT-2 byte-level text back to bytes. A character outside the alphabet cannot come from bytes;
// llama.cpp writes "[UNK_BYTE_0x<its utf-8 in hex><the whole token>]" for it, and so do we.
std::string byte_level_decode(const std::string& text) {
  std::string out;
  for (uint32_t cp : unicode::decode_utf8(text)) {
    const int b = unicode::codepoint_to_byte(cp);
    if (b >= 0) {
      out += static_cast<char>(b);
      continue;
    }
    std::string utf8;
    unicode::append_utf8(cp, utf8);
    out += "[UNK_BYTE_0x";
    static const char kHex[] = "0123456789abcdef";
    for (unsigned char c : utf8) out += kHex[c >> 4], out += kHex[c & 15];
    out += text + "]";
  }
  return out;
}

// The byte of a "<0xNN>" token (llama.cpp parses the two characters after "<0x" as hex).
std::string byte_token_piece(const std::string& text) {
  if (text.size() < 5) return {};
  const std::string hex = text.substr(3, 2);
  char* end = nullptr;
  const long v = std::strtol(hex.c_str(), &end, 16);
  return std::string(1, static_cast<char>(v & 0xFF));
}

// clean_up_tokenization_spaces as llama.cpp applies it after detokenizing: three in-place passes over
// the bytes (read index i, write index w <= i). The second pass blanks the space it swallows, which
// later comparisons in that pass then see.
std::string clean_up_spaces(std::string t) {
  if (t.empty()) return t;
  size_t n = t.size(), w = 1;
  for (size_t i = 1; i < n; ++i) {  // " ?", " !", " .", " ,": drop the space
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --w;
    t[w++] = x;
  }
  n = w, w = 1;
  for (size_t i = 1; i < n; ++i) {  // " ' ": drop both spaces
    const char x = t[i];
    if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --w;
      t[++i] = '\0';
    }
    t[w++] = x;
  }
  n = w, w = 1;
  for (size_t i = 1; i < n; ++i) {  // " 's", " 'm", " 're", " 've": drop the space
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --w;
      } else if (i + 2 < n && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e'))) {
        --w;
      }
    }
    t[w++] = x;
  }
  t.resize(w);
  return t;
}

class VocabTokenizer final : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab) : v_(std::move(vocab)) {}

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    const bool add_bos = add_special && v_.add_bos() && v_.bos() >= 0;
    if (add_bos) out.push_back(v_.bos());
    const std::vector<Fragment> frags = partition_special(v_, text, parse_special);
    bool after_special = true;  // SentencePiece puts a space before the first word and after specials
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      const std::string_view raw = text.substr(f.offset, f.length);
      if (v_.type() == VocabType::kSpm) {
        std::string s = (v_.add_space_prefix() && after_special) ? " " : "";
        s.append(raw);
        spm_encode(v_, escape_spaces(s), out);
      } else {
        bpe_encode(v_, raw, out);
      }
      after_special = false;
    }
    if (add_special && v_.add_eos() && v_.eos() >= 0) out.push_back(v_.eos());
    return out;
  }

  std::string token_to_piece(int32_t id) const override { return token_to_piece(id, false); }

  std::string token_to_piece(int32_t id, bool special) const override {
    if (!v_.valid(id)) return {};
    const TokenData& t = v_.token(id);
    if (t.attr & (kAttrControl | kAttrUnknown | kAttrUserDefined)) {
      if (!special && (t.attr & (kAttrControl | kAttrUnknown))) return {};
      return t.text;
    }
    if (t.attr & kAttrNormal) return v_.type() == VocabType::kSpm ? unescape_spaces(t.text) : byte_level_decode(t.text);
    if (t.attr & kAttrByte) return byte_token_piece(t.text);
    return {};  // unused / undefined tokens print nothing, as in llama.cpp
  }

  std::string detokenize(const std::vector<int32_t>& ids, bool remove_special, bool unparse_special) const override {
    size_t first = 0, last = ids.size();
    bool strip_space = v_.add_space_prefix();
    if (remove_special && v_.add_bos() && last > first && ids[first] == v_.bos()) ++first, strip_space = false;
    if (remove_special && v_.add_eos() && last > first && ids[last - 1] == v_.eos()) --last;
    std::string out;
    for (size_t i = first; i < last; ++i) {
      std::string piece = token_to_piece(ids[i], unparse_special);
      if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      strip_space = false;
      out += piece;
    }
    return v_.clean_spaces() ? clean_up_spaces(out) : out;
  }

  const std::string& token_text(int32_t id) const override {
    static const std::string kNone;
    return v_.valid(id) ? v_.token(id).text : kNone;
  }
  int32_t n_vocab() const override { return v_.size(); }
  int32_t bos() const override { return v_.bos(); }
  int32_t eos() const override { return v_.eos(); }
  int32_t eot() const override { return v_.eot(); }
  bool add_bos() const override { return v_.add_bos(); }
  bool add_eos() const override { return v_.add_eos(); }
  bool is_control(int32_t id) const override { return v_.valid(id) && (v_.token(id).attr & kAttrControl); }
  bool is_eog(int32_t id) const override { return v_.is_eog(id); }
  std::string_view model_name() const override { return v_.model_name(); }

 private:
  Vocab v_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_spec(const TokenizerSpec& spec) {
  auto vocab = Vocab::build(spec);
  if (!vocab) return vocab.status();
  return std::unique_ptr<Tokenizer>(new VocabTokenizer(std::move(vocab).value()));
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GGUFFile& file) {
  auto spec = read_tokenizer_spec(file);
  if (!spec) return spec.status();
  auto tok = from_spec(*spec);
  if (!tok) return Status::error(file.path() + ": " + tok.error());
  return tok;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += token_to_piece(id);
  return out;
}

std::string TokenStreamer::push(int32_t id) {
  pending_ += tok_.token_to_piece(id);
  std::string out;
  unicode::drain_utf8(pending_, false, out);
  return out;
}

std::string TokenStreamer::flush() {
  std::string out;
  unicode::drain_utf8(pending_, true, out);
  return out;
}

}  // namespace kestrel
