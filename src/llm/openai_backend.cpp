#include "llm/openai_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "llm/http_call.h"
#include "llm/json_fields.h"
#include "llm/ndjson.h"
#include "llm/openai_stream.h"
#include "llm/output_schema.h"
#include "llm/stream_record.h"
#include "llm/wire_json.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

using nlohmann::json;
namespace jf = json_fields;

constexpr std::string_view kHint =
    "is the server running? (vLLM: vllm serve MODEL; llama.cpp: llama-server -m MODEL.gguf --port "
    "PORT; Ollama: ollama serve, with openai://host:11434)";

std::vector<std::string> auth_headers(const std::string& configured) {
  std::string key = configured;
  if (key.empty()) {
    const char* env = std::getenv("OPENAI_API_KEY");
    if (env != nullptr) key = env;
  }
  if (key.empty()) return {};
  return {"Authorization: Bearer " + key};
}

// TGI names its grammar field differently ({"type": "json", "value": schema}); the rest take
// OpenAI's response_format.
bool accepts_response_format(OpenAIFlavor flavor) { return flavor != OpenAIFlavor::kTgi; }

bool accepts_sampling_extensions(OpenAIFlavor flavor) {
  return flavor == OpenAIFlavor::kVllm || flavor == OpenAIFlavor::kLlamaCpp ||
         flavor == OpenAIFlavor::kSglang;
}

}  // namespace

std::string_view openai_flavor_name(OpenAIFlavor flavor) {
  switch (flavor) {
    case OpenAIFlavor::kUnknown:
      return "an unidentified OpenAI-compatible server";
    case OpenAIFlavor::kVllm:
      return "vLLM";
    case OpenAIFlavor::kLlamaCpp:
      return "llama.cpp server";
    case OpenAIFlavor::kSglang:
      return "SGLang";
    case OpenAIFlavor::kTgi:
      return "TGI";
    case OpenAIFlavor::kOllama:
      return "Ollama /v1";
  }
  return "unknown";
}

