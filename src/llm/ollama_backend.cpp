#include "llm/ollama_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "llm/http_call.h"
#include "llm/json_fields.h"
#include "llm/ollama_stream.h"
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

constexpr std::string_view kHint = "is Ollama running? start it with: ollama serve";
// Dense text runs about 4 bytes per token; a prompt evaluated at more than this many bytes per
// token most likely lost its head to truncation.
constexpr int64_t kMaxPlausibleBytesPerToken = 16;
constexpr int64_t kMinBytesForTruncationCheck = 2048;

std::string with_latest(std::string_view name) {
  return name.find(':') == std::string_view::npos ? std::string(name) + ":latest"
                                                  : std::string(name);
}

size_t prompt_bytes(const Request& request) {
  size_t bytes = request.prompt.size() + request.system.size();
  for (const Message& message : request.messages) bytes += message.content.size();
  return bytes;
}

// Ollama's parameter values are Go-quoted strings or bare words and numbers.
std::string unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_string()) return parsed.get<std::string>();
    return std::string(value.substr(1, value.size() - 2));
  }
  return std::string(value);
}

}  // namespace

bool same_ollama_model(std::string_view a, std::string_view b) {
  return with_latest(a) == with_latest(b);
}

Options parse_ollama_parameters(std::string_view text, std::map<std::string, std::string>* other) {
  Options options;
  std::vector<std::string> stops;
  for (const std::string& raw_line : split(text, '\n')) {
    std::string_view line = trim(raw_line);
    if (line.empty()) continue;
    size_t gap = line.find_first_of(" \t");
    if (gap == std::string_view::npos) continue;
    std::string name(line.substr(0, gap));
    std::string value = unquote(trim(line.substr(gap)));
    if (name == "stop") {
      stops.push_back(value);
      continue;
    }
    bool known =
        std::find(option_names().begin(), option_names().end(), name) != option_names().end();
    if (!known || !options.set(name, value).is_ok()) {
      if (other != nullptr) (*other)[name] = value;
    }
  }
  if (!stops.empty()) options.stop = stops;
  return options;
}

OllamaBackend::OllamaBackend(OllamaBackendConfig config)
    : config_(std::move(config)), pool_(config_.base_url, std::string(kHint)) {}

std::string OllamaBackend::name() const {
  std::string host = config_.base_url;
  if (starts_with(host, "http://")) return "ollama://" + host.substr(7);
  if (starts_with(host, "https://")) return "ollama+https://" + host.substr(8);
  return "ollama://" + host;
}

BackendCapabilities OllamaBackend::capabilities() const {
  BackendCapabilities caps;
  caps.server_timings = true;
  caps.ignore_eos = false;  // Ollama has no such option
  caps.exact_token_counts = true;
  caps.seed = true;
  caps.structured_output = true;  // "format": "json" or a schema
  return caps;
}

Result<std::vector<ModelEntry>> OllamaBackend::list_models() {
  auto client = pool_.acquire();
  std::string url = config_.base_url + "/api/tags";
  CHIMERA_ASSIGN_OR_RETURN(json body,
                           parse_json_body(client->get("/api/tags", metadata_call({})), url));
  std::vector<ModelEntry> models;
  const json* list = jf::find(body, "models");
  if (list == nullptr || !list->is_array()) return models;
  for (const json& item : *list) {
    ModelEntry entry;
    entry.name = jf::get_string(item, "name");
    if (entry.name.empty()) entry.name = jf::get_string(item, "model");
    entry.size_bytes =
        static_cast<uint64_t>(std::max<int64_t>(0, jf::get_int(item, "size").value_or(0)));
    if (const json* details = jf::find(item, "details")) {
      entry.family = jf::get_string(*details, "family");
      entry.parameter_size = jf::get_string(*details, "parameter_size");
      entry.quantization = jf::get_string(*details, "quantization_level");
    }
    models.push_back(std::move(entry));
  }
  return models;
}

Result<ModelDescription> OllamaBackend::describe(const std::string& model) {
  auto client = pool_.acquire();
  auto described = describe_with(*client, model, metadata_call({}));
  if (!described.ok() && described.status().code() == ErrorCode::kNotFound) {
    return unknown_model_error(model, described.status());
  }
  return described;
}

