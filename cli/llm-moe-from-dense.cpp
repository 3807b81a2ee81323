// llm-moe-from-dense IN.gguf OUT.gguf --experts 4 --experts-used 2
// Builds a Mixtral-shaped GGUF from a dense Llama file: every expert is a copy of the dense FFN and the
// router is uniform, so the result must generate exactly what the dense model generates (in Kestrel
// and in llama.cpp). A test fixture for the MoE path with real weights.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/common_args.h"
#include "model/moe_convert.h"

int main(int argc, char** argv) {
  const std::string prog = "llm-moe-from-dense";
  kestrel::MoeFromDenseParams params;
  std::vector<std::string> files;
  kestrel::cli::ArgParser args(prog, "Make a Mixtral-shaped GGUF whose experts copy a dense llama FFN.");
  args.add_int("--experts", &params.n_expert, "number of experts (default 4)");
  args.add_int("--experts-used", &params.n_expert_used, "experts used per token (default 2)");
  args.set_positional(&files, "IN.gguf OUT.gguf");
  if (auto st = args.parse(argc, argv); !st) return kestrel::cli::fail(prog, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (files.size() != 2) return kestrel::cli::fail(prog, "expected IN.gguf OUT.gguf\n" + args.usage());
  if (auto st = kestrel::moe_from_dense(files[0], files[1], params); !st)
    return kestrel::cli::fail(prog, st.message());
  std::printf("wrote %s: %d experts, %d used per token\n", files[1].c_str(), params.n_expert,
              params.n_expert_used);
  return 0;
}