OpenAIRequestPlan plan_openai_request(const Request& request, const std::string& model, bool chat,
                                      OpenAIFlavor flavor) {
  OpenAIRequestPlan plan;
  nlohmann::ordered_json body = nlohmann::ordered_json::object();
  if (!model.empty()) body["model"] = model;
  if (chat) {
    json messages = json::array();
    bool has_system = std::any_of(request.messages.begin(), request.messages.end(),
                                  [](const Message& m) { return m.role == "system"; });
    if (!request.system.empty() && !has_system) {
      messages.push_back({{"role", "system"}, {"content", request.system}});
    }
    if (request.messages.empty()) {
      messages.push_back({{"role", "user"}, {"content", request.prompt}});
    }
    for (const Message& message : request.messages) {
      messages.push_back({{"role", message.role}, {"content", message.content}});
    }
    body["messages"] = std::move(messages);
  } else {
    body["prompt"] = request.prompt;
    if (!request.system.empty()) {
      plan.warnings.push_back(
          "a raw prompt goes to /v1/completions as is; the system text was not sent");
    }
  }
  body["stream"] = request.stream;
  if (request.stream) {
    body["stream_options"] = {{"include_usage", true}};
    // vLLM can put a cumulative usage on every chunk: exact tokens per chunk.
    if (flavor == OpenAIFlavor::kVllm) body["stream_options"]["continuous_usage_stats"] = true;
  }

  const Options& o = request.options;
  const bool extensions = accepts_sampling_extensions(flavor);
  std::vector<std::string> launch_only, unsupported;
  auto note = [](std::vector<std::string>& list, std::string_view name, const auto& value) {
    list.push_back(fmt::format("{}={}", name, value));
  };
  if (o.num_predict) {
    if (*o.num_predict > 0) {
      body["max_tokens"] = *o.num_predict;
      plan.applied.num_predict = o.num_predict;
    } else {
      note(unsupported, "num_predict", *o.num_predict);
    }
  }
  if (o.temperature) {
    body["temperature"] = *o.temperature;
    plan.applied.temperature = o.temperature;
  }
  if (o.top_p) {
    body["top_p"] = *o.top_p;
    plan.applied.top_p = o.top_p;
  }
  if (o.seed) {
    body["seed"] = *o.seed;
    plan.applied.seed = o.seed;
  }
  if (o.stop) {
    body["stop"] = *o.stop;
    plan.applied.stop = o.stop;
  }
  if (o.top_k) {
    if (extensions) {
      body["top_k"] = *o.top_k;
      plan.applied.top_k = o.top_k;
    } else {
      note(unsupported, "top_k", *o.top_k);
    }
  }
  if (o.min_p) {
    if (extensions) {
      body["min_p"] = *o.min_p;
      plan.applied.min_p = o.min_p;
    } else {
      note(unsupported, "min_p", *o.min_p);
    }
  }
  if (o.repeat_penalty) {
    if (extensions) {
      // llama.cpp names it as Ollama does; vLLM and SGLang as Hugging Face does.
      body[flavor == OpenAIFlavor::kLlamaCpp ? "repeat_penalty" : "repetition_penalty"] =
          *o.repeat_penalty;
      plan.applied.repeat_penalty = o.repeat_penalty;
    } else {
      note(unsupported, "repeat_penalty", *o.repeat_penalty);
    }
  }
  if (o.repeat_last_n) {
    if (flavor == OpenAIFlavor::kLlamaCpp) {
      body["repeat_last_n"] = *o.repeat_last_n;
      plan.applied.repeat_last_n = o.repeat_last_n;
    } else {
      note(unsupported, "repeat_last_n", *o.repeat_last_n);
    }
  }
  for (const auto& [name, literal] : o.extra) note(unsupported, name, literal);
  if (o.num_ctx) note(launch_only, "num_ctx", *o.num_ctx);
  if (o.num_batch) note(launch_only, "num_batch", *o.num_batch);
  if (o.num_thread) note(launch_only, "num_thread", *o.num_thread);
  if (o.num_gpu) note(launch_only, "num_gpu", *o.num_gpu);
  if (request.ignore_eos) {
    if (extensions) {
      body["ignore_eos"] = true;
    } else {
      plan.warnings.push_back(
          fmt::format("{} cannot ignore end-of-sequence; the answer may stop before "
                      "num_predict tokens",
                      openai_flavor_name(flavor)));
    }
  }
  auto schema = parse_output_schema(request.output_schema);
  if (!schema.ok()) {
    plan.error = schema.status();
  } else if (*schema && !accepts_response_format(flavor)) {
    plan.warnings.push_back(output_schema_not_applied(openai_flavor_name(flavor)));
  } else if (*schema && (*schema)->json_object) {
    body["response_format"] = {{"type", "json_object"}};
  } else if (*schema) {
    // No "strict": servers that constrain decoding (vLLM, llama.cpp, SGLang, Ollama) always do;
    // OpenAI's strict mode would refuse schemas with optional properties.
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", "output"}, {"schema", (*schema)->schema}}}};
  }
  if (!launch_only.empty()) {
    plan.warnings.push_back(fmt::format(
        "not applied: {} (an OpenAI-compatible server fixes these when it starts; set them there)",
        join(launch_only, ", ")));
  }
  if (!unsupported.empty()) {
    plan.warnings.push_back(
        fmt::format("not applied: {} ({} has no such request field; its own "
                    "default is in force)",
                    join(unsupported, ", "), openai_flavor_name(flavor)));
  }

  std::map<std::string, std::string> requested, sent;
  for (const auto& [name, value] : o.items()) requested[name] = value;
  for (const auto& [name, value] : plan.applied.items()) sent[name] = value;
  for (std::string_view option : option_names()) {
    std::string key(option);
    plan.option_sources[key] = sent.count(key)        ? std::string(kOptionSent)
                               : requested.count(key) ? std::string(kOptionNotApplied)
                                                      : std::string(kOptionBackendDefault);
  }
  plan.body = json_text(body);
  return plan;
}

OpenAIBackend::OpenAIBackend(OpenAIBackendConfig config)
    : config_(std::move(config)),
      pool_(config_.base_url, std::string(kHint), auth_headers(config_.api_key)) {
  if (config_.flavor) flavor_ = static_cast<int>(*config_.flavor);
}

std::string OpenAIBackend::name() const {
  const std::string& url = config_.base_url;
  if (starts_with(url, "http://")) return "openai://" + url.substr(7);
  if (starts_with(url, "https://")) return "openai+https://" + url.substr(8);
  return "openai://" + url;
}

