// libFuzzer target for llm-server's request parsing: the input is an HTTP request body. It goes through
// what the routes do before anything reaches the scheduler: nlohmann-json's parser (no exceptions), then
// the completion and the chat field checks (server/request_params.h) with a small SentencePiece vocab,
// so prompts given as text are tokenized too. Any crash, exception, leak, hang or sanitizer error in
// those paths shows up; a bad body must come back as an error value.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "model/tokenizer.h"
#include "model/tokenizer_vocab.h"
#include "server/request_params.h"

namespace {

// <unk> <s> </s>, the 256 byte tokens, a few pieces and a control token a prompt may name.
std::unique_ptr<kestrel::Tokenizer> make_tokenizer() {
  using kestrel::TokenType;
  kestrel::TokenizerSpec s;
  s.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    s.tokens.push_back(std::move(text));
    s.scores.push_back(score);
    s.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 0, TokenType::kByte);
  }
  for (const char* p : {"\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "a", "e", "\xE2\x96\x81the", "th", "he"})
    add(p, -1.0f, TokenType::kNormal);
  add("<|eot_id|>", 0, TokenType::kControl);
  auto t = kestrel::Tokenizer::from_spec(s);
  if (!t) {
    std::fprintf(stderr, "fuzz_request: tokenizer: %s\n", t.error().c_str());
    std::abort();
  }
  return std::move(t).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kestrel::server;
  static const std::unique_ptr<kestrel::Tokenizer> tok = make_tokenizer();
  RequestLimits lim;
  lim.n_ctx_slot = 64;
  lim.max_tokens = 4096;
  const json body = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  auto c = parse_completion_request(body, *tok, lim);
  volatile size_t keep = c ? c->gen.prompt.size() + c->echo_text.size() : c.error().size();
  auto chat = parse_chat_request(body, *tok, lim);
  keep = chat ? dump(chat->messages).size() + chat->template_kwargs.size() : chat.error().size();
  (void)keep;
  return 0;
}
