#include "lab/record_json.h"

#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using nlohmann::json;

// Text a server sent goes out as valid UTF-8 (invalid bytes as U+FFFD, for every reader), and the
// bytes as they came beside it in base64, only when they differ: the record stays lossless.
void put_text(json& j, const char* key, const std::string& text) {
  if (is_valid_utf8(text)) {
    j[key] = text;
    return;
  }
  j[key] = utf8_replace_invalid(text);
  j[std::string(key) + "_bytes_base64"] = base64_encode(text);
}

std::string get_text(const json& j, const char* key) {
  auto raw = j.find(std::string(key) + "_bytes_base64");
  if (raw != j.end() && raw->is_string()) {
    if (auto bytes = base64_decode(raw->get_ref<const std::string&>())) return *bytes;
  }
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename T>
void put_optional(json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}

template <typename T>
void get_optional(const json& j, const char* key, std::optional<T>& value) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) value = it->get<T>();
}

template <typename T>
T get_or(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

json options_to_json(const llm::Options& o) { return json::parse(o.to_json()); }

Result<llm::Options> options_from_json(const json& j) {
  if (!j.is_object()) {
    return make_error(ErrorCode::kParseError, "options must be a JSON object, got {}",
                      json_text(j).substr(0, 200));
  }
  llm::Options o;
  for (const auto& [name, value] : j.items()) {
    if (value.is_null()) continue;
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (Status s = o.set(name, text); !s.is_ok()) {
      return make_error(ErrorCode::kParseError, "options {}: {}", json_text(j).substr(0, 200), s.message());
    }
  }
  return o;
}

llm::TokenCountSource token_count_source_from_name(std::string_view name) {
  for (auto s : {llm::TokenCountSource::kServer, llm::TokenCountSource::kEngine,
                 llm::TokenCountSource::kChunks}) {
    if (llm::token_count_source_name(s) == name) return s;
  }
  return llm::TokenCountSource::kNone;
}

ErrorCode error_code_from_name(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kInternal); ++i) {
    auto code = static_cast<ErrorCode>(i);
    if (error_code_name(code) == name) return code;
  }
  return ErrorCode::kInternal;
}

json call_record_to_json(const llm::CallRecord& r) {
  json j;
  j["backend"] = r.backend;
  j["model"] = r.model;
  j["endpoint"] = r.endpoint;
  j["synthetic_model"] = r.synthetic_model;
  j["options_requested"] = options_to_json(r.options_requested);
  j["options_applied"] = options_to_json(r.options_applied);
  j["option_sources"] = r.option_sources;
  j["ok"] = r.ok;
  j["error_code"] = std::string(error_code_name(r.error_code));
  j["error"] = utf8_replace_invalid(r.error);
  put_text(j, "text", r.text);
  put_text(j, "thinking", r.thinking);
  j["done_reason"] = utf8_replace_invalid(r.done_reason);
  j["token_count"] = r.token_count;
  j["token_count_source"] = std::string(llm::token_count_source_name(r.token_count_source));
  j["prompt_tokens"] = r.prompt_tokens ? json(*r.prompt_tokens) : json(nullptr);
  j["chunk_count"] = r.chunk_count;
  j["wall_start_unix_ms"] = r.wall_start_unix_ms;
  j["t_request_ns"] = r.t_request_ns;
  j["t_first_byte_ns"] = r.t_first_byte_ns;
  j["t_first_token_ns"] = r.t_first_token_ns;
  j["t_done_ns"] = r.t_done_ns;
  j["chunk_times_ns"] = r.chunk_times_ns;
  j["chunk_token_counts"] = r.chunk_token_counts;
  json server = json::object();
  put_optional(server, "load_ns", r.server.load_ns);
  put_optional(server, "prompt_eval_ns", r.server.prompt_eval_ns);
  put_optional(server, "eval_ns", r.server.eval_ns);
  put_optional(server, "total_ns", r.server.total_ns);
  put_optional(server, "prompt_eval_count", r.server.prompt_eval_count);
  put_optional(server, "eval_count", r.server.eval_count);
  put_optional(server, "queue_ns", r.server.queue_ns);
  if (!r.server.rejected.empty()) server["rejected"] = r.server.rejected;
  j["server"] = server;
  json transport = json::object();
  put_optional(transport, "dns_ns", r.transport.dns_ns);
  put_optional(transport, "connect_ns", r.transport.connect_ns);
  put_optional(transport, "first_byte_ns", r.transport.first_byte_ns);
  transport["connection_reused"] = r.transport.connection_reused;
  transport["attempts"] = r.transport.attempts;
  if (r.transport.retries > 0) {
    transport["retries"] = r.transport.retries;
    transport["retry_wait_ns"] = r.transport.retry_wait_ns;
    transport["retry_reasons"] = r.transport.retry_reasons;
  }
  j["transport"] = transport;
  j["model_load_paid"] = r.model_load_paid;
  j["prompt_truncated"] = r.prompt_truncated;
  json warnings = json::array();
  for (const std::string& w : r.warnings) warnings.push_back(utf8_replace_invalid(w));
  j["warnings"] = std::move(warnings);
  return j;
}

