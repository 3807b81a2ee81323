#pragma once
// The vocabulary behind a Tokenizer: tokenizer.ggml.* metadata as read from a file (TokenizerSpec),
// resolved the way llama.cpp's vocab loader does it (Vocab): token attributes, special ids and their
// defaults, add-BOS/EOS flags, end-of-generation set, the special-token list used to split text.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/status.h"
#include "model/tokenizer_pretokenize.h"

namespace kestrel {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t { kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4,
                                 kUnused = 5, kByte = 6 };

// Token attribute bits (llama.cpp's llama_token_attr): derived from the token type, then adjusted.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,  // swallow white space before the token when it is split out of text
  kAttrRstrip = 1u << 8,  // ... and after it
};

// tokenizer.ggml.* exactly as stored; optional fields are absent keys.
struct TokenizerSpec {
  std::string model;         // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;           // tokenizer.ggml.pre, "" when absent
  std::string general_name;  // general.name (llama.cpp keys Phi-3 token attributes on it)
  std::vector<std::string> tokens;
  std::vector<float> scores;        // empty when absent
  std::vector<int32_t> token_types; // empty when absent (all tokens normal)
  std::vector<std::string> merges;  // "left right", rank = index
  bool has_merges = false;
  std::optional<int64_t> bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

// Reads the spec from a GGUF file. Missing required keys, wrong types and arrays whose lengths
// disagree are errors naming the file and key.
Result<TokenizerSpec> read_tokenizer_spec(const GGUFFile& file);

enum class VocabType { kSpm, kBpe };

struct TokenData {
  std::string text;
  float score = 0.0f;
  uint32_t attr = kAttrNormal;
};

class Vocab {
 public:
  static Result<Vocab> build(TokenizerSpec spec);

  VocabType type() const { return type_; }
  const std::string& model_name() const { return model_; }
  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  const TokenData& token(int32_t id) const { return tokens_[id]; }
  int32_t find(std::string_view text) const;  // -1 when the text is not a token
  // SentencePiece byte fallback: the <0xNN> token, else the one-byte token, else -1.
  int32_t byte_token(uint8_t b) const { return byte_tokens_[b]; }
  int merge_rank(std::string_view left, std::string_view right) const;  // -1 when not a merge

  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t eom() const { return eom_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool clean_spaces() const { return clean_spaces_; }
  const PreTokenizerInfo& pre() const { return pre_; }
  bool is_eog(int32_t id) const;
  // Control, user-defined and unknown tokens, longest text first: what text is split on first.
  const std::vector<int32_t>& special_tokens() const { return special_tokens_; }

 private:
  Status resolve_special_ids(const TokenizerSpec& spec);
  void detect_special_by_text();
  void finish_tables(const TokenizerSpec& spec);

  VocabType type_ = VocabType::kSpm;
  std::string model_;
  std::vector<TokenData> tokens_;
  struct StringHash {  // lets the maps be searched with a string_view
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> index_;  // text -> id
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> merges_;     // "left right" -> rank
  int32_t byte_tokens_[256];
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, eom_ = -1, unk_ = -1, pad_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, clean_spaces_ = false;
  PreTokenizerInfo pre_;
  std::vector<int32_t> eog_;  // sorted
  std::vector<int32_t> special_tokens_;
};

}  // namespace kestrel
