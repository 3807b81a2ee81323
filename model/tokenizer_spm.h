#pragma once
// SentencePiece-style encoding (llama.cpp's llm_tokenizer_spm): start from single UTF-8 characters and
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token (leftmost on
// ties); characters that never become tokens fall back to <0xNN> byte tokens.
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/tokenizer_vocab.h"

namespace kestrel {

// `text` must already have spaces escaped to U+2581 (and the leading space added when wanted).
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace kestrel
