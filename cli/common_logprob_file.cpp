#include "cli/common_logprob_file.h"

#include <cerrno>
#include <cstring>

namespace kestrel::cli {
namespace {

constexpr char kMagic[8] = {'K', 'S', 'T', 'L', 'O', 'G', 'P', '1'};
constexpr uint64_t kHeaderBytes = 8 + 5 * 4;

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

std::string sys_error(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

}  // namespace

Result<std::unique_ptr<LogProbWriter>> LogProbWriter::create(const std::string& path, const LogProbHeader& h,
                                                             const std::vector<int32_t>& tokens) {
  if (tokens.size() != h.n_tokens) return Status::error(path + ": token count does not match the header");
  std::unique_ptr<LogProbWriter> w(new LogProbWriter());
  w->path_ = path;
  w->h_ = h;
  w->f_ = std::fopen(path.c_str(), "wb");
  if (!w->f_) return Status::error(sys_error(path, "cannot create"));
  uint8_t head[kHeaderBytes];
  std::memcpy(head, kMagic, 8);
  put_u32(head + 8, h.n_ctx);
  put_u32(head + 12, h.n_vocab);
  put_u32(head + 16, h.n_chunk);
  put_u32(head + 20, h.first);
  put_u32(head + 24, h.n_tokens);
  if (std::fwrite(head, 1, sizeof head, w->f_) != sizeof head ||
      std::fwrite(tokens.data(), sizeof(int32_t), tokens.size(), w->f_) != tokens.size())
    return Status::error(sys_error(path, "write failed"));
  return w;
}

LogProbWriter::~LogProbWriter() {
  if (f_) std::fclose(f_);
}

Status LogProbWriter::write_chunk(const std::vector<float>& logprobs) {
  const size_t n = static_cast<size_t>(h_.rows_per_chunk()) * h_.n_vocab;
  if (logprobs.size() != n) return Status::error(path_ + ": chunk has the wrong number of values");
  if (std::fwrite(logprobs.data(), sizeof(float), n, f_) != n) return Status::error(sys_error(path_, "write failed"));
  return Status::ok();
}

Status LogProbWriter::close() {
  if (!f_) return Status::ok();
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return Status::error(sys_error(path_, "write failed"));
  return Status::ok();
}

Result<std::unique_ptr<LogProbReader>> LogProbReader::open(const std::string& path) {
  std::unique_ptr<LogProbReader> r(new LogProbReader());
  r->path_ = path;
  r->f_ = std::fopen(path.c_str(), "rb");
  if (!r->f_) return Status::error(sys_error(path, "cannot open KL-divergence base file"));
  uint8_t head[kHeaderBytes];
  if (std::fread(head, 1, sizeof head, r->f_) != sizeof head || std::memcmp(head, kMagic, 8) != 0)
    return Status::error(path + ": not a KL-divergence base file (write one with --kl-divergence-base FILE)");
  LogProbHeader& h = r->h_;
  h.n_ctx = get_u32(head + 8);
  h.n_vocab = get_u32(head + 12);
  h.n_chunk = get_u32(head + 16);
  h.first = get_u32(head + 20);
  h.n_tokens = get_u32(head + 24);
  if (h.n_ctx < 4 || h.n_vocab == 0 || h.n_chunk == 0 || h.first >= h.n_ctx - 1 ||
      static_cast<uint64_t>(h.n_chunk) * h.n_ctx != h.n_tokens)
    return Status::error(path + ": corrupt KL-divergence base header");
  // The whole size must match before any allocation sized by the header.
  const uint64_t expect = kHeaderBytes + 4ull * h.n_tokens +
                          4ull * h.n_chunk * static_cast<uint64_t>(h.rows_per_chunk()) * h.n_vocab;
  if (std::fseek(r->f_, 0, SEEK_END) != 0) return Status::error(sys_error(path, "cannot seek"));
  const long size = std::ftell(r->f_);
  if (size < 0 || static_cast<uint64_t>(size) != expect)
    return Status::error(path + ": KL-divergence base file is " + std::to_string(size) + " bytes, its header says " +
                         std::to_string(expect) + " (truncated or corrupt)");
  if (std::fseek(r->f_, static_cast<long>(kHeaderBytes), SEEK_SET) != 0) return Status::error(sys_error(path, "cannot seek"));
  r->tokens_.resize(h.n_tokens);
  if (std::fread(r->tokens_.data(), sizeof(int32_t), h.n_tokens, r->f_) != h.n_tokens)
    return Status::error(path + ": truncated token list");
  for (int32_t t : r->tokens_)
    if (t < 0 || static_cast<uint32_t>(t) >= h.n_vocab) return Status::error(path + ": token id out of range in base file");
  return r;
}

LogProbReader::~LogProbReader() {
  if (f_) std::fclose(f_);
}

Status LogProbReader::read_chunk(std::vector<float>* logprobs) {
  const size_t n = static_cast<size_t>(h_.rows_per_chunk()) * h_.n_vocab;
  logprobs->resize(n);
  if (std::fread(logprobs->data(), sizeof(float), n, f_) != n) return Status::error(path_ + ": truncated log-prob rows");
  return Status::ok();
}

}  // namespace kestrel::cli
