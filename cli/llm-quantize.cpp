// llm-quantize IN.gguf OUT.gguf TYPE [--pure] [-t N]: converts a model's weights to f32, f16, bf16,
// q8_0 or q4_0. Each tensor that changes type is dequantized to F32 with the source type's to_float and
// re-encoded with the target's reference from_float (ggml's rounding), so quantizing an F32 model gives
// the same bytes as llama.cpp's quantizer. Which tensor gets which type follows llama.cpp's rules
// (cli/common_quant_plan.h). Metadata is copied; general.file_type and general.quantization_version are
// set as llama.cpp sets them.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "cli/common_format.h"
#include "cli/common_quant_plan.h"
#include "gguf/gguf_writer.h"
#include "gguf/value_format.h"
#include "gguf/weight_store.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"

namespace {

using kestrel::Status;
using kestrel::TensorType;
namespace cli = kestrel::cli;

constexpr const char* kProgram = "llm-quantize";

std::string type_str(TensorType t) { return std::string(kestrel::type_name(t)); }

// Converts one tensor (a whole number of rows of row_len elements) from its type to `to`.
Status convert_tensor(const kestrel::TensorView& t, TensorType to, kestrel::kernels::ThreadPool& pool,
                      std::vector<uint8_t>* out) {
  const auto* src = kestrel::kernels::type_traits(t.type);
  const auto* dst = kestrel::kernels::type_traits(to);
  if (!src) return Status::error("tensor " + t.name + ": unsupported input type " + type_str(t.type) + " (Kestrel can convert from " + kestrel::kernels::computable_type_names() + ")");
  if (!dst) return Status::error("tensor " + t.name + ": cannot write type " + type_str(to));
  const int64_t row_len = t.ne.empty() ? 0 : t.ne[0];
  const int64_t n_rows = t.n_rows();
  const uint64_t src_row_bytes = t.row_bytes();
  auto dst_row_bytes = kestrel::bytes_for(to, static_cast<uint64_t>(row_len));
  if (!dst_row_bytes) return Status::error("tensor " + t.name + ": row length " + std::to_string(row_len) + " does not fit type " + type_str(to));
  out->assign(*dst_row_bytes * static_cast<uint64_t>(n_rows), 0);
  const auto* in = static_cast<const uint8_t*>(t.data);
  uint8_t* o = out->data();
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(row_len));
    for (int64_t r = begin; r < end; ++r) {
      src->to_float(in + static_cast<uint64_t>(r) * src_row_bytes, row.data(), row_len);
      dst->from_float(row.data(), o + static_cast<uint64_t>(r) * *dst_row_bytes, row_len);
    }
  });
  return Status::ok();
}

// One line per tensor when stderr is a file; a redrawn bar on a terminal.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}
  void step(size_t i, const std::string& line) {
    if (!tty_) {
      std::fprintf(stderr, "[%4zu/%4zu] %s\n", i, total_, line.c_str());
      return;
    }
    const int width = 30;
    const int filled = static_cast<int>(width * i / (total_ ? total_ : 1));
    std::fprintf(stderr, "\r[%s%s] %4zu/%zu %-60.60s", std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), i, total_, line.c_str());
    if (i == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  size_t total_;
  bool tty_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  bool pure = false;
  int n_threads = 0;
  cli::ArgParser args(kProgram, "Converts a GGUF model's weights to TYPE: f32, f16, bf16, q8_0 or q4_0 (llama.cpp's rules and rounding).");
  args.set_positional(&pos, "IN.gguf OUT.gguf TYPE");
  args.add_flag("--pure", &pure, "every 2-D weight gets TYPE (no llama.cpp mixture rules for output/attn_v)");
  args.add_int("-t,--threads", &n_threads, "threads (default: all cores)");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProgram, st.message());
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  if (pos.size() != 3) return cli::fail(kProgram, "expected IN.gguf OUT.gguf TYPE (see --help)");
  const std::string &in_path = pos[0], &out_path = pos[1];
  auto target = cli::find_quant_target(pos[2]);
  if (!target) return cli::fail(kProgram, "unknown type '" + pos[2] + "': expected f32, f16, bf16, q8_0 or q4_0");
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec))
    return cli::fail(kProgram, "output " + out_path + " is the input file; choose another name");

  auto store = kestrel::WeightStore::open(in_path, kestrel::LoadMode::Mmap);
  if (!store) return cli::fail(kProgram, store.error());
  const kestrel::GGUFFile& file = (*store)->file();

  cli::ModelFacts facts;
  facts.has_output = (*store)->find("output.weight") != nullptr;
  if (auto arch = file.get_string_or("general.architecture", ""); arch && !arch->empty())
    if (auto ne = file.get_int_or(*arch + ".expert_count", 0); ne) facts.n_expert = static_cast<int>(*ne);

  kestrel::GGUFWriter writer;
  for (const auto& kv : file.metadata()) {
    // A split input becomes one output file.
    if (kv.key.rfind("split.", 0) == 0) continue;
    writer.set(kv.key, kv.value);
  }
  writer.set_u32("general.quantization_version", 2);
  writer.set_u32("general.file_type", target->ftype);

  kestrel::kernels::ThreadPool pool(n_threads);
  const auto& tensors = (*store)->tensors();
  Progress progress(tensors.size());
  uint64_t in_bytes = 0, out_bytes = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> notes;  // note -> tensors, in first-seen order
  bool requantized = false;
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const kestrel::TensorView& t = tensors[i];
    cli::TensorChoice c = cli::choose_tensor_type(t.name, t.ne, t.type, target->type, pure, facts);
    std::string line = t.name + " " + kestrel::format_shape(t.ne) + " " + type_str(t.type);
    Status st;
    if (c.keep_as_is) {
      st = writer.add_tensor(t.name, t.type, t.ne, t.data, t.bytes);
      line += " (copied)";
      out_bytes += t.bytes;
    } else {
      if (t.type != TensorType::F32 && t.type != TensorType::F16 && t.type != TensorType::BF16) requantized = true;
      st = convert_tensor(t, c.type, pool, &buf);
      if (st) st = writer.add_tensor(t.name, c.type, t.ne, buf.data(), buf.size());
      line += " -> " + type_str(c.type);
      out_bytes += buf.size();
    }
    if (!st) {
      std::fprintf(stderr, "\n");
      return cli::fail(kProgram, st.message());
    }
    if (!c.note.empty()) {
      auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& n) { return n.first == c.note; });
      if (it == notes.end()) notes.push_back({c.note, {t.name}});
      else it->second.push_back(t.name);
    }
    in_bytes += t.bytes;
    progress.step(i + 1, line);
  }
  if (Status st = writer.write(out_path); !st) return cli::fail(kProgram, st.message());

  if (requantized)
    std::fprintf(stderr, "%s: note: the input was already quantized; re-quantizing loses more accuracy than quantizing from f32/f16\n", kProgram);
  for (const auto& [note, names] : notes) {
    std::string who = names.front();
    if (names.size() > 1) who += " and " + std::to_string(names.size() - 1) + " more";
    std::fprintf(stderr, "%s: note: %s: %s\n", kProgram, who.c_str(), note.c_str());
  }
  std::fprintf(stderr, "%s: %s (%s) -> %s (%s, %s)\n", kProgram, in_path.c_str(), cli::format_bytes(in_bytes).c_str(),
               out_path.c_str(), std::string(target->name).c_str(), cli::format_bytes(out_bytes).c_str());
  return 0;
}
