// Wire formats of the Ollama and OpenAI APIs, written as their references show them (ollama/ollama
// docs/api.md; OpenAI chat.completion.chunk), for the loopback protocol tests. Built with nlohmann
// here, independently of the code under test.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "llm/support/protocol_server.h"
#include "llm/types.h"

namespace chimera::testing {

using nlohmann::json;

inline std::string ollama_token(std::string_view text, std::string_view model = "llama3.2") {
  return json{{"model", model},
              {"created_at", "2023-08-04T08:52:19.385406455-07:00"},
              {"response", text},
              {"done", false}}
      .dump();
}

inline std::string ollama_chat_token(std::string_view text, std::string_view model = "llama3.2") {
  return json{{"model", model},
              {"created_at", "2023-08-04T08:52:19.385406455-07:00"},
              {"message", {{"role", "assistant"}, {"content", text}, {"images", nullptr}}},
              {"done", false}}
      .dump();
}

// The docs' durations, scaled down a thousandfold: a replay arrives within milliseconds, and a
// server claiming seconds of work for it would have its figures rejected as impossible
// (llm::validate_server_timings).
struct OllamaFinal {
  std::optional<int64_t> total_duration = 4935886, load_duration = 534, prompt_eval_count = 26,
                         prompt_eval_duration = 107345, eval_count, eval_duration = 4289432;
  std::string done_reason = "stop";
  bool chat = false;
  std::string response;  // non-streaming: the whole answer
};

inline std::string ollama_final(const OllamaFinal& f) {
  json j = {{"model", "llama3.2"},
            {"created_at", "2023-08-04T19:22:45.499127Z"},
            {"done", true},
            {"done_reason", f.done_reason}};
  if (f.chat) {
    j["message"] = {{"role", "assistant"}, {"content", f.response}};
  } else {
    j["response"] = f.response;
    j["context"] = {1, 2, 3};
  }
  auto put = [&](const char* key, const std::optional<int64_t>& value) {
    if (value) j[key] = *value;
  };
  put("total_duration", f.total_duration);
  put("load_duration", f.load_duration);
  put("prompt_eval_count", f.prompt_eval_count);
  put("prompt_eval_duration", f.prompt_eval_duration);
  put("eval_count", f.eval_count);
  put("eval_duration", f.eval_duration);
  return j.dump();
}

// /api/show as docs/api.md shows it, with the model's parameters text.
inline std::string ollama_show(std::string_view parameters, int64_t context_length = 131072) {
  return json{{"modelfile", "FROM /blobs/sha256-x"},
              {"parameters", parameters},
              {"template", "{{ .Prompt }}"},
              {"details",
               {{"parent_model", ""},
                {"format", "gguf"},
                {"family", "llama"},
                {"families", json::array({"llama"})},
                {"parameter_size", "3.2B"},
                {"quantization_level", "Q4_K_M"}}},
              {"model_info",
               {{"general.architecture", "llama"},
                {"general.parameter_count", 3212749888LL},
                {"llama.context_length", context_length},
                {"llama.block_count", 28}}}}
      .dump();
}

inline std::string ollama_ps(const std::vector<std::string>& loaded) {
  json models = json::array();
  for (const std::string& name : loaded) {
    models.push_back({{"name", name},
                      {"model", name},
                      {"size", 5137025024LL},
                      {"expires_at", "2024-06-04T14:38:31.83753-07:00"},
                      {"size_vram", 5137025024LL}});
  }
  return json{{"models", models}}.dump();
}

inline std::string ollama_tags(const std::vector<std::string>& names) {
  json models = json::array();
  for (const std::string& name : names) {
    models.push_back({{"name", name},
                      {"modified_at", "2023-12-07T09:32:18.757212583-08:00"},
                      {"size", 3825819519LL},
                      {"digest", "fe938a131f40"},
                      {"details",
                       {{"format", "gguf"},
                        {"family", "llama"},
                        {"families", nullptr},
                        {"parameter_size", "8B"},
                        {"quantization_level", "Q4_0"}}}});
  }
  return json{{"models", models}}.dump();
}

// An OpenAI chat.completion.chunk (or text_completion chunk) as vLLM/llama.cpp send them.
inline std::string openai_chunk(std::optional<std::string> content,
                                std::optional<std::string> finish = {},
                                std::optional<json> usage = {}, bool chat = true) {
  json choice = {{"index", 0},
                 {"logprobs", nullptr},
                 {"finish_reason", finish ? json(*finish) : json(nullptr)}};
  if (chat) {
    choice["delta"] =
        content ? json{{"content", *content}} : json{{"role", "assistant"}, {"content", nullptr}};
  } else {
    choice["text"] = content.value_or("");
  }
  json j = {{"id", "chatcmpl-1"},
            {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", 1700000000},
            {"model", "m"},
            {"choices", json::array({choice})}};
  if (usage) j["usage"] = *usage;
  return j.dump();
}

inline json usage(int prompt, int completion) {
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

// The final usage-only chunk of stream_options.include_usage.
inline std::string openai_usage_chunk(int prompt, int completion) {
  return json{{"id", "chatcmpl-1"},       {"object", "chat.completion.chunk"},
              {"created", 1700000000},    {"model", "m"},
              {"choices", json::array()}, {"usage", usage(prompt, completion)}}
      .dump();
}

inline std::string openai_models(const std::vector<std::string>& ids, std::string_view owned_by) {
  json data = json::array();
  for (const std::string& id : ids) {
    data.push_back({{"id", id},
                    {"object", "model"},
                    {"created", 1700000000},
                    {"owned_by", owned_by},
                    {"max_model_len", 8192}});
  }
  return json{{"object", "list"}, {"data", data}}.dump();
}

// Client clocks must be ordered: request <= first byte <= first token <= each chunk <= done.
inline void expect_clocks_ordered(const llm::CallRecord& r) {
  EXPECT_GT(r.t_request_ns, 0);
  EXPECT_LE(r.t_request_ns, r.t_first_byte_ns);
  EXPECT_LE(r.t_first_byte_ns, r.t_first_token_ns);
  ASSERT_FALSE(r.chunk_times_ns.empty());
  EXPECT_EQ(r.chunk_times_ns.front(), r.t_first_token_ns);
  for (size_t i = 1; i < r.chunk_times_ns.size(); ++i)
    EXPECT_LE(r.chunk_times_ns[i - 1], r.chunk_times_ns[i]);
  EXPECT_LE(r.chunk_times_ns.back(), r.t_done_ns);
  EXPECT_GT(r.wall_start_unix_ms, 0);
}

}  // namespace chimera::testing
