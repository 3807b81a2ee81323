#pragma once
// Splitting text on special-token texts before tokenization (llama.cpp's tokenizer_st_partition).
// For each special token, longest text first, every occurrence inside the still-unsplit text becomes
// that token. User-defined tokens are always split out; control and unknown tokens only when
// parse_special is set (otherwise "<|eot_id|>" is tokenized as ordinary characters).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/tokenizer_vocab.h"

namespace kestrel {

struct Fragment {
  int32_t token = -1;  // >= 0: a special token; -1: text[offset, offset + length) to tokenize
  size_t offset = 0, length = 0;
};

std::vector<Fragment> partition_special(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace kestrel