Result<ModelDescription> OllamaBackend::describe_with(HttpClient& client, const std::string& model,
                                                      const HttpCallOptions& call) {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = described_.find(with_latest(model));
    if (it != described_.end()) return it->second;
  }
  json request = {{"model", model}, {"name", model}};  // "name" for servers before 0.1.4x
  std::string url = config_.base_url + "/api/show";
  HttpResponse response = client.post_json("/api/show", json_text(request), call);
  if (response.status.is_ok() && response.http_status == 404 &&
      !parse_wire_json(response.body).value_or(json()).contains("error")) {
    // A 404 without Ollama's error object: the endpoint is missing (a proxy, an imitation), not the
    // model.
    return make_error(ErrorCode::kUnsupported, "{} answered 404 without an error object", url);
  }
  CHIMERA_ASSIGN_OR_RETURN(json body, parse_json_body(response, url));

  ModelDescription description;
  description.entry.name = model;
  std::map<std::string, std::string> other;
  description.defaults = parse_ollama_parameters(jf::get_string(body, "parameters"), &other);
  for (const auto& [key, value] : other) description.details["parameter." + key] = value;
  description.template_text = jf::get_string(body, "template");
  if (const json* details = jf::find(body, "details"); details != nullptr && details->is_object()) {
    for (const auto& [key, value] : details->items()) {
      if (value.is_string()) {
        description.details[key] = value.get<std::string>();
      } else if (value.is_array()) {
        std::vector<std::string> parts;
        for (const json& part : value) {
          if (part.is_string()) parts.push_back(part.get<std::string>());
        }
        description.details[key] = join(parts, ",");
      }
    }
    description.entry.family = jf::get_string(*details, "family");
    description.entry.parameter_size = jf::get_string(*details, "parameter_size");
    description.entry.quantization = jf::get_string(*details, "quantization_level");
  }
  if (const json* info = jf::find(body, "model_info"); info != nullptr && info->is_object()) {
    // chimera serve marks a dummy-weight model (reports label every figure from it synthetic).
    description.entry.synthetic = jf::is_dummy_weight_model(*info);
    std::string general_name = jf::get_string(*info, "general.name");
    if (!general_name.empty()) description.details["general.name"] = general_name;
    std::string arch = jf::get_string(*info, "general.architecture");
    description.context_length = jf::get_int(*info, arch + ".context_length");
    for (auto it = info->begin(); !description.context_length && it != info->end(); ++it) {
      if (ends_with(it.key(), ".context_length"))
        description.context_length = jf::get_int(*info, it.key());
    }
    if (!arch.empty()) description.details["architecture"] = arch;
    // The layer count decides which num_gpu values are the same in effect (Ollama offloads
    // block_count + 1 layers, the output layer included); chimera serve says it runs on the CPU.
    if (auto blocks = jf::get_int(*info, arch + ".block_count")) {
      description.details["n_layer"] = std::to_string(*blocks);
    }
    if (const json* cpu = jf::find(*info, "chimera.cpu_only"); cpu != nullptr && cpu->is_boolean()) {
      description.details["cpu_only"] = cpu->get<bool>() ? "true" : "false";
    }
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  described_[with_latest(model)] = description;
  return description;
}

Result<std::string> OllamaBackend::version() {
  auto client = pool_.acquire();
  std::string url = config_.base_url + "/api/version";
  CHIMERA_ASSIGN_OR_RETURN(json body,
                           parse_json_body(client->get("/api/version", metadata_call({})), url));
  std::string version = jf::get_string(body, "version");
  if (version.empty())
    return make_error(ErrorCode::kParseError, "{} has no \"version\" field", url);
  return version;
}

Result<std::vector<std::string>> OllamaBackend::loaded_models() {
  auto client = pool_.acquire();
  return loaded_with(*client, metadata_call({}));
}

Result<std::vector<std::string>> OllamaBackend::loaded_with(HttpClient& client,
                                                            const HttpCallOptions& call) {
  std::string url = config_.base_url + "/api/ps";
  CHIMERA_ASSIGN_OR_RETURN(json body, parse_json_body(client.get("/api/ps", call), url));
  std::vector<std::string> names;
  if (const json* list = jf::find(body, "models"); list != nullptr && list->is_array()) {
    for (const json& item : *list) {
      std::string name = jf::get_string(item, "name");
      if (name.empty()) name = jf::get_string(item, "model");
      if (!name.empty()) names.push_back(name);
    }
  }
  return names;
}

