#pragma once
// The file llm-perplexity --kl-divergence-base writes and --kl-divergence reads: the token sequence of a
// perplexity run and, for every scored position, the base model's full log-probability row.
//
//   bytes  0..7   magic "KSTLOGP1"
//          8..27  u32 n_ctx, n_vocab, n_chunk, first (scored positions start at first), n_tokens
//          then   n_tokens int32 token ids (n_tokens = n_chunk * n_ctx, the text's tokens as used)
//          then   n_chunk * (n_ctx - 1 - first) rows of n_vocab float32 log-probabilities
// All little-endian. The reader checks the header against the file size before trusting it.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gguf/status.h"

namespace kestrel::cli {

struct LogProbHeader {
  uint32_t n_ctx = 0;
  uint32_t n_vocab = 0;
  uint32_t n_chunk = 0;
  uint32_t first = 0;
  uint32_t n_tokens = 0;
  uint32_t rows_per_chunk() const { return n_ctx - 1 - first; }
};

class LogProbWriter {
 public:
  static Result<std::unique_ptr<LogProbWriter>> create(const std::string& path, const LogProbHeader& h,
                                                       const std::vector<int32_t>& tokens);
  ~LogProbWriter();
  // Rows of one chunk: rows_per_chunk() * n_vocab floats.
  Status write_chunk(const std::vector<float>& logprobs);
  Status close();  // flushes; errors (disk full) surface here

 private:
  LogProbWriter() = default;
  std::string path_;
  std::FILE* f_ = nullptr;
  LogProbHeader h_;
};

class LogProbReader {
 public:
  static Result<std::unique_ptr<LogProbReader>> open(const std::string& path);
  ~LogProbReader();
  const LogProbHeader& header() const { return h_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Reads the next chunk's rows (rows_per_chunk() * n_vocab floats).
  Status read_chunk(std::vector<float>* logprobs);

 private:
  LogProbReader() = default;
  std::string path_;
  std::FILE* f_ = nullptr;
  LogProbHeader h_;
  std::vector<int32_t> tokens_;
};

}  // namespace kestrel::cli
