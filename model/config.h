#pragma once
// Hyperparameters of a model from its GGUF metadata ("<arch>.*" keys), validated so the forward pass can
// trust them: every error names the key and what was wrong.
#include "gguf/gguf_file.h"
#include "gguf/status.h"
#include "model/arch.h"
#include "model/llm.h"

namespace kestrel {

// Reads general.architecture, checks it is supported, then reads and validates the hyperparameters.
Result<ModelConfig> read_config(const GGUFFile& file);

}  // namespace kestrel
