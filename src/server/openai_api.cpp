// The OpenAI API subset local clients use: /v1/chat/completions and /v1/completions (SSE with
// "data: [DONE]" and stream_options.include_usage, or one object) and /v1/models, with errors in
// OpenAI's {"error": {...}} shape. Extensions that llama.cpp's server and vLLM accept are honoured:
// top_k, min_p, repeat_penalty (or repetition_penalty), repeat_last_n, ignore_eos.
#include <fmt/format.h>

#include <random>

#include "server/api.h"
#include "server/output_format.h"
#include "util/build_info.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::server {
namespace {

Status unsupported(std::string_view field, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, "{} is not supported by this server ({})", field, why);
}

std::string random_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

// The sampling fields both endpoints take.
Status parse_sampling(const Json& body, GenerationRequest& out, int64_t default_max_tokens) {
  llm::Options& o = out.options;
  CHIMERA_ASSIGN_OR_RETURN(auto max_tokens, optional_int(body, "max_tokens", "max_tokens"));
  CHIMERA_ASSIGN_OR_RETURN(auto max_completion, optional_int(body, "max_completion_tokens", "max_completion_tokens"));
  std::optional<int64_t> limit = max_completion ? max_completion : max_tokens;
  if (limit && *limit < 1) {
    return make_error(ErrorCode::kInvalidArgument, "max_tokens is {}; it must be at least 1", *limit);
  }
  if (limit) {
    o.num_predict = limit;
  } else if (default_max_tokens > 0) {
    o.num_predict = default_max_tokens;
  }
  CHIMERA_ASSIGN_OR_RETURN(auto temperature, optional_number(body, "temperature", "temperature"));
  if (temperature && (*temperature < 0 || *temperature > 2)) {
    return make_error(ErrorCode::kInvalidArgument, "temperature is {}; it must be from 0 to 2", *temperature);
  }
  // As Ollama's /v1: OpenAI's defaults (temperature 1, top_p 1) when the client leaves them unset.
  o.temperature = temperature.value_or(1.0);
  CHIMERA_ASSIGN_OR_RETURN(auto top_p, optional_number(body, "top_p", "top_p"));
  o.top_p = top_p.value_or(1.0);
  CHIMERA_ASSIGN_OR_RETURN(auto seed, optional_int(body, "seed", "seed"));
  if (seed) o.seed = seed;
  CHIMERA_ASSIGN_OR_RETURN(auto top_k, optional_int(body, "top_k", "top_k"));
  if (top_k) o.top_k = top_k;
  CHIMERA_ASSIGN_OR_RETURN(auto min_p, optional_number(body, "min_p", "min_p"));
  if (min_p) o.min_p = min_p;
  CHIMERA_ASSIGN_OR_RETURN(auto repeat_penalty, optional_number(body, "repeat_penalty", "repeat_penalty"));
  CHIMERA_ASSIGN_OR_RETURN(auto repetition_penalty, optional_number(body, "repetition_penalty", "repetition_penalty"));
  if (repeat_penalty || repetition_penalty) o.repeat_penalty = repeat_penalty ? repeat_penalty : repetition_penalty;
  CHIMERA_ASSIGN_OR_RETURN(auto repeat_last_n, optional_int(body, "repeat_last_n", "repeat_last_n"));
  if (repeat_last_n) o.repeat_last_n = repeat_last_n;
  CHIMERA_ASSIGN_OR_RETURN(auto ignore_eos, optional_bool(body, "ignore_eos", "ignore_eos"));
  out.ignore_eos = ignore_eos.value_or(false);

  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    std::vector<std::string> stops;
    if (it->is_string()) {
      stops.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const Json& s : *it) {
        if (!s.is_string()) return make_error(ErrorCode::kInvalidArgument, "stop must hold strings, not {}", json_type_name(s));
        stops.push_back(s.get<std::string>());
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument, "stop must be a string or an array of strings, not {}",
                        json_type_name(*it));
    }
    o.stop = std::move(stops);
  }
  CHIMERA_ASSIGN_OR_RETURN(auto n, optional_int(body, "n", "n"));
  if (n && *n != 1) return unsupported("n other than 1", "one choice per request");
  CHIMERA_ASSIGN_OR_RETURN(auto best_of, optional_int(body, "best_of", "best_of"));
  if (best_of && *best_of != 1) return unsupported("best_of other than 1", "one choice per request");
  for (std::string_view penalty : {"presence_penalty", "frequency_penalty"}) {
    CHIMERA_ASSIGN_OR_RETURN(auto value, optional_number(body, penalty, penalty));
    if (value && (*value < -2 || *value > 2)) {
      return make_error(ErrorCode::kInvalidArgument, "{} is {}; it must be from -2 to 2", penalty, *value);
    }
    if (value && *value != 0) return unsupported(penalty, "use repeat_penalty");
  }
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null() && !(it->is_object() && it->empty())) {
    return unsupported("logit_bias", "not implemented");
  }
  if (auto it = body.find("logprobs"); it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>())) {
    return unsupported("logprobs", "not implemented");
  }
  if (auto it = body.find("top_logprobs"); it != body.end() && !it->is_null()) {
    return unsupported("top_logprobs", "not implemented");
  }
  CHIMERA_ASSIGN_OR_RETURN(auto stream, optional_bool(body, "stream", "stream"));
  out.stream = stream.value_or(false);
  return validate_options(o);
}

