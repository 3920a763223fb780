// A scripted llm::Backend for agent tests: it answers the analysis and report prompts with text
// that cites the facts it was given (so grounding can be checked), reports deterministic timings
// that depend only on the seed and on a per-arm speed factor (so A/A and A/B outcomes are known in
// advance), fills in "applied" options like a server, and records every request.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/backend.h"

namespace chimera::agent::testing {

class FakeAgentBackend : public llm::Backend {
 public:
  std::vector<llm::Request> requests;
  // Decode speed in tok/s for a request; default 50 tok/s for everything.
  std::function<double(const llm::Request&)> speed_tps = [](const llm::Request&) { return 50.0; };
  // Return false to fail the call with index `n` (0-based, in issue order).
  std::function<bool(size_t n)> succeed = [](size_t) { return true; };
  // Replaces the report text when set.
  std::function<std::string(const std::string& prompt)> report_text;
  // Claims structured output: a request with output_schema is answered with JSON in its shape.
  bool structured_output = false;

  std::string name() const override { return "fake://agent-test"; }
  llm::BackendCapabilities capabilities() const override {
    return {true, true, true, true, structured_output};
  }
  Result<std::vector<llm::ModelEntry>> list_models() override {
    return std::vector<llm::ModelEntry>{};
  }
  Result<llm::ModelDescription> describe(const std::string&) override {
    return llm::ModelDescription{};
  }

  llm::CallRecord generate(const llm::Request& request, const llm::OnText& on_text = {}) override {
    requests.push_back(request);
    llm::CallRecord r;
    r.backend = name();
    r.model = request.model;
    r.endpoint = "engine";
    r.options_requested = request.options;
    // A server fills the rest from its defaults: num_ctx 2048, temperature 0.8, top_k 40.
    llm::Options defaults;
    defaults.num_ctx = 2048;
    defaults.temperature = 0.8;
    defaults.top_k = 40;
    r.options_applied = defaults.merged_with(request.options);
    for (const auto& [name, value] : r.options_applied.items()) {
      bool sent = false;
      for (const auto& [n, v] : request.options.items()) sent |= n == name;
      r.option_sources[name] = sent ? "sent" : "backend default";
    }
    if (!succeed(requests.size() - 1)) {
      r.ok = false;
      r.error_code = ErrorCode::kUnavailable;
      r.error = "fake backend: connection refused";
      return r;
    }
    const std::string& prompt = request.messages.back().content;
    r.text = prompt.find("TASK: List 5 to 8") != std::string::npos ? analysis_text(prompt)
             : report_text                                         ? report_text(prompt)
                                                                   : default_report(prompt);
    if (prompt.find("TASK: List 5 to 8") == std::string::npos) r.text = shaped(request, r.text);
    if (on_text) on_text(r.text);
    int64_t tokens = request.options.num_predict.value_or(64);
    // Noise from the seed only: both calls of a pair see the same noise.
    uint64_t seed = static_cast<uint64_t>(request.options.seed.value_or(1));
    double noise =
        static_cast<double>((seed * 2654435761ull) % 1000) / 1000.0 - 0.5;  // [-0.5, 0.5)
    double tps = speed_tps(request) * (1.0 + 0.04 * noise);
    int64_t eval_ns = static_cast<int64_t>(static_cast<double>(tokens - 1) / tps * 1e9);
    int64_t prefill_ns = static_cast<int64_t>((100.0 + 20.0 * noise) * 1e6);
    r.t_request_ns = clock_ns_;
    r.t_first_byte_ns = r.t_first_token_ns = clock_ns_ + prefill_ns;
    for (int64_t i = 0; i < tokens; ++i) {
      r.chunk_times_ns.push_back(r.t_first_token_ns +
                                 eval_ns * i / std::max<int64_t>(1, tokens - 1));
      r.chunk_token_counts.push_back(1);
    }
    r.t_done_ns = r.chunk_times_ns.back();
    clock_ns_ = r.t_done_ns + 1'000'000;
    r.token_count = tokens;
    r.token_count_source = llm::TokenCountSource::kEngine;
    r.chunk_count = tokens;
    r.prompt_tokens = static_cast<int64_t>(prompt.size() / 4);
    r.server.prompt_eval_count = r.prompt_tokens;
    r.server.prompt_eval_ns = prefill_ns;
    r.server.eval_count = tokens;
    r.server.eval_ns = eval_ns;
    r.done_reason = "length";
    r.ok = true;
    return r;
  }

