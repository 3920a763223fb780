// Ollama's native API (ollama/ollama docs/api.md): /api/generate and /api/chat (NDJSON streams or one
// JSON object, with Ollama's final statistics in ns), /api/tags, /api/show, /api/ps, /api/version, /.
#include <fmt/format.h>

#include "server/api.h"
#include "server/model_info.h"
#include "server/output_format.h"
#include "util/build_info.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::server {
namespace {

Status unsupported_field(std::string_view field, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument, "{} is not supported by this server ({})", field, why);
}

// Fields both endpoints share: model, options, stream, keep_alive, think, truncate (format is read
// with the raw body: output_format.h).
Status parse_common(const Json& body, GenerationRequest& out) {
  CHIMERA_ASSIGN_OR_RETURN(auto model, optional_string(body, "model", "model"));
  if (!model || trim(*model).empty()) {
    return make_error(ErrorCode::kInvalidArgument, "model is required: name one of the models in /api/tags");
  }
  out.model = *model;
  if (auto it = body.find("options"); it != body.end() && !it->is_null()) {
    CHIMERA_RETURN_IF_ERROR(parse_ollama_options(*it, "options", out.options, out.ignore_eos, out.ignored_options));
    CHIMERA_RETURN_IF_ERROR(validate_options(out.options));
  }
  CHIMERA_ASSIGN_OR_RETURN(auto stream, optional_bool(body, "stream", "stream"));
  out.stream = stream.value_or(true);
  if (auto it = body.find("keep_alive"); it != body.end() && !it->is_null()) {
    CHIMERA_ASSIGN_OR_RETURN(int64_t keep, parse_keep_alive(*it));
    out.keep_alive_ns = keep;
  }
  if (auto it = body.find("think"); it != body.end() && !it->is_null()) {
    CHIMERA_ASSIGN_OR_RETURN(out.think, parse_ollama_think(*it));
    out.think_asked = "think " + it->dump();
  }
  CHIMERA_ASSIGN_OR_RETURN(auto truncate, optional_bool(body, "truncate", "truncate"));
  out.truncate = truncate.value_or(true);
  CHIMERA_ASSIGN_OR_RETURN(auto logprobs, optional_bool(body, "logprobs", "logprobs"));
  if (logprobs.value_or(false)) return unsupported_field("logprobs", "not implemented");
  return Status::ok();
}

Status reject_images(const Json& object, std::string_view where) {
  if (auto it = object.find("images"); it != object.end() && !it->is_null()) {
    if (!it->is_array()) return make_error(ErrorCode::kInvalidArgument, "{}images must be an array", where);
    if (!it->empty()) return unsupported_field(fmt::format("{}images", where), "the engine runs text models only");
  }
  return Status::ok();
}

Result<GenerationRequest> parse_generate(const Json& body) {
  GenerationRequest out;
  CHIMERA_RETURN_IF_ERROR(parse_common(body, out));
  CHIMERA_ASSIGN_OR_RETURN(auto prompt, optional_string(body, "prompt", "prompt"));
  out.prompt = prompt.value_or("");
  CHIMERA_ASSIGN_OR_RETURN(auto system, optional_string(body, "system", "system"));
  out.system = system.value_or("");
  CHIMERA_ASSIGN_OR_RETURN(auto raw, optional_bool(body, "raw", "raw"));
  out.raw = raw.value_or(false);
  CHIMERA_ASSIGN_OR_RETURN(auto suffix, optional_string(body, "suffix", "suffix"));
  if (suffix && !suffix->empty()) return unsupported_field("suffix", "no fill-in-the-middle template");
  CHIMERA_ASSIGN_OR_RETURN(auto templ, optional_string(body, "template", "template"));
  if (templ && !templ->empty()) {
    return unsupported_field("template", "Go templates are not run here; send raw: true with a rendered prompt");
  }
  CHIMERA_RETURN_IF_ERROR(reject_images(body, ""));
  if (auto it = body.find("context"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return make_error(ErrorCode::kInvalidArgument, "context must be an array of token ids");
    for (const Json& id : *it) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return make_error(ErrorCode::kInvalidArgument, "context must hold token ids (integers >= 0), not {}",
                          json_type_name(id));
      }
      out.context.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  return out;
}

Result<GenerationRequest> parse_chat(const Json& body) {
  GenerationRequest out;
  out.chat = true;
  CHIMERA_RETURN_IF_ERROR(parse_common(body, out));
  if (auto it = body.find("tools"); it != body.end() && !it->is_null() && !(it->is_array() && it->empty())) {
    return unsupported_field("tools", "no tool calling in this engine");
  }
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return out;  // load the model only
  if (!it->is_array()) {
    return make_error(ErrorCode::kInvalidArgument, "messages must be an array, not {}", json_type_name(*it));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) {
      return make_error(ErrorCode::kInvalidArgument, "{} must be an object, not {}", where, json_type_name(m));
    }
    CHIMERA_ASSIGN_OR_RETURN(auto role, optional_string(m, "role", where + ".role"));
    if (!role || (*role != "system" && *role != "user" && *role != "assistant")) {
      return make_error(ErrorCode::kInvalidArgument, "{}.role must be \"system\", \"user\" or \"assistant\"{}", where,
                        role ? fmt::format(", not \"{}\"", *role) : std::string(" (it is missing)"));
    }
    CHIMERA_ASSIGN_OR_RETURN(auto content, optional_string(m, "content", where + ".content"));
    CHIMERA_RETURN_IF_ERROR(reject_images(m, where + "."));
    out.messages.push_back({*role, content.value_or("")});
  }
  return out;
}

