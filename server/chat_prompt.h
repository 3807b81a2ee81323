#pragma once
// ChatML (<|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n): llama-server's format
// for models that carry no chat template.
#include <string>

#include "server/json_util.h"

namespace kestrel::server {

// messages: normalized (every content a string). add_generation_prompt opens the assistant turn.
std::string chatml_prompt(const json& messages, bool add_generation_prompt);

}  // namespace kestrel::server
