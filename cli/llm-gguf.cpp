// llm-gguf FILE [--all]: prints a GGUF file's header, metadata and tensor table (like gguf-dump),
// then the parameter count and bytes per tensor type.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "cli/common_mixture.h"
#include "gguf/gguf_file.h"
#include "gguf/value_format.h"

namespace {

constexpr size_t kAbbreviateItems = 8;  // arrays longer than this print as [ a, ..., ] (N items)

std::string dims_of(const kestrel::TensorInfo& t) {
  std::string s;
  for (size_t i = 0; i < t.ne.size(); ++i) s += (i ? " x " : "") + std::to_string(t.ne[i]);
  return s.empty() ? "scalar" : s;
}

struct TypeTotal {
  uint64_t tensors = 0, elements = 0, bytes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace kestrel;
  const std::string prog = "llm-gguf";
  cli::ArgParser args(prog, "Print a GGUF file's metadata and tensor table.");
  bool all = false;
  std::vector<std::string> files;
  args.add_flag("--all", &all, "print arrays in full instead of abbreviating them");
  args.set_positional(&files, "FILE");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(prog, st.message());
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  if (files.size() != 1) return cli::fail(prog, "expected exactly one FILE (see --help)");

  Result<std::unique_ptr<GGUFFile>> opened = GGUFFile::open(files[0]);
  if (!opened) return cli::fail(prog, opened.error());
  const GGUFFile& f = **opened;

  std::printf("file: %s\n", f.path().c_str());
  std::printf("version: %u\nalignment: %" PRIu64 "\nn_kv: %zu\nn_tensors: %zu\ndata offset: %" PRIu64
              "\nfile size: %" PRIu64 "\n",
              f.version(), f.alignment(), f.metadata().size(), f.tensors().size(), f.data_offset(), f.file_size());

  std::printf("\nmetadata:\n");
  size_t width = 0;
  for (const KeyValue& kv : f.metadata()) width = std::max(width, kv.key.size());
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    const KeyValue& kv = f.metadata()[i];
    std::printf("%5zu: %-*s %-16s = %s\n", i + 1, static_cast<int>(width), kv.key.c_str(),
                format_type(kv.value).c_str(), format_value(kv.value, all ? 0 : kAbbreviateItems).c_str());
  }

  std::printf("\ntensors:\n%5s  %-40s %-8s %-28s %12s %12s\n", "index", "name", "type", "dims", "bytes", "offset");
  std::map<std::string, TypeTotal> per_type;
  uint64_t params = 0, total_bytes = 0;
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    std::string type(type_name(t.type));
    std::printf("%5zu  %-40s %-8s %-28s %12" PRIu64 " %12" PRIu64 "\n", i, t.name.c_str(), type.c_str(),
                dims_of(t).c_str(), t.bytes, t.offset);
    TypeTotal& tt = per_type[type];
    tt.tensors++;
    tt.elements += t.n_elements();
    tt.bytes += t.bytes;
    params += t.n_elements();
    total_bytes += t.bytes;
  }

  std::printf("\ntotal parameters: %" PRIu64 "\ntotal tensor bytes: %" PRIu64 "\n", params, total_bytes);
  std::vector<kestrel::cli::TensorStat> stats;
  for (const TensorInfo& t : f.tensors()) stats.push_back({t.type, t.n_elements(), t.bytes});
  std::printf("mixture: %s\n", kestrel::cli::mixture_of(f, stats).summary().c_str());
  std::printf("bytes per type:\n");
  for (const auto& [type, tt] : per_type)
    std::printf("  %-8s %6" PRIu64 " tensors %14" PRIu64 " elements %14" PRIu64 " bytes\n", type.c_str(), tt.tensors,
                tt.elements, tt.bytes);
  return 0;
}