// The model named, or the only one served when none is named.
Status resolve_model(const Json& body, const ServerState& state, GenerationRequest& out) {
  CHIMERA_ASSIGN_OR_RETURN(auto model, optional_string(body, "model", "model"));
  if (model && !model->empty()) {
    out.model = *model;
    return Status::ok();
  }
  if (state.registry->size() == 1) {
    out.model = normalized_model_name(state.registry->names().front());
    return Status::ok();
  }
  return make_error(ErrorCode::kInvalidArgument, "model is required: this server has {}",
                    join(state.registry->names(), ", "));
}

// Message content: a string, null, or an array of {"type":"text","text":...} parts.
Result<std::string> message_content(const Json& message, const std::string& where) {
  auto it = message.find("content");
  if (it == message.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) {
    return make_error(ErrorCode::kInvalidArgument, "{}.content must be a string or an array of parts, not {}", where,
                      json_type_name(*it));
  }
  std::string text;
  for (const Json& part : *it) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return make_error(ErrorCode::kInvalidArgument, "{}.content parts must be objects with a \"type\"", where);
    }
    if (part["type"].get<std::string>() != "text") {
      return unsupported(fmt::format("{}.content part of type \"{}\"", where, part["type"].get<std::string>()),
                         "the engine runs text models only");
    }
    CHIMERA_ASSIGN_OR_RETURN(auto piece, optional_string(part, "text", where + ".content[].text"));
    text += piece.value_or("");
  }
  return text;
}

// reasoning_effort (Chat Completions) or reasoning.effort (as Ollama's /v1 also reads it), mapped
// to Ollama's think as Ollama maps it: "none" is think false (gpt-oss still reasons), "minimal"
// the lowest level there is ("low"), "low" / "medium" / "high" themselves ("max" too, as Ollama).
Status parse_reasoning_effort(const Json& body, GenerationRequest& out) {
  std::string field = "reasoning_effort";
  const Json* value = nullptr;
  if (auto it = body.find("reasoning"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "reasoning must be an object like {{\"effort\": \"low\"}}, not {}",
                        json_type_name(*it));
    }
    if (auto effort = it->find("effort"); effort != it->end() && !effort->is_null()) {
      field = "reasoning.effort";
      value = &*effort;
    }
  }
  if (auto it = body.find("reasoning_effort"); !value && it != body.end() && !it->is_null())
    value = &*it;
  if (!value) return Status::ok();
  const std::string effort = value->is_string() ? value->get<std::string>() : std::string();
  std::optional<engine::Think> think = effort == "none"      ? engine::Think::kOff
                                       : effort == "minimal" ? engine::Think::kLow
                                                             : engine::parse_think_level(effort);
  if (!think) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} {} is not a reasoning effort: send \"none\", \"minimal\", \"low\", "
                      "\"medium\" or \"high\"",
                      field, value->dump());
  }
  out.think = *think;
  out.think_asked = fmt::format("{} {}", field, value->dump());
  return Status::ok();
}

