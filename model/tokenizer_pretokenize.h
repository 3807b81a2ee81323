#pragma once
// BPE pre-tokenizers: split text into the words that BPE merges run inside, one splitter per
// `tokenizer.ggml.pre` family, reproducing llama.cpp's regex lists (and its quirks) with hand-written
// matchers over code points. Each family is a pipeline of stages; a stage splits every piece the
// previous stage produced, the way llama.cpp's unicode_regex_split applies its regex list: a regex
// stage keeps the text between matches as pieces of its own, and look-aheads stop at the piece's end.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/status.h"

namespace kestrel {

enum class PreTokenizer {
  kDefault,        // no tokenizer.ggml.pre (or "default"): llama.cpp's fallback regex list
  kLlama3,         // llama-bpe, llama3, dbrx, smaug-bpe, chatglm-bpe, ...: \p{N}{1,3} family
  kGpt2,           // gpt-2, mpt, olmo, jais, phi-2, ...
  kQwen2,          // qwen2, stablelm2, deepseek-r1-qwen, ...: like llama3 with single digits
  kStarcoder,      // starcoder, refact, command-r, smollm, ...: single digits, then gpt-2
  kFalcon,         // punctuation runs, gpt-2, then 3-digit groups
  kDeepseekLlm,    // deepseek-llm: newline, letter, punctuation, CJK and digit runs
  kDeepseekCoder,  // deepseek-coder
};

// Settings llama.cpp ties to the pre-tokenizer name.
struct PreTokenizerInfo {
  PreTokenizer kind = PreTokenizer::kDefault;
  bool ignore_merges = false;  // a word that is itself a token is not merged (Llama 3)
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
  bool clean_spaces = true;    // detokenize applies clean_up_tokenization_spaces
};

// `name` is tokenizer.ggml.pre ("" when absent). Unknown names are an error naming them.
Result<PreTokenizerInfo> pretokenizer_from_name(const std::string& name);

// Half-open range of code point indices.
struct Span {
  size_t begin, end;
};

// Splits `cps` into consecutive non-empty spans covering it entirely.
std::vector<Span> pretokenize(PreTokenizer kind, const std::vector<uint32_t>& cps);

}  // namespace kestrel
