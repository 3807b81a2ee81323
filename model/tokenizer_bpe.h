#pragma once
// Byte-level BPE encoding (llama.cpp's llm_tokenizer_bpe): pre-tokenize into words, map each word's
// UTF-8 bytes to GPT-2's printable alphabet, then merge adjacent symbols by merge rank (lowest first,
// leftmost on ties) inside each word.
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/tokenizer_vocab.h"

namespace kestrel {

void bpe_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace kestrel