Status OllamaBackend::unknown_model_error(const std::string& model, const Status& cause) {
  auto models = list_models();
  std::string available;
  if (models.ok()) {
    std::vector<std::string> names;
    for (const ModelEntry& entry : *models) names.push_back(entry.name);
    available =
        names.empty() ? "this server has no models" : "this server has: " + join(names, ", ");
  } else {
    available = "the model list could not be read either";
  }
  return make_error(ErrorCode::kNotFound,
                    "{}: model '{}' not found ({}); {}; pull it with: ollama pull {}", name(),
                    model, cause.message(), available, model);
}

Result<std::string> OllamaBackend::build_body(const Request& request, const std::string& model,
                                              bool chat) const {
  nlohmann::ordered_json body = {{"model", model}, {"stream", request.stream}};
  if (chat) {
    json messages = json::array();
    bool has_system = std::any_of(request.messages.begin(), request.messages.end(),
                                  [](const Message& m) { return m.role == "system"; });
    if (!request.system.empty() && !has_system) {
      messages.push_back({{"role", "system"}, {"content", request.system}});
    }
    for (const Message& message : request.messages) {
      messages.push_back({{"role", message.role}, {"content", message.content}});
    }
    body["messages"] = std::move(messages);
  } else {
    body["prompt"] = request.prompt;
    if (!request.system.empty()) body["system"] = request.system;
    if (request.raw) body["raw"] = true;
  }
  if (!request.options.empty()) body["options"] = json::parse(request.options.to_json());
  // Ollama's structured output: "json", or the schema itself (Ollama 0.5 and later).
  CHIMERA_ASSIGN_OR_RETURN(auto schema, parse_output_schema(request.output_schema));
  if (schema) body["format"] = schema->json_object ? nlohmann::ordered_json("json") : schema->schema;
  if (request.keep_alive.has_value()) {
    // Ollama takes a duration ("5m") or seconds as a number ("0" unloads at once).
    if (auto seconds = parse_int(*request.keep_alive)) {
      body["keep_alive"] = *seconds;
    } else {
      body["keep_alive"] = *request.keep_alive;
    }
  }
  return json_text(body);
}

CallRecord OllamaBackend::generate(const Request& request, const OnText& on_text) {
  CallRecord record;
  record.backend = name();
  record.model = request.model.empty() ? config_.model : request.model;
  const bool chat = !request.messages.empty();
  record.endpoint = chat ? "/api/chat" : "/api/generate";
  record.options_requested = request.options;
  record.wall_start_unix_ms = unix_time_ms();
  if (record.model.empty()) {
    fail_record(record, Status(ErrorCode::kInvalidArgument,
                               "no model named: use ollama://host:port/MODEL or give a model"));
    return record;
  }
  if (request.ignore_eos) {
    record.warnings.push_back(
        "Ollama cannot ignore end-of-sequence; the answer may stop before "
        "num_predict tokens");
  }
  auto client = pool_.acquire();
  client->take_retries();  // this call's retries only, from here on
  const HttpCallOptions call = call_options(request);

  std::optional<ModelDescription> description;
  auto described = describe_with(*client, record.model, metadata_call(call));
  if (described.ok()) {
    description = std::move(*described);
    // chimera serve marks a dummy-weight model: every figure from it is synthetic.
    if (description->entry.synthetic) record.synthetic_model = true;
  } else if (described.status().code() == ErrorCode::kNotFound) {
    fail_record(record, unknown_model_error(record.model, described.status()));
    return record;
  } else if (described.status().code() == ErrorCode::kUnavailable ||
             described.status().code() == ErrorCode::kCancelled) {
    note_retries(record, client->take_retries());
    fail_record(record, described.status());
    return record;
  } else {
    record.warnings.push_back("the model's default parameters are unknown: " +
                              described.status().message());
  }
  std::optional<bool> was_loaded;
  if (config_.check_residency) {
    auto loaded = loaded_with(*client, metadata_call(call));
    if (loaded.ok()) {
      was_loaded = std::any_of(loaded->begin(), loaded->end(), [&](const std::string& n) {
        return same_ollama_model(n, record.model);
      });
    }
  }

  auto built = build_body(request, record.model, chat);
  if (!built.ok()) {
    fail_record(record, built.status());
    return record;
  }
  const std::string body = std::move(*built);
  OllamaStreamDecoder decoder(record, on_text);
  decoder.recorder().reserve(request.options.num_predict.value_or(256));
  Status decode_status;
  HttpResponse response;
  if (request.stream) {
    HttpCallOptions stream_call = call;
    stream_call.accept = "application/x-ndjson";
    response = client->post_stream(
        record.endpoint, body,
        [&](std::string_view bytes, int64_t now_ns) {
          decode_status = decoder.feed(bytes, now_ns);
          return decode_status.is_ok();
        },
        stream_call);
  } else {
    response = client->post_json(record.endpoint, body, call);
    if (response.ok()) decode_status = decoder.feed(response.body, response.t_done_ns);
  }
  adopt_transport(record, response, client->take_retries());
  const std::string url = config_.base_url + record.endpoint;
  Status outcome = http_call_outcome(
      record, response, decode_status, [&] { return decoder.finish(response.t_done_ns); }, url,
      request.stream ? "application/x-ndjson" : "application/json");
  if (!outcome.is_ok() && response.status.is_ok() && response.http_status == 404) {
    outcome = unknown_model_error(record.model, outcome);
  }
  record.ok = outcome.is_ok();
  if (!outcome.is_ok()) fail_record(record, outcome);
  settle(request, description, was_loaded, record);
  log::debug("{} {}: {}", name(), record.endpoint, describe_record(record));
  return record;
}