// Ollama's stream: one JSON object per line.
class OllamaFormat final : public ResponseFormat {
 public:
  OllamaFormat(bool chat, bool raw) : chat_(chat), raw_(raw) {}
  std::string content_type(bool stream) const override {
    return stream ? "application/x-ndjson" : "application/json; charset=utf-8";
  }

  void text(std::string_view piece, std::string& out) override {
    if (splitter_) {  // a thinking model: the reasoning as thinking, apart from the answer
      const engine::ChannelText split = splitter_->feed(piece);
      if (!split.content.empty() || !split.thinking.empty()) chunk(split.content, split.thinking, out);
      return;
    }
    chunk(piece, {}, out);
  }

  // One streamed object: the answer's piece and, when there is some, the reasoning's.
  void chunk(std::string_view piece, std::string_view thinking, std::string& out) {
    out += "{\"model\":";
    append_json_string(out, model_);
    out += ",\"created_at\":\"" + rfc3339_utc_now() + "\",";
    out += chat_ ? "\"message\":{\"role\":\"assistant\",\"content\":" : "\"response\":";
    append_json_string(out, piece);
    if (!thinking.empty()) {
      out += ",\"thinking\":";
      append_json_string(out, thinking);
    }
    out += chat_ ? "},\"done\":false}\n" : ",\"done\":false}\n";
  }

  void done(const Job& job, const SequenceOutcome& o, std::string& out) override {
    Json final = {{"model", job.model_name}, {"created_at", rfc3339_utc_now()}};
    engine::ChannelText reply;  // streamed: only what the splitter still held, sent as a chunk
    if (!splitter_) {
      if (!streaming_) reply.content = o.text;
    } else if (streaming_) {
      const engine::ChannelText rest = splitter_->flush();
      if (!rest.content.empty() || !rest.thinking.empty()) chunk(rest.content, rest.thinking, out);
    } else {
      reply = splitter_->finish(o.text);
    }
    if (chat_) {
      final["message"] = {{"role", "assistant"}, {"content", reply.content}};
      if (!reply.thinking.empty()) final["message"]["thinking"] = reply.thinking;
    } else {
      final["response"] = reply.content;
      if (!reply.thinking.empty()) final["thinking"] = reply.thinking;
    }
    final["done"] = true;
    final["done_reason"] = o.done_reason;
    if (!chat_ && !raw_) {  // as Ollama: the conversation so far, for the next request's "context"
      std::vector<int32_t> context = job.prepared.request.prompt;
      for (int32_t token : o.tokens) {
        if (!job.lease.model().tokenizer().is_end_of_generation(token)) context.push_back(token);
      }
      final["context"] = context;
    }
    final["total_duration"] = o.done_ns - job.received_ns;
    final["load_duration"] = job.load_ns + o.load_ns;
    // As Ollama: the prompt tokens computed, not those its cache already held.
    final["prompt_eval_count"] = o.prompt_tokens - o.prompt_cached_tokens;
    final["prompt_eval_duration"] = o.prompt_eval_ns;
    final["eval_count"] = o.eval_count;
    final["eval_duration"] = o.eval_ns;
    // Not an Ollama field: how long the request waited for a batch slot (ns), for clients that
    // draw queueing (chimera agents); Ollama clients ignore unknown fields.
    final["queue_duration"] = o.slot_wait_ns;
    out += dump_json(final);
    out += '\n';
  }