BackendCapabilities OpenAIBackend::capabilities() const {
  int known = flavor_.load();
  auto flavor = known < 0 ? OpenAIFlavor::kUnknown : static_cast<OpenAIFlavor>(known);
  BackendCapabilities caps;
  caps.server_timings = flavor == OpenAIFlavor::kLlamaCpp;
  caps.ignore_eos = accepts_sampling_extensions(flavor);
  caps.exact_token_counts = accepts_sampling_extensions(flavor);  // these report usage in streams
  caps.seed = true;
  caps.structured_output = accepts_response_format(flavor);
  return caps;
}

std::map<std::string, std::string> OpenAIBackend::options_not_applied(const Options& options) {
  const OpenAIFlavor server = flavor();
  Request probe;
  probe.options = options;
  OpenAIRequestPlan plan = plan_openai_request(probe, "", /*chat=*/true, server);
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : options.items()) {
    if (plan.option_sources.count(name) && plan.option_sources.at(name) != kOptionNotApplied) {
      continue;
    }
    if (name == "num_ctx" || name == "num_batch" || name == "num_thread" || name == "num_gpu") {
      out[name] =
          "an OpenAI-compatible server fixes it when it starts (vLLM --max-model-len, llama.cpp "
          "--ctx-size/--threads/--n-gpu-layers); it cannot be sent per request";
    } else {
      out[name] = fmt::format("{} has no such request field", openai_flavor_name(server));
    }
  }
  return out;
}

OpenAIFlavor OpenAIBackend::flavor() {
  auto client = pool_.acquire();
  return flavor(*client, metadata_call({}));
}

OpenAIFlavor OpenAIBackend::flavor(HttpClient& client, const HttpCallOptions& base) {
  int known = flavor_.load();
  if (known >= 0) return static_cast<OpenAIFlavor>(known);
  std::lock_guard<std::mutex> lock(flavor_mutex_);
  known = flavor_.load();
  if (known >= 0) return static_cast<OpenAIFlavor>(known);
  HttpCallOptions call = base;
  call.max_attempts = 1;
  HttpResponse models = client.get("/v1/models", call);
  // Unreachable, busy or failing (5xx, 429 past the retry budget): ask again next time rather than
  // remember a guess made from an error page.
  if (!models.status.is_ok() || models.http_status >= 500 || models.http_status == 429) {
    return OpenAIFlavor::kUnknown;
  }
  OpenAIFlavor detected = OpenAIFlavor::kUnknown;
  json body = parse_wire_json(models.body).value_or(json());
  if (const json* data = jf::find(body, "data");
      data != nullptr && data->is_array() && !data->empty()) {
    std::string owner = to_lower(jf::get_string((*data)[0], "owned_by"));
    if (owner == "vllm") detected = OpenAIFlavor::kVllm;
    if (owner == "llamacpp") detected = OpenAIFlavor::kLlamaCpp;
    if (owner == "sglang") detected = OpenAIFlavor::kSglang;
  }
  if (detected == OpenAIFlavor::kUnknown) {
    json version = parse_wire_json(client.get("/api/version", call).body).value_or(json());
    json info = parse_wire_json(client.get("/info", call).body).value_or(json());
    if (!jf::get_string(version, "version").empty()) {
      detected = OpenAIFlavor::kOllama;
    } else if (jf::get_string(info, "router").find("text-generation") != std::string::npos) {
      detected = OpenAIFlavor::kTgi;
    }
  }
  flavor_ = static_cast<int>(detected);
  log::debug("{} is {}", name(), openai_flavor_name(detected));
  return detected;
}

namespace {

// The model a /v1/models list names `model`. Servers that list Ollama-style names (Ollama's /v1,
// chimera serve) take "gemma3" for "gemma3:latest", as Ollama does.
const ModelDescription* find_listed(const std::vector<ModelDescription>& models,
                                    const std::string& model) {
  for (const ModelDescription& description : models) {
    if (description.entry.name == model) return &description;
  }
  if (model.find(':') == std::string::npos) {
    for (const ModelDescription& description : models) {
      if (description.entry.name == model + ":latest") return &description;
    }
  }
  return nullptr;
}

}  // namespace

bool OpenAIBackend::listed_synthetic(HttpClient& client, const HttpCallOptions& call,
                                     const std::string& model) {
  std::lock_guard<std::mutex> lock(listed_mutex_);
  if (!listed_) {
    auto models = models_with(client, call);
    if (!models.ok()) return false;  // the call itself will say what is wrong with the server
    listed_ = std::move(*models);
  }
  const ModelDescription* listed = find_listed(*listed_, model);
  return listed != nullptr && listed->entry.synthetic;
}