Result<llm::CallRecord> call_record_from_json(const json& j) {
  if (!j.is_object()) return make_error(ErrorCode::kParseError, "call record must be a JSON object");
  llm::CallRecord r;
  try {
    r.backend = get_or<std::string>(j, "backend", "");
    r.model = get_or<std::string>(j, "model", "");
    r.endpoint = get_or<std::string>(j, "endpoint", "");
    r.synthetic_model = get_or(j, "synthetic_model", false);
    if (j.contains("options_requested")) {
      CHIMERA_ASSIGN_OR_RETURN(r.options_requested, options_from_json(j["options_requested"]));
    }
    if (j.contains("options_applied")) {
      CHIMERA_ASSIGN_OR_RETURN(r.options_applied, options_from_json(j["options_applied"]));
    }
    r.option_sources =
        get_or<std::map<std::string, std::string>>(j, "option_sources", {});
    r.ok = get_or(j, "ok", false);
    r.error_code = error_code_from_name(get_or<std::string>(j, "error_code", "ok"));
    r.error = get_or<std::string>(j, "error", "");
    r.text = get_text(j, "text");
    r.thinking = get_text(j, "thinking");
    r.done_reason = get_or<std::string>(j, "done_reason", "");
    r.token_count = get_or<int64_t>(j, "token_count", 0);
    r.token_count_source =
        token_count_source_from_name(get_or<std::string>(j, "token_count_source", "none"));
    get_optional(j, "prompt_tokens", r.prompt_tokens);
    r.chunk_count = get_or<int64_t>(j, "chunk_count", 0);
    r.wall_start_unix_ms = get_or<int64_t>(j, "wall_start_unix_ms", 0);
    r.t_request_ns = get_or<int64_t>(j, "t_request_ns", 0);
    r.t_first_byte_ns = get_or<int64_t>(j, "t_first_byte_ns", 0);
    r.t_first_token_ns = get_or<int64_t>(j, "t_first_token_ns", 0);
    r.t_done_ns = get_or<int64_t>(j, "t_done_ns", 0);
    r.chunk_times_ns = get_or<std::vector<int64_t>>(j, "chunk_times_ns", {});
    r.chunk_token_counts = get_or<std::vector<int32_t>>(j, "chunk_token_counts", {});
    if (auto it = j.find("server"); it != j.end() && it->is_object()) {
      get_optional(*it, "load_ns", r.server.load_ns);
      get_optional(*it, "prompt_eval_ns", r.server.prompt_eval_ns);
      get_optional(*it, "eval_ns", r.server.eval_ns);
      get_optional(*it, "total_ns", r.server.total_ns);
      get_optional(*it, "prompt_eval_count", r.server.prompt_eval_count);
      get_optional(*it, "eval_count", r.server.eval_count);
      get_optional(*it, "queue_ns", r.server.queue_ns);
      r.server.rejected = get_or<std::map<std::string, std::string>>(*it, "rejected", {});
    }
    if (auto it = j.find("transport"); it != j.end() && it->is_object()) {
      get_optional(*it, "dns_ns", r.transport.dns_ns);
      get_optional(*it, "connect_ns", r.transport.connect_ns);
      get_optional(*it, "first_byte_ns", r.transport.first_byte_ns);
      r.transport.connection_reused = get_or(*it, "connection_reused", false);
      r.transport.attempts = get_or(*it, "attempts", 0);
      r.transport.retries = get_or(*it, "retries", 0);
      r.transport.retry_wait_ns = get_or<int64_t>(*it, "retry_wait_ns", 0);
      r.transport.retry_reasons = get_or<std::vector<std::string>>(*it, "retry_reasons", {});
    }
    r.model_load_paid = get_or(j, "model_load_paid", false);
    r.prompt_truncated = get_or(j, "prompt_truncated", false);
    r.warnings = get_or<std::vector<std::string>>(j, "warnings", {});
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kParseError, "call record: {}", e.what());
  }
  return r;
}

}  // namespace chimera::lab