  void error(const Status& status, std::string& out) override {
    out += dump_json(Json{{"error", status.message()}});
    out += '\n';
  }

  void set_model(std::string model) { model_ = std::move(model); }
  void set_streaming(bool streaming) { streaming_ = streaming; }
  void set_splitter(std::unique_ptr<engine::ReplySplitter> splitter) {
    splitter_ = std::move(splitter);
  }

 private:
  bool chat_, raw_;
  std::unique_ptr<engine::ReplySplitter> splitter_;  // a thinking model's reasoning and answer
  bool streaming_ = true;
  std::string model_;
};

// Empty prompt / no messages: load (or with keep_alive 0, unload) the model and say so.
void load_only(ServerState& state, const GenerationRequest& request, httplib::Response& res) {
  std::optional<size_t> index = state.registry->find(request.model);
  if (!index) {
    send_ollama_error(res, 404, fmt::format("model '{}' not found", request.model));
    return;
  }
  Json body = {{"model", request.model}, {"created_at", rfc3339_utc_now()}};
  if (request.chat) {
    body["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    body["response"] = "";
  }
  body["done"] = true;
  if (request.keep_alive_ns && *request.keep_alive_ns == 0) {
    state.registry->unload_when_idle(*index);
    body["done_reason"] = "unload";
  } else {
    int64_t load_ns = 0;
    auto lease = state.registry->acquire(*index, load_ns);
    if (!lease.ok()) {
      send_ollama_error(res, http_status_for(lease.status()), lease.status().message());
      return;
    }
    if (request.keep_alive_ns) lease->set_keep_alive_ns(*request.keep_alive_ns);
    body["done_reason"] = "load";
  }
  send_json(res, 200, body);
}

void generate(ServerState& state, const httplib::Request& /*req*/, httplib::Response& res, const std::string& body,
              bool chat) {
  const int64_t received_ns = monotonic_ns();
  auto parsed = parse_json_object(body);
  if (!parsed.ok()) return send_ollama_error(res, 400, parsed.status().message());
  auto request = chat ? parse_chat(*parsed) : parse_generate(*parsed);
  if (!request.ok()) return send_ollama_error(res, http_status_for(request.status()), request.status().message());
  auto grammar = ollama_format(*parsed, body);
  if (!grammar.ok()) return send_ollama_error(res, http_status_for(grammar.status()), grammar.status().message());
  request->grammar = std::move(*grammar);
  note_ignored_options(res, request->ignored_options);
  const bool nothing_to_do = chat ? request->messages.empty() : request->prompt.empty() && request->context.empty();
  if (nothing_to_do) return load_only(state, *request, res);
  auto job = start_generation(state, *request, received_ns);
  if (!job.ok()) return send_ollama_error(res, http_status_for(job.status()), job.status().message());
  auto format = std::make_shared<OllamaFormat>(chat, request->raw);
  format->set_splitter(reply_splitter(**job));
  format->set_model(request->model);
  format->set_streaming(request->stream);
  // Not streaming: one JSON object, still sent chunked so the connection is watched while generating.
  respond_with_job(res, std::move(*job), format, request->stream);
}

Json details_json(const ServedModelView& view) {
  Json details = {{"parent_model", ""}, {"format", "gguf"}};
  std::string arch = view.info ? view.info->architecture : "";
  details["family"] = arch;
  details["families"] = arch.empty() ? Json(nullptr) : Json::array({arch});
  details["parameter_size"] = view.info ? ollama_parameter_size(*view.info) : "";
  details["quantization_level"] = view.info ? ollama_quantization_level(view.info->weight_type) : "";
  return details;
}

void tags(ServerState& state, httplib::Response& res) {
  Json models = Json::array();
  for (size_t i = 0; i < state.registry->size(); ++i) {
    ServedModelView v = state.registry->view(i);
    models.push_back({{"name", normalized_model_name(v.source.name)},
                      {"model", normalized_model_name(v.source.name)},
                      {"modified_at", rfc3339_utc(v.source.modified_unix_ns)},
                      {"size", v.source.file_bytes},
                      {"digest", digest_hex(v.source.digest)},
                      {"details", details_json(v)}});
  }
  send_json(res, 200, Json{{"models", models}});
}

void ps(ServerState& state, httplib::Response& res) {
  Json models = Json::array();
  for (size_t i = 0; i < state.registry->size(); ++i) {
    ServedModelView v = state.registry->view(i);
    if (!v.loaded) continue;
    models.push_back({{"name", normalized_model_name(v.source.name)},
                      {"model", normalized_model_name(v.source.name)},
                      {"size", v.source.file_bytes + static_cast<uint64_t>(v.kv_bytes)},
                      {"digest", digest_hex(v.source.digest)},
                      {"details", details_json(v)},
                      {"expires_at", v.expires_unix_ns > 0 ? rfc3339_utc(v.expires_unix_ns) : "2318-01-01T00:00:00.000000000Z"},
                      {"size_vram", 0},
                      {"context_length", v.n_ctx_per_seq}});
  }
  send_json(res, 200, Json{{"models", models}});
}

void show(ServerState& state, httplib::Response& res, const std::string& body) {
  auto parsed = parse_json_object(body);
  if (!parsed.ok()) return send_ollama_error(res, 400, parsed.status().message());
  auto model = optional_string(*parsed, "model", "model");
  if (!model.ok()) return send_ollama_error(res, 400, model.status().message());
  std::optional<std::string> name = *model;
  if (!name) {  // servers before 0.1.4x called it "name"
    auto legacy = optional_string(*parsed, "name", "name");
    if (!legacy.ok()) return send_ollama_error(res, 400, legacy.status().message());
    name = *legacy;
  }
  if (!name || name->empty()) return send_ollama_error(res, 400, "model is required");
  std::optional<size_t> index = state.registry->find(*name);
  if (!index) return send_ollama_error(res, 404, fmt::format("model '{}' not found", *name));
  ServedModelView v = state.registry->view(*index);
  Json out;
  out["modelfile"] = ollama_modelfile(v);
  out["parameters"] = ollama_parameters_text(v.defaults);
  out["template"] = v.source.template_text.value_or("");
  if (v.source.system_text) out["system"] = *v.source.system_text;
  out["details"] = details_json(v);
  out["model_info"] = v.info ? ollama_model_info(*v.info) : Json::object();
  // Before the first load the header's mark still tells a client it is talking to dummy weights.
  out["model_info"]["chimera.synthetic"] = v.source.synthetic || (v.info && v.info->synthetic);
  if (!out["model_info"].contains("general.name") && !v.source.general_name.empty()) {
    out["model_info"]["general.name"] = v.source.general_name;
  }
  out["capabilities"] = Json::array({"completion"});
  // As Ollama: clients (the ollama CLI, Open WebUI) send think only to models that say they can.
  if (engine::has_thinking_mode(engine::chat_family_for_architecture(v.source.architecture))) {
    out["capabilities"].push_back("thinking");
  }
  out["modified_at"] = rfc3339_utc(v.source.modified_unix_ns);
  send_json(res, 200, out);
}

}  // namespace

void register_ollama_api(httplib::Server& http, ServerState& state) {
  post_with_body(http, state, "/api/generate", false,
                 [&state](const httplib::Request& req, httplib::Response& res, const std::string& body) {
                   generate(state, req, res, body, /*chat=*/false);
                 });
  post_with_body(http, state, "/api/chat", false,
                 [&state](const httplib::Request& req, httplib::Response& res, const std::string& body) {
                   generate(state, req, res, body, /*chat=*/true);
                 });
  post_with_body(http, state, "/api/show", false,
                 [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
                   show(state, res, body);
                 });
  http.Get("/api/tags", [&state](const httplib::Request&, httplib::Response& res) { tags(state, res); });
  http.Get("/api/ps", [&state](const httplib::Request&, httplib::Response& res) { ps(state, res); });
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, Json{{"version", build_info().version}});
  });
  // Clients probe this to see whether a server is up; HEAD is answered by the same handler.
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("Ollama is running", "text/plain; charset=utf-8");
  });
}

}  // namespace chimera::server