Result<std::vector<ModelDescription>> OpenAIBackend::models_with(HttpClient& client,
                                                                 const HttpCallOptions& call) {
  std::string url = config_.base_url + "/v1/models";
  CHIMERA_ASSIGN_OR_RETURN(json body, parse_json_body(client.get("/v1/models", call), url));
  std::vector<ModelDescription> models;
  const json* data = jf::find(body, "data");
  if (data == nullptr || !data->is_array()) return models;
  for (const json& item : *data) {
    ModelDescription description;
    description.entry.name = jf::get_string(item, "id");
    description.context_length = jf::get_int(item, "max_model_len");  // vLLM
    if (const json* meta = jf::find(item, "meta"); meta != nullptr) {
      if (!description.context_length) {
        description.context_length = jf::get_int(*meta, "n_ctx_train");  // llama.cpp
      }
      description.entry.synthetic = jf::is_dummy_weight_model(*meta);  // chimera serve's mark
    }
    std::string owner = jf::get_string(item, "owned_by");
    if (!owner.empty()) description.details["owned_by"] = owner;
    models.push_back(std::move(description));
  }
  return models;
}

Result<std::vector<ModelEntry>> OpenAIBackend::list_models() {
  auto client = pool_.acquire();
  CHIMERA_ASSIGN_OR_RETURN(auto models, models_with(*client, metadata_call({})));
  std::vector<ModelEntry> entries;
  for (const ModelDescription& model : models) entries.push_back(model.entry);
  return entries;
}

Result<ModelDescription> OpenAIBackend::describe(const std::string& model) {
  auto client = pool_.acquire();
  CHIMERA_ASSIGN_OR_RETURN(auto models, models_with(*client, metadata_call({})));
  if (const ModelDescription* listed = find_listed(models, model)) return *listed;
  return unknown_model_error(model, Status(ErrorCode::kNotFound, "not in /v1/models"));
}

Status OpenAIBackend::unknown_model_error(const std::string& model, const Status& cause) {
  auto models = list_models();
  std::string available = "the model list could not be read either";
  if (models.ok()) {
    std::vector<std::string> names;
    for (const ModelEntry& entry : *models) names.push_back(entry.name);
    available =
        names.empty() ? "this server lists no models" : "this server has: " + join(names, ", ");
  }
  return make_error(ErrorCode::kNotFound, "{}: model '{}' not found ({}); {}", name(), model,
                    cause.message(), available);
}

Result<std::string> OpenAIBackend::resolve_model(HttpClient& client, const Request& request,
                                                 const HttpCallOptions& call) {
  if (!request.model.empty()) return request.model;
  if (!config_.model.empty()) return config_.model;
  CHIMERA_ASSIGN_OR_RETURN(auto models, models_with(client, call));
  if (models.size() == 1) return models[0].entry.name;
  std::vector<std::string> names;
  for (const ModelDescription& model : models) names.push_back(model.entry.name);
  return make_error(ErrorCode::kInvalidArgument,
                    "{} serves {} models ({}); name one: openai://host:port/MODEL", name(),
                    models.size(), join(names, ", "));
}

