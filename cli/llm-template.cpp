// llm-template: render a chat template for an OpenAI-style request, exactly as Hugging Face would.
//   llm-template (-m MODEL.gguf | --template FILE.jinja) -i REQUEST.json [--bos TEXT] [--eos TEXT]
// REQUEST.json: {"messages": [...], "tools": [...]?, "add_generation_prompt": true?, other keys...}; the
// other keys become template variables. Prints the rendered prompt and nothing else. Errors: one line on
// stderr, exit 1.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/common_args.h"
#include "gguf/gguf_file.h"
#include "model/chat.h"
#include "model/tokenizer.h"

namespace {
constexpr const char* kProg = "llm-template";
}

int main(int argc, char** argv) {
  using namespace kestrel;
  std::string model_path, template_path, request_path, bos, eos;
  cli::ArgParser args(kProg, "Render a chat template for an OpenAI-style request (messages, tools, ...).");
  args.add_string("-m,--model", &model_path, "model file (GGUF): its tokenizer.chat_template and bos/eos tokens");
  args.add_string("--template,--chat-template-file", &template_path, "template file (.jinja), instead of or over the model's");
  args.add_string("-i,--input", &request_path, "request JSON file ('-': stdin)");
  args.add_string("--bos", &bos, "bos_token text (default: the model's, or empty with --template alone)");
  args.add_string("--eos", &eos, "eos_token text (default: the model's, or empty with --template alone)");
  if (Status st = args.parse(argc, argv); !st) return cli::fail(kProg, st.message());
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  if (model_path.empty() && template_path.empty()) return cli::fail(kProg, "give a model (-m FILE) or a template (--template FILE)");
  if (request_path.empty()) return cli::fail(kProg, "no request given (-i REQUEST.json)");

  std::stringstream ss;
  if (request_path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream f(request_path, std::ios::binary);
    if (!f) return cli::fail(kProg, request_path + ": cannot open");
    ss << f.rdbuf();
  }
  nlohmann::ordered_json req = nlohmann::ordered_json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded()) return cli::fail(kProg, request_path + ": not valid JSON");
  if (!req.is_object()) return cli::fail(kProg, request_path + ": the request must be a JSON object");
  if (!req.contains("messages") || !req["messages"].is_array())
    return cli::fail(kProg, request_path + ": the request needs a \"messages\" array");
  bool add_gen = true;
  if (req.contains("add_generation_prompt")) {
    if (!req["add_generation_prompt"].is_boolean()) return cli::fail(kProg, "add_generation_prompt must be true or false");
    add_gen = req["add_generation_prompt"].get<bool>();
  }
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  for (auto it = req.begin(); it != req.end(); ++it)
    if (it.key() != "messages" && it.key() != "add_generation_prompt") extra[it.key()] = it.value();

  Result<ChatTemplate> tmpl = Status::error("no template");
  if (!model_path.empty()) {
    auto gguf = GGUFFile::open(model_path);
    if (!gguf) return cli::fail(kProg, gguf.error());
    auto tok = Tokenizer::from_gguf(**gguf);
    if (!tok) return cli::fail(kProg, tok.error());
    tmpl = ChatTemplate::from_gguf(**gguf, **tok, template_path);
    if (tmpl && (args.was_set("--bos") || args.was_set("--eos"))) {
      auto t2 = ChatTemplate::from_source(tmpl->source(), args.was_set("--bos") ? bos : tmpl->bos_token(),
                                          args.was_set("--eos") ? eos : tmpl->eos_token(), tmpl->stop_tokens());
      tmpl = std::move(t2);
    }
  } else {
    std::ifstream f(template_path, std::ios::binary);
    if (!f) return cli::fail(kProg, template_path + ": cannot open");
    std::stringstream ts;
    ts << f.rdbuf();
    tmpl = ChatTemplate::from_source(ts.str(), bos, eos);
  }
  if (!tmpl) return cli::fail(kProg, tmpl.error());
  auto out = tmpl->apply(req["messages"], add_gen, extra);
  if (!out) return cli::fail(kProg, out.error());
  std::fwrite(out->data(), 1, out->size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