  // "[M3] 49.50 tok/s (measured) decode_tps" -> {"M3", "49.50 tok/s"}: the first fact of a kind.
  static std::pair<std::string, std::string> first_fact(const std::string& prompt,
                                                        const std::string& kind,
                                                        const std::string& metric) {
    std::regex line("\\[([A-Z][0-9]+)\\] ([^()]+) \\(" + kind + "\\) " + metric);
    std::smatch m;
    if (std::regex_search(prompt, m, line)) return {m[1], m[2]};
    return {"", ""};
  }

 private:
  static std::string analysis_text(const std::string& prompt) {
    auto [id, value] = first_fact(prompt, "ingestion", "files_ingested");
    return "- The folder held " + value + " [" + id + "].\n- Failed rows are counted separately.\n";
  }

  static std::string default_report(const std::string& prompt) {
    auto [files_id, files] = first_fact(prompt, "ingestion", "files_ingested");
    auto [m_id, m_value] = first_fact(prompt, "measured", "decode_tps");
    auto [e_id, e_value] = first_fact(prompt, "expected", "decode_tps");
    std::string text =
        "## Executive Summary\n\nThe data folder held " + files + " [" + files_id + "]. ";
    if (!m_id.empty()) text += "The analysis call decoded at " + m_value + " [" + m_id + "]. ";
    if (!e_id.empty())
      text += "The expected figure is " + e_value + " [" + e_id + "], measured elsewhere. ";
    text +=
        "\n\n## Chimera Configuration Analysis\n\nOptions are listed in the header.\n\n"
        "## Data Ingestion Summary\n\nSee the ingestion table.\n\n"
        "## Performance Analysis\n\nSee the measured section.\n\n"
        "## Key Findings\n\n- Throughput was measured on this machine.\n\n"
        "## Recommendations\n\n- Try micro-batching.\n- Monitor the hardware.\n\n"
        "## Appendix\n\n| option | value |\n|---|---|\n| seed | per pair |\n";
    return text;
  }

  // The sections of a Markdown report: title -> text.
  static std::vector<std::pair<std::string, std::string>> sections_of(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::stringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("## ", 0) == 0) {
        out.push_back({line.substr(3), ""});
      } else if (!out.empty()) {
        out.back().second += line + "\n";
      }
    }
    return out;
  }

  static std::vector<std::string> ids_in(const std::string& text) {
    std::vector<std::string> ids;
    std::regex id("\\[([A-Z][0-9]+)\\]");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), id); it != std::sregex_iterator();
         ++it) {
      ids.push_back((*it)[1]);
    }
    return ids;
  }

  // A per-section prompt gets that section's text; JSON requests get JSON of the schema's shape.
  std::string shaped(const llm::Request& request, const std::string& markdown) const {
    const std::string& prompt = request.messages.back().content;
    std::smatch m;
    std::optional<std::string> only;
    if (std::regex_search(prompt, m, std::regex("TASK: Write the \"([^\"]+)\" section")))
      only = m[1];
    auto sections = sections_of(markdown);
    if (!request.output_schema || !structured_output) {
      if (!only) return markdown;
      for (const auto& [title, text] : sections) {
        if (title == *only) return text;
      }
      return "";
    }
    nlohmann::json answer;
    if (only) {
      answer = {{"text", ""}, {"facts", nlohmann::json::array()}};
      for (const auto& [title, text] : sections) {
        if (title == *only) answer = {{"text", text}, {"facts", ids_in(text)}};
      }
    } else {
      answer["sections"] = nlohmann::json::array();
      for (const auto& [title, text] : sections) {
        answer["sections"].push_back({{"title", title}, {"text", text}, {"facts", ids_in(text)}});
      }
    }
    return answer.dump();
  }

  int64_t clock_ns_ = 1'000'000'000;
};

}  // namespace chimera::agent::testing
