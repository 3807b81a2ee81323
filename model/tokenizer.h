#pragma once
// Tokenizers driven by GGUF metadata (tokenizer.ggml.*): SentencePiece-style ("llama": scores, byte
// fallback <0xNN>, leading-space handling) and byte-level BPE ("gpt2": merges, token types, the
// pre-tokenizer chosen by tokenizer.ggml.pre). Same ids as llama.cpp.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace kestrel {

struct TokenizerSpec;  // model/tokenizer_vocab.h: tokenizer.ggml.* as plain data

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* (works on vocab-only files: no tensors needed). Errors name the file and key:
  // missing tokens/merges, array lengths that disagree, an unsupported tokenizer.ggml.model or .pre.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GGUFFile& file);
  static Result<std::unique_ptr<Tokenizer>> from_spec(const TokenizerSpec& spec);  // same, from memory
  virtual ~Tokenizer() = default;

  // add_special: prepend BOS (and append EOS) when the vocab asks for it (tokenizer.ggml.add_bos_token...).
  // parse_special: recognise control/special token texts like "<|eot_id|>" in the text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
  // The bytes this token stands for when printed (may be part of a multi-byte UTF-8 character).
  // Control and unknown tokens print as nothing (like llama.cpp's token_to_piece with special=false);
  // user-defined tokens print their text. Out-of-range ids print as nothing.
  virtual std::string token_to_piece(int32_t id) const = 0;
  // special=true also renders control/unknown tokens as their text ("<|eot_id|>"), as llref does.
  virtual std::string token_to_piece(int32_t id, bool special) const = 0;
  // Concatenated token_to_piece(id) for every id: exactly what a TokenStreamer prints (when the bytes
  // are valid UTF-8). Unlike llama.cpp's llama_detokenize it does not drop the leading space that
  // SentencePiece's add_space_prefix put before the first word: see detokenize() for that.
  std::string decode(const std::vector<int32_t>& ids) const;
  // llama.cpp's llama_detokenize: with add_space_prefix the first token loses one leading space
  // (unless remove_special drops a leading BOS: then nothing is stripped), remove_special drops the
  // BOS/EOS the vocab adds, unparse_special renders control tokens, and vocabs with
  // clean_up_tokenization_spaces get " ." -> "." style clean-up.
  virtual std::string detokenize(const std::vector<int32_t>& ids, bool remove_special,
                                 bool unparse_special) const = 0;

  virtual const std::string& token_text(int32_t id) const = 0;  // raw vocab entry
  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos() const = 0;  // -1 when absent
  virtual int32_t eos() const = 0;
  virtual int32_t eot() const = 0;
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  virtual bool is_control(int32_t id) const = 0;  // control token (BOS, <|eot_id|>, ...)
  virtual bool is_eog(int32_t id) const = 0;  // end of generation: EOS, EOT, EOM...
  virtual std::string_view model_name() const = 0;  // "llama" or "gpt2"
};

// Turns a stream of token ids into printable text that never splits a UTF-8 character: bytes of an
// incomplete character are held back until the character is complete.
class TokenStreamer {
 public:
  explicit TokenStreamer(const Tokenizer& tok) : tok_(tok) {}
  std::string push(int32_t id);  // complete characters ready to print
  std::string flush();           // whatever is left (invalid bytes as U+FFFD)

 private:
  const Tokenizer& tok_;
  std::string pending_;
};

}  // namespace kestrel
