// Request bodies -> GenParams: defaults, every field read, and every bad field an error naming it.
#include <gtest/gtest.h>

#include "model/synthetic_model.h"
#include "server/request_params.h"
#include "tests/model/test_model_support.h"

namespace kestrel::server {
namespace {

class RequestParams : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SyntheticSpec spec;
    spec.n_vocab = 300;
    spec.n_embd = 64;
    spec.n_layer = 1;
    spec.n_head = 2;
    spec.n_head_kv = 1;
    spec.n_ff = 64;
    spec.n_ctx = 64;
    const std::string path = test::temp_dir() + "/params.gguf";
    ASSERT_TRUE(write_synthetic_model(path, spec));
    auto m = Model::load(path);
    ASSERT_TRUE(m) << m.error();
    model_ = std::move(*m);
  }
  static void TearDownTestSuite() { model_.reset(); }
  Result<CompletionRequest> parse(const std::string& body) {
    RequestLimits lim;
    lim.n_ctx_slot = 16;
    lim.max_tokens = 1000;
    return parse_completion_request(json::parse(body), model_->tokenizer(), lim);
  }
  static std::unique_ptr<Model> model_;
};
std::unique_ptr<Model> RequestParams::model_;

TEST_F(RequestParams, DefaultsAreLlamaServers) {
  auto r = parse(R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->gen.prompt, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r->gen.max_tokens, -1);
  EXPECT_FLOAT_EQ(r->gen.sampling.temp, 0.8f);
  EXPECT_EQ(r->gen.sampling.top_k, 40);
  EXPECT_EQ(r->gen.logprobs, -1);
  EXPECT_FALSE(r->stream);
}

TEST_F(RequestParams, ReadsEveryField) {
  auto r = parse(R"({"prompt": [[5, 6]], "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3,
                     "min_p": 0.1, "stop": ["a", "b"], "seed": 9, "presence_penalty": 0.5,
                     "frequency_penalty": -0.5, "repeat_penalty": 1.1, "repeat_last_n": 8, "logprobs": 2,
                     "stream": true, "ignore_eos": true, "cache_prompt": false, "model": "x"})");
  ASSERT_TRUE(r) << r.error();
  const GenParams& g = r->gen;
  EXPECT_EQ(g.prompt, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(g.max_tokens, 7);
  EXPECT_EQ(g.sampling.temp, 0.0f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.5f);
  EXPECT_EQ(g.sampling.top_k, 3);
  EXPECT_FLOAT_EQ(g.sampling.min_p, 0.1f);
  EXPECT_EQ(g.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(g.sampling.seed, 9u);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(g.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(g.sampling.repeat_last_n, 8);
  EXPECT_EQ(g.logprobs, 2);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(g.ignore_eos);
  EXPECT_FALSE(g.cache_prompt);
  EXPECT_EQ(r->model, "x");
  auto s = parse(R"({"prompt": "ab", "stop": "x", "n_predict": -1})");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->gen.stop, (std::vector<std::string>{"x"}));
  EXPECT_EQ(s->echo_text, "ab");
}

TEST_F(RequestParams, BadFieldsNameThemselves) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({})", "prompt"},
      {R"({"prompt": 3})", "prompt"},
      {R"({"prompt": [1, 300]})", "300"},
      {R"({"prompt": [1, -1]})", "-1"},
      {R"({"prompt": [1, 1.5]})", "integers"},
      {R"({"prompt": []})", "empty"},
      {R"({"prompt": ["a", "b"]})", "several"},
      {R"({"prompt": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]})", "context"},
      {R"({"prompt": [1], "max_tokens": 1001})", "max_tokens"},
      {R"({"prompt": [1], "max_tokens": -1})", "max_tokens"},
      {R"({"prompt": [1], "max_tokens": "5"})", "max_tokens"},
      {R"({"prompt": [1], "temperature": -0.1})", "temperature"},
      {R"({"prompt": [1], "top_p": 1.5})", "top_p"},
      {R"({"prompt": [1], "top_k": 2.5})", "top_k"},
      {R"({"prompt": [1], "stop": [1]})", "stop"},
      {R"({"prompt": [1], "stop": {"a": 1}})", "stop"},
      {R"({"prompt": [1], "seed": 18446744073709551615})", "seed"},
      {R"({"prompt": [1], "logprobs": 21})", "logprobs"},
      {R"({"prompt": [1], "n": 3})", "'n'"},
      {R"({"prompt": [1], "stream": "yes"})", "stream"},
      {R"({"prompt": [1], "stream_options": 1})", "stream_options"},
      {R"({"prompt": [1], "presence_penalty": 3})", "presence_penalty"},
  };
  for (const auto& [body, needle] : cases) {
    auto r = parse(body);
    ASSERT_FALSE(r) << body;
    EXPECT_NE(r.error().find(needle), std::string::npos) << body << " -> " << r.error();
  }
}