CallRecord OpenAIBackend::generate(const Request& request, const OnText& on_text) {
  CallRecord record;
  record.backend = name();
  const bool chat = !request.messages.empty() || !request.raw;
  record.endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  record.options_requested = request.options;
  record.wall_start_unix_ms = unix_time_ms();
  const HttpCallOptions call = call_options(request);
  auto client = pool_.acquire();
  client->take_retries();  // this call's retries only, from here on
  const OpenAIFlavor server = flavor(*client, metadata_call(call));
  auto model = resolve_model(*client, request, metadata_call(call));
  if (!model.ok()) {
    note_retries(record, client->take_retries());
    fail_record(record, model.status());
    return record;
  }
  record.model = *model;
  // chimera serve marks a dummy-weight model: every figure from it is synthetic.
  if (listed_synthetic(*client, metadata_call(call), record.model)) record.synthetic_model = true;

  OpenAIRequestPlan plan = plan_openai_request(request, record.model, chat, server);
  if (!plan.error.is_ok()) {
    fail_record(record, plan.error);
    return record;
  }
  record.options_applied = plan.applied;
  record.option_sources = plan.option_sources;
  record.warnings = plan.warnings;
  const bool per_chunk_usage = request.stream && server == OpenAIFlavor::kVllm;
  OpenAIStreamDecoder decoder(record, chat, per_chunk_usage, on_text);
  decoder.recorder().reserve(request.options.num_predict.value_or(256));
  Status decode_status;
  HttpResponse response;
  if (request.stream) {
    HttpCallOptions stream_call = call;
    stream_call.accept = "text/event-stream";
    response = client->post_stream(
        record.endpoint, plan.body,
        [&](std::string_view bytes, int64_t now_ns) {
          decode_status = decoder.feed(bytes, now_ns);
          return decode_status.is_ok();
        },
        stream_call);
  } else {
    response = client->post_json(record.endpoint, plan.body, call);
    if (response.ok()) decode_status = decoder.decode_whole(response.body, response.t_done_ns);
  }
  adopt_transport(record, response, client->take_retries());
  const std::string url = config_.base_url + record.endpoint;
  Status outcome = http_call_outcome(
      record, response, decode_status,
      [&] { return request.stream ? decoder.finish(response.t_done_ns) : Status::ok(); }, url,
      request.stream ? "text/event-stream" : "application/json");
  if (!outcome.is_ok() && response.status.is_ok() && response.http_status == 404) {
    outcome = unknown_model_error(record.model, outcome);
  }
  record.ok = outcome.is_ok();
  if (!outcome.is_ok()) fail_record(record, outcome);
  validate_server_timings(record, kLlamaCppFields);
  std::optional<int64_t> server_count =
      checked_generated_count(record, decoder.completion_tokens(), "usage.completion_tokens");
  if (!server_count) server_count = record.server.eval_count;  // llama.cpp "timings"
  settle_token_count(record, server_count);
  if (record.ok && !server_count) {
    record.warnings.push_back(fmt::format(
        "{} reported no token usage (stream_options.include_usage unsupported, as in Ollama before "
        "0.5.2); the token count is the number of streamed chunks, a lower bound",
        openai_flavor_name(server)));
  }
  log::debug("{} {}: {}", name(), record.endpoint, describe_record(record));
  return record;
}

std::optional<int64_t> OpenAIBackend::count_prompt_tokens(const Request& request) {
  OpenAIFlavor server = flavor();
  auto client = pool_.acquire();
  HttpCallOptions call = metadata_call(call_options(request));
  if (server == OpenAIFlavor::kVllm) {
    auto model = resolve_model(*client, request, call);
    if (!model.ok()) return std::nullopt;
    json body = {{"model", *model}};
    if (request.messages.empty() && request.raw) {
      body["prompt"] = request.prompt;
    } else {
      OpenAIRequestPlan plan = plan_openai_request(request, *model, /*chat=*/true, server);
      body["messages"] = json::parse(plan.body)["messages"];
    }
    auto parsed = parse_json_body(client->post_json("/tokenize", json_text(body), call),
                                  config_.base_url + "/tokenize");
    if (!parsed.ok()) return std::nullopt;
    return jf::get_int(*parsed, "count");
  }
  if (server == OpenAIFlavor::kLlamaCpp && request.messages.empty() && request.raw) {
    json body = {{"content", request.prompt}, {"add_special", true}};
    auto parsed = parse_json_body(client->post_json("/tokenize", json_text(body), call),
                                  config_.base_url + "/tokenize");
    if (!parsed.ok()) return std::nullopt;
    const json* tokens = jf::find(*parsed, "tokens");
    if (tokens == nullptr || !tokens->is_array()) return std::nullopt;
    return static_cast<int64_t>(tokens->size());
  }
  return std::nullopt;
}

Result<std::string> OpenAIBackend::version() {
  OpenAIFlavor server = flavor();
  auto client = pool_.acquire();
  HttpCallOptions call = metadata_call({});
  std::string path = server == OpenAIFlavor::kVllm     ? "/version"
                     : server == OpenAIFlavor::kOllama ? "/api/version"
                     : server == OpenAIFlavor::kTgi    ? "/info"
                                                       : "";
  if (path.empty()) {
    return make_error(ErrorCode::kUnsupported, "{} ({}) does not report a version", name(),
                      openai_flavor_name(server));
  }
  CHIMERA_ASSIGN_OR_RETURN(json body,
                           parse_json_body(client->get(path, call), config_.base_url + path));
  std::string version = jf::get_string(body, "version");
  if (version.empty())
    return make_error(ErrorCode::kParseError, "{}{} has no \"version\"", config_.base_url, path);
  return version;
}

}  // namespace chimera::llm