Result<GenerationRequest> parse_chat_completion(const Json& body, const ServerState& state) {
  GenerationRequest out;
  out.chat = true;
  out.truncate = false;  // OpenAI servers refuse a prompt over the context
  CHIMERA_RETURN_IF_ERROR(resolve_model(body, state, out));
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) {
    return make_error(ErrorCode::kInvalidArgument, "messages is required: a non-empty array of {{role, content}}");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) {
      return make_error(ErrorCode::kInvalidArgument, "{} must be an object, not {}", where, json_type_name(m));
    }
    CHIMERA_ASSIGN_OR_RETURN(auto role, optional_string(m, "role", where + ".role"));
    if (!role) return make_error(ErrorCode::kInvalidArgument, "{}.role is required", where);
    std::string r = *role == "developer" ? "system" : *role;  // OpenAI's newer name for system
    if (r != "system" && r != "user" && r != "assistant") {
      return r == "tool" || r == "function" ? unsupported(fmt::format("{}.role \"{}\"", where, r), "no tool calling")
                                            : make_error(ErrorCode::kInvalidArgument,
                                                         "{}.role must be system, developer, user or assistant, not "
                                                         "\"{}\"", where, r);
    }
    CHIMERA_ASSIGN_OR_RETURN(std::string content, message_content(m, where));
    out.messages.push_back({r, std::move(content)});
  }
  for (std::string_view field : {"tools", "functions"}) {
    if (auto t = body.find(field); t != body.end() && !t->is_null() && !(t->is_array() && t->empty())) {
      return unsupported(field, "no tool calling in this engine");
    }
  }
  CHIMERA_RETURN_IF_ERROR(parse_reasoning_effort(body, out));
  CHIMERA_RETURN_IF_ERROR(parse_sampling(body, out, /*default_max_tokens=*/0));
  return out;
}

Result<GenerationRequest> parse_completion(const Json& body, const ServerState& state) {
  GenerationRequest out;
  out.raw = true;
  out.truncate = false;
  CHIMERA_RETURN_IF_ERROR(resolve_model(body, state, out));
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) {
    return make_error(ErrorCode::kInvalidArgument, "prompt is required: a string or an array of token ids");
  }
  const Json* prompt = &*it;
  if (prompt->is_array() && prompt->size() == 1 && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    prompt = &(*prompt)[0];  // ["text"] or [[ids]]: one prompt in a list
  }
  if (prompt->is_string()) {
    out.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    for (const Json& id : *prompt) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return make_error(ErrorCode::kInvalidArgument, "prompt token ids must be integers >= 0");
      }
      out.prompt_tokens.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  } else if (prompt->is_array() && prompt->size() > 1) {
    return unsupported("several prompts in one request", "send one request per prompt");
  } else {
    return make_error(ErrorCode::kInvalidArgument, "prompt must be a string or an array of token ids, not {}",
                      json_type_name(*prompt));
  }
  if (out.prompt.empty() && out.prompt_tokens.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "prompt is empty");
  }
  CHIMERA_ASSIGN_OR_RETURN(auto echo, optional_bool(body, "echo", "echo"));
  if (echo.value_or(false)) return unsupported("echo", "not implemented");
  CHIMERA_ASSIGN_OR_RETURN(auto suffix, optional_string(body, "suffix", "suffix"));
  if (suffix && !suffix->empty()) return unsupported("suffix", "no fill-in-the-middle template");
  // OpenAI's completions default is 16 tokens.
  CHIMERA_RETURN_IF_ERROR(parse_sampling(body, out, /*default_max_tokens=*/16));
  return out;
}

std::string finish_reason(const SequenceOutcome& o) { return o.done_reason == "stop" ? "stop" : "length"; }

Json usage_json(const SequenceOutcome& o) {
  // As OpenAI: prompt_tokens counts every prompt token, the cached ones are named in the details.
  return {{"prompt_tokens", o.prompt_tokens}, {"completion_tokens", o.eval_count},
          {"total_tokens", o.prompt_tokens + o.eval_count},
          {"prompt_tokens_details", {{"cached_tokens", o.prompt_cached_tokens}}}};
}