void OllamaBackend::settle(const Request& request,
                           const std::optional<ModelDescription>& description,
                           std::optional<bool> was_loaded, CallRecord& record) const {
  validate_server_timings(record, kOllamaFields);
  settle_token_count(record, record.server.eval_count);
  record.prompt_tokens = record.server.prompt_eval_count;

  // Options in force: what was sent, then the model's own defaults; the rest is the server's.
  Options defaults = description ? description->defaults : Options();
  record.options_applied = defaults.merged_with(request.options);
  std::map<std::string, std::string> sent, from_model;
  for (const auto& [name, value] : request.options.items()) sent[name] = value;
  for (const auto& [name, value] : defaults.items()) from_model[name] = value;
  for (std::string_view option : option_names()) {
    std::string key(option);
    record.option_sources[key] = sent.count(key)         ? std::string(kOptionSent)
                                 : from_model.count(key) ? std::string(kOptionModelDefault)
                                                         : std::string(kOptionBackendDefault);
  }
  if (!record.ok) return;

  if (was_loaded == false) {
    record.model_load_paid = true;
    record.warnings.push_back(fmt::format(
        "the model was not loaded before this call (/api/ps); its time to first token includes the "
        "load{}",
        record.server.load_ns ? fmt::format(" ({:.0f} ms)", ns_to_ms(*record.server.load_ns))
                              : ""));
  } else if (record.server.load_ns && *record.server.load_ns > config_.load_paid_threshold_ns) {
    record.model_load_paid = true;
    record.warnings.push_back(fmt::format(
        "this call loaded the model (load_duration {:.0f} ms); its time to first token includes it",
        ns_to_ms(*record.server.load_ns)));
  }
  if (!record.server.eval_count) {
    record.warnings.push_back(
        "the server reported no eval_count; the token count is the number of "
        "streamed chunks, a lower bound");
  }
  if (!record.server.prompt_eval_count) {
    record.warnings.push_back(
        "the server reported no prompt_eval_count (a cached prompt: "
        "ollama/ollama#2068); prompt tokens unknown");
    return;
  }
  const int64_t evaluated = *record.server.prompt_eval_count;
  const std::optional<int64_t> num_ctx = record.options_applied.num_ctx;
  const auto bytes = static_cast<int64_t>(prompt_bytes(request));
  if (num_ctx && evaluated >= *num_ctx) {
    record.prompt_truncated = true;
    record.warnings.push_back(fmt::format(
        "the prompt was truncated: the server evaluated {} prompt tokens and num_ctx is {} ({}); "
        "raise num_ctx",
        evaluated, *num_ctx, record.option_sources["num_ctx"]));
  } else if (bytes >= kMinBytesForTruncationCheck &&
             evaluated * kMaxPlausibleBytesPerToken < bytes) {
    record.prompt_truncated = true;
    record.warnings.push_back(fmt::format(
        "the prompt was probably truncated: the server evaluated {} prompt tokens for {} bytes of "
        "prompt (over {} bytes per token){}; raise num_ctx (a cached prompt prefix can also "
        "explain this)",
        evaluated, bytes, kMaxPlausibleBytesPerToken,
        num_ctx ? fmt::format(", num_ctx {}", *num_ctx) : ""));
  }
}

}  // namespace chimera::llm
