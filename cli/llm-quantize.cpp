// llm-quantize IN.gguf OUT.gguf TYPE [--pure] [--output-tensor-type T] [--token-embedding-type T]
// [--leave-output-tensor] [-t N]: converts a model to one of llama.cpp's file types (Q4_K_M, Q5_0, F16,
// ...). Each tensor that changes type is dequantized to F32 with the source type's to_float and
// re-encoded with the target's reference from_float (ggml's rounding), so quantizing an F32/F16 model
// gives the same bytes as llama.cpp's quantizer. Which tensor gets which type follows llama.cpp's
// mixture rules (cli/common_quant_plan.h); tensors are written in llama.cpp's order. Metadata is
// copied; general.file_type and general.quantization_version are set as llama.cpp sets them.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
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
  if (!src || !kestrel::kernels::is_computable(t.type))
    return Status::error("tensor " + t.name + ": unsupported input type " + type_str(t.type) + " (Kestrel can convert from " +
                         kestrel::kernels::computable_type_names() + ")");
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
  cli::QuantOptions opt;
  std::string output_type, token_embd_type;
  int n_threads = 0;
  std::string targets;
  for (const auto& t : cli::quant_targets()) targets += (targets.empty() ? "" : ", ") + std::string(t.name);
  cli::ArgParser args(kProgram, "Converts a GGUF model to a llama.cpp file type, with llama.cpp's per-tensor mixture rules and rounding. TYPE: " + targets + ".");
  args.set_positional(&pos, "IN.gguf OUT.gguf TYPE");
  args.add_flag("--pure", &opt.pure, "every quantizable tensor gets TYPE's default type (no mixture rules)");
  args.add_string("--output-tensor-type", &output_type, "type of output.weight (e.g. q8_0, f16)");
  args.add_string("--token-embedding-type", &token_embd_type, "type of token_embd.weight");
  args.add_flag("--leave-output-tensor", &opt.leave_output, "copy output.weight unchanged");
  args.add_int("-t,--threads", &n_threads, "threads (default: all cores)");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProgram, st.message());
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  if (pos.size() != 3) return cli::fail(kProgram, "expected IN.gguf OUT.gguf TYPE (see --help)");
  const std::string &in_path = pos[0], &out_path = pos[1];
  auto target = cli::find_quant_target(pos[2]);
  if (!target) return cli::fail(kProgram, "unknown type '" + pos[2] + "': expected one of " + targets);
  for (auto [flag, text, out] : {std::tuple{"--output-tensor-type", &output_type, &opt.output_type},
                                 std::tuple{"--token-embedding-type", &token_embd_type, &opt.token_embd_type}}) {
    if (text->empty()) continue;
    auto t = kestrel::type_from_name(*text);
    if (!t) return cli::fail(kProgram, std::string(flag) + ": unknown tensor type '" + *text + "'");
    *out = *t;
  }
  std::error_code ec;
  if (std::filesystem::equivalent(in_path, out_path, ec))
    return cli::fail(kProgram, "output " + out_path + " is the input file; choose another name");

  auto store = kestrel::WeightStore::open(in_path, kestrel::LoadMode::Mmap);
  if (!store) return cli::fail(kProgram, store.error());
  const kestrel::GGUFFile& file = (*store)->file();
  const auto& tensors = (*store)->tensors();
  std::vector<std::string> names;
  for (const auto& t : tensors) names.push_back(t.name);

  // Plan every tensor first, so a file type needing a type Kestrel cannot write fails before writing.
  const std::vector<size_t> order = cli::plan_order(names);
  cli::QuantPlanner planner(*target, cli::model_facts(file, names), opt);
  std::vector<cli::TensorChoice> choices(tensors.size());
  for (size_t i : order) {
    const kestrel::TensorView& t = tensors[i];
    choices[i] = planner.choose(t.name, t.ne, t.type);
    if (!choices[i].error.empty()) return cli::fail(kProgram, choices[i].error);
    const auto* tr = kestrel::kernels::type_traits(choices[i].type);
    if (!choices[i].keep_as_is && (tr == nullptr || tr->from_float == nullptr || tr->activation_only))
      return cli::fail(kProgram, std::string(target->name) + " needs type " + type_str(choices[i].type) + " (first for " + t.name +
                                     "), which Kestrel cannot write yet");
  }

  kestrel::GGUFWriter writer;
  for (const auto& kv : file.metadata()) {
    // A split input becomes one output file.
    if (kv.key.rfind("split.", 0) == 0) continue;
    // llama.cpp removes and re-appends these two (gguf_set_val), so they go last, as in its files.
    if (kv.key == "general.quantization_version" || kv.key == "general.file_type") continue;
    writer.set(kv.key, kv.value);
  }
  writer.set_u32("general.quantization_version", 2);
  writer.set_u32("general.file_type", target->ftype_id());

  kestrel::kernels::ThreadPool pool(n_threads);
  Progress progress(tensors.size());
  uint64_t in_bytes = 0, out_bytes = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> notes;  // note -> tensors, in first-seen order
  bool requantized = false;
  std::vector<uint8_t> buf;
  size_t done = 0;
  for (size_t i : order) {
    const kestrel::TensorView& t = tensors[i];
    const cli::TensorChoice& c = choices[i];
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
    progress.step(++done, line);
  }
  if (Status st = writer.write(out_path); !st) return cli::fail(kProgram, st.message());

  if (requantized)
    std::fprintf(stderr, "%s: note: the input was already quantized; re-quantizing loses more accuracy than quantizing from f32/f16\n", kProgram);
  for (const auto& [note, who_list] : notes) {
    std::string who = who_list.front();
    if (who_list.size() > 1) who += " and " + std::to_string(who_list.size() - 1) + " more";
    std::fprintf(stderr, "%s: note: %s: %s\n", kProgram, who.c_str(), note.c_str());
  }
  std::fprintf(stderr, "%s: %s (%s) -> %s (%s, %s)\n", kProgram, in_path.c_str(), cli::format_bytes(in_bytes).c_str(),
               out_path.c_str(), std::string(target->name).c_str(), cli::format_bytes(out_bytes).c_str());
  return 0;
}
