#include "server/chat_prompt.h"

namespace kestrel::server {

std::string chatml_prompt(const json& messages, bool add_generation_prompt) {
  std::string out;
  for (const json& m : messages)
    out += "<|im_start|>" + m["role"].get<std::string>() + "\n" + m["content"].get<std::string>() + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace kestrel::server
