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

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GGUFFile& file);
  virtual ~Tokenizer() = default;

  // add_special: prepend BOS (and append EOS) when the vocab asks for it (tokenizer.ggml.add_bos_token...).
  // parse_special: recognise control/special token texts like "<|eot_id|>" in the text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
  // The bytes this token stands for when printed (may be part of a multi-byte UTF-8 character).
  virtual std::string token_to_piece(int32_t id) const = 0;
  std::string decode(const std::vector<int32_t>& ids) const;  // concatenated pieces

  virtual const std::string& token_text(int32_t id) const = 0;  // raw vocab entry
  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos() const = 0;  // -1 when absent
  virtual int32_t eos() const = 0;
  virtual int32_t eot() const = 0;
  virtual bool add_bos() const = 0;
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