TEST_F(RequestParams, SpeculativeFieldsOverrideTheServerDefaults) {
  RequestLimits lim;
  lim.n_ctx_slot = 16;
  lim.spec_n_max = 8;
  lim.spec_n_min = 1;
  lim.spec_p_min = 0.5f;
  auto d = parse_completion_request(json::parse(R"({"prompt": [1]})"), model_->tokenizer(), lim);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->gen.spec_n_max, 8);
  EXPECT_EQ(d->gen.spec_n_min, 1);
  EXPECT_FLOAT_EQ(d->gen.spec_p_min, 0.5f);
  auto r = parse_completion_request(
      json::parse(R"({"prompt": [1], "speculative.n_max": 3, "speculative.n_min": 2, "speculative.p_min": 0.9})"),
      model_->tokenizer(), lim);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->gen.spec_n_max, 3);
  EXPECT_EQ(r->gen.spec_n_min, 2);
  EXPECT_FLOAT_EQ(r->gen.spec_p_min, 0.9f);
  auto off = parse_completion_request(json::parse(R"({"prompt": [1], "speculative.n_max": 0})"), model_->tokenizer(), lim);
  ASSERT_TRUE(off) << off.error();
  EXPECT_EQ(off->gen.spec_n_max, 0);
  for (const char* bad : {R"("speculative.n_max": -1)", R"("speculative.n_max": 1.5)", R"("speculative.n_min": -1)",
                          R"("speculative.p_min": 1.01)", R"("speculative.p_min": null, "speculative.n_max": true)",
                          R"("speculative.n_max": 2, "speculative.n_min": 3)"}) {
    auto e = parse_completion_request(json::parse(std::string(R"({"prompt": [1], )") + bad + "}"), model_->tokenizer(), lim);
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().find("speculative."), std::string::npos) << e.error();
  }
}

TEST_F(RequestParams, EchoWithLogprobsAsksForThePrompts) {
  auto r = parse(R"({"prompt": [1, 5, 6], "echo": true, "logprobs": 0, "max_tokens": 0})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->gen.echo);
  EXPECT_EQ(r->gen.logprobs, 0);
  EXPECT_EQ(r->gen.max_tokens, 0);
}

class ChatParams : public RequestParams {
 protected:
  Result<ChatRequest> chat(const std::string& body) {
    RequestLimits lim;
    lim.n_ctx_slot = 16;
    lim.max_tokens = 1000;
    return parse_chat_request(json::parse(body), model_->tokenizer(), lim);
  }
};

TEST_F(ChatParams, MessagesLogprobsKwargs) {
  auto c = chat(R"({"messages": [{"role": "system", "content": null},
                                 {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                    "logprobs": true, "top_logprobs": 3, "max_completion_tokens": 5,
                    "chat_template_kwargs": {"enable_thinking": false}})");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->messages[0]["content"], "");
  EXPECT_EQ(c->messages[1]["content"], "ab");
  EXPECT_TRUE(c->want_logprobs);
  EXPECT_EQ(c->req.gen.logprobs, 3);
  EXPECT_EQ(c->req.gen.max_tokens, 5);
  EXPECT_EQ(c->template_kwargs["enable_thinking"], false);
  auto d = chat(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3})");
  ASSERT_TRUE(d) << d.error();
  EXPECT_FALSE(d->want_logprobs);
  EXPECT_EQ(d->req.gen.logprobs, -1);
  EXPECT_TRUE(d->template_kwargs.is_object() && d->template_kwargs.empty());
}

TEST_F(ChatParams, BadFieldsNameThemselves) {
  const std::pair<const char*, const char*> cases[] = {
      {R"([])", "object"},
      {R"({})", "messages"},
      {R"({"messages": {}})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": [3]})", "object"},
      {R"({"messages": [{"content": "x"}]})", "role"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "content"},
      {R"({"messages": [{"role": "user", "content": [{"type": 5, "text": "a"}]}]})", "parts"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "parts"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})", "parts"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 21})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": [1]})", "chat_template_kwargs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 2})", "'n'"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1001})", "max_tokens"},
  };
  for (const auto& [body, needle] : cases) {
    auto c = chat(body);
    ASSERT_FALSE(c) << body;
    EXPECT_NE(c.error().find(needle), std::string::npos) << body << " -> " << c.error();
  }
}

}  // namespace
}  // namespace kestrel::server