class OpenAIFormat final : public ResponseFormat {
 public:
  OpenAIFormat(bool chat, std::string model, bool include_usage)
      : chat_(chat), model_(std::move(model)), include_usage_(include_usage),
        id_(random_id(chat ? "chatcmpl-" : "cmpl-")), created_(unix_time_ms() / 1000),
        fingerprint_("chimera-" + build_info().version) {}

  std::string content_type(bool stream) const override {
    return stream ? "text/event-stream" : "application/json; charset=utf-8";
  }

  void begin(std::string& out) override {
    if (chat_) event(Json{{"role", "assistant"}, {"content", ""}}, nullptr, out);
  }

  void text(std::string_view piece, std::string& out) override {
    if (splitter_) {  // a thinking model: the reasoning as reasoning_content
      chunks(splitter_->feed(piece), out);
      return;
    }
    chunk(piece, "content", out);
  }

  void chunks(const engine::ChannelText& split, std::string& out) {
    if (!split.thinking.empty()) chunk(split.thinking, "reasoning_content", out);
    if (!split.content.empty()) chunk(split.content, "content", out);
  }

  void chunk(std::string_view piece, std::string_view field, std::string& out) {
    // Built by hand: this runs per token.
    out += "data: {\"id\":\"" + id_ + "\",\"object\":\"" + object(true) + "\",\"created\":" + std::to_string(created_) +
           ",\"model\":";
    append_json_string(out, model_);
    out += ",\"system_fingerprint\":\"" + fingerprint_ + "\",\"choices\":[{\"index\":0,";
    if (chat_) {
      out += "\"delta\":{\"";
      out += field;
      out += "\":";
      append_json_string(out, piece);
      out += "}";
    } else {
      out += "\"text\":";
      append_json_string(out, piece);
    }
    out += ",\"logprobs\":null,\"finish_reason\":null}]";
    if (include_usage_) out += ",\"usage\":null";
    out += "}\n\n";
  }

  void done(const Job& /*job*/, const SequenceOutcome& o, std::string& out) override {
    if (!streaming_) {
      Json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason(o)}};
      if (chat_ && splitter_) {
        const engine::ChannelText split = splitter_->finish(o.text);
        choice["message"] = {{"role", "assistant"}, {"content", split.content}};
        if (!split.thinking.empty()) choice["message"]["reasoning_content"] = split.thinking;
      } else if (chat_) {
        choice["message"] = {{"role", "assistant"}, {"content", o.text}};
      } else {
        choice["text"] = o.text;
      }
      Json body = header(false);
      body["choices"] = Json::array({choice});
      body["usage"] = usage_json(o);
      out += dump_json(body);
      return;
    }
    if (splitter_) chunks(splitter_->flush(), out);
    event(chat_ ? Json::object() : Json(nullptr), finish_reason(o), out);
    if (include_usage_) {
      Json usage = header(true);
      usage["choices"] = Json::array();
      usage["usage"] = usage_json(o);
      out += "data: " + dump_json(usage) + "\n\n";
    }
    out += "data: [DONE]\n\n";
  }

  void error(const Status& status, std::string& out) override {
    Json error = {{"error", {{"message", status.message()}, {"type", "server_error"}, {"param", nullptr},
                             {"code", nullptr}}}};
    out += streaming_ ? "data: " + dump_json(error) + "\n\n" : dump_json(error);
  }

  void set_streaming(bool streaming) { streaming_ = streaming; }
  void set_splitter(std::unique_ptr<engine::ReplySplitter> splitter) {
    splitter_ = std::move(splitter);
  }

 private:
  std::unique_ptr<engine::ReplySplitter> splitter_;  // a thinking model's reasoning and answer
  std::string object(bool chunk) const {
    if (!chat_) return "text_completion";
    return chunk ? "chat.completion.chunk" : "chat.completion";
  }
  Json header(bool chunk) const {
    return {{"id", id_}, {"object", object(chunk)}, {"created", created_}, {"model", model_},
            {"system_fingerprint", fingerprint_}};
  }
  // One streamed chunk: a chat delta (or, for completions, empty text) and maybe a finish_reason.
  void event(const Json& delta, const Json& finish, std::string& out) const {
    Json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}};
    if (chat_) {
      choice["delta"] = delta;
    } else {
      choice["text"] = "";
    }
    Json body = header(true);
    body["choices"] = Json::array({choice});
    if (include_usage_) body["usage"] = nullptr;
    out += "data: " + dump_json(body) + "\n\n";
  }

  bool chat_;
  std::string model_;
  bool include_usage_;
  std::string id_;
  int64_t created_;
  std::string fingerprint_;
  bool streaming_ = true;
};

