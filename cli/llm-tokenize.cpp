// llm-tokenize: print the token ids of a text (and optionally each token's piece), straight from the
// vocabulary in a GGUF file. Works on vocab-only files (no tensors are touched).
//
//   llm-tokenize -m MODEL -p TEXT [--no-bos] [--parse-special] [--pieces]
//   llm-tokenize -m MODEL -f FILE ...
//
// Output: "[id, id, ...]" on one line; with --pieces a second line "[piece, ...]" with each piece as a
// JSON string (control tokens shown as their text; bytes that are only part of a UTF-8 character are
// printed as they are, like llama.cpp's tools do).
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/common_args.h"
#include "cli/common_json.h"
#include "gguf/gguf_file.h"
#include "model/tokenizer.h"

int main(int argc, char** argv) {
  using namespace kestrel;
  const std::string prog = "llm-tokenize";
  std::string model, prompt, file;
  bool no_bos = false, parse_special = false, pieces = false;
  cli::ArgParser args(prog, "Tokenize text with a GGUF model's vocabulary and print the token ids.");
  args.add_string("-m,--model", &model, "GGUF file (a vocab-only file is enough)");
  args.add_string("-p,--prompt", &prompt, "text to tokenize");
  args.add_string("-f,--file", &file, "read the text to tokenize from this file (bytes as they are)");
  args.add_flag("--no-bos", &no_bos, "do not add the BOS/EOS tokens the vocabulary asks for");
  args.add_flag("--parse-special", &parse_special, "turn special-token texts such as <|eot_id|> into their tokens");
  args.add_flag("--pieces", &pieces, "also print each token's text as a JSON string");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(prog, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (model.empty()) return cli::fail(prog, "missing -m MODEL");
  const bool have_p = args.was_set("-p"), have_f = args.was_set("-f");
  if (have_p == have_f) return cli::fail(prog, "give exactly one of -p TEXT or -f FILE");
  if (have_f) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return cli::fail(prog, file + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return cli::fail(prog, file + ": read error");
    prompt = ss.str();
  }

  auto gguf = GGUFFile::open(model);
  if (!gguf) return cli::fail(prog, gguf.error());
  auto tok = Tokenizer::from_gguf(**gguf);
  if (!tok) return cli::fail(prog, tok.error());

  const std::vector<int32_t> ids = (*tok)->encode(prompt, !no_bos, parse_special);
  std::string line = "[";
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
  line += "]\n";
  if (pieces) {
    line += "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + cli::json::quote((*tok)->token_to_piece(ids[i], true));
    line += "]\n";
  }
  std::fwrite(line.data(), 1, line.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : cli::fail(prog, "cannot write to stdout");
}