void complete(ServerState& state, httplib::Response& res, const std::string& body, bool chat) {
  const int64_t received_ns = monotonic_ns();
  auto parsed = parse_json_object(body);
  if (!parsed.ok()) return send_openai_error(res, 400, parsed.status().message());
  auto request = chat ? parse_chat_completion(*parsed, state) : parse_completion(*parsed, state);
  if (!request.ok()) return send_openai_error(res, http_status_for(request.status()), request.status().message());
  auto grammar = openai_response_format(*parsed, body);
  if (!grammar.ok()) {
    return send_openai_error(res, http_status_for(grammar.status()), grammar.status().message());
  }
  request->grammar = std::move(*grammar);
  bool include_usage = false;
  if (auto it = parsed->find("stream_options"); it != parsed->end() && !it->is_null()) {
    if (!it->is_object()) return send_openai_error(res, 400, "stream_options must be an object");
    auto usage = optional_bool(*it, "include_usage", "stream_options.include_usage");
    if (!usage.ok()) return send_openai_error(res, 400, usage.status().message());
    include_usage = usage->value_or(false);
  }
  auto job = start_generation(state, *request, received_ns);
  if (!job.ok()) {
    const Status& s = job.status();
    std::string_view code = s.code() == ErrorCode::kNotFound      ? "model_not_found"
                            : s.code() == ErrorCode::kOutOfRange ? "context_length_exceeded"
                                                                 : std::string_view();
    return send_openai_error(res, http_status_for(s), s.message(), code);
  }
  auto format = std::make_shared<OpenAIFormat>(chat, request->model, include_usage && request->stream);
  if (chat) format->set_splitter(reply_splitter(**job));
  format->set_streaming(request->stream);
  if (request->stream) res.set_header("Cache-Control", "no-cache");
  respond_with_job(res, std::move(*job), format, request->stream);
}

void models(ServerState& state, httplib::Response& res) {
  Json data = Json::array();
  for (size_t i = 0; i < state.registry->size(); ++i) {
    ServedModelView v = state.registry->view(i);
    // name:tag, as /api/tags says it (Ollama names a model the same way in both lists).
    Json entry = {{"id", normalized_model_name(v.source.name)}, {"object", "model"},
                  {"created", v.source.modified_unix_ns / 1'000'000'000}, {"owned_by", "chimera"}};
    if (v.info) entry["meta"] = {{"n_ctx_train", v.info->context_length}, {"n_params", v.info->n_params}};
    // A dummy-weight model says so (a client labels every figure from it synthetic).
    entry["meta"]["chimera.synthetic"] = v.source.synthetic || (v.info && v.info->synthetic);
    if (!v.source.general_name.empty()) entry["meta"]["general.name"] = v.source.general_name;
    data.push_back(entry);
  }
  send_json(res, 200, Json{{"object", "list"}, {"data", data}});
}

}  // namespace

void register_openai_api(httplib::Server& http, ServerState& state) {
  post_with_body(http, state, "/v1/chat/completions", true,
                 [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
                   complete(state, res, body, /*chat=*/true);
                 });
  post_with_body(http, state, "/v1/completions", true,
                 [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
                   complete(state, res, body, /*chat=*/false);
                 });
  http.Get("/v1/models", [&state](const httplib::Request&, httplib::Response& res) { models(state, res); });
}

}  // namespace chimera::server
