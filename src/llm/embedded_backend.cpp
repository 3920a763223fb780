#include "llm/embedded_backend.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "engine/grammar/json_schema_compiler.h"
#include "engine/model/model_config.h"
#include "llm/stream_record.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

// What the engine uses when an option is not given (engine.h defaults, Ollama's values).
Options engine_defaults(const engine::SessionOptions& session) {
  const engine::SamplingOptions sampling;
  Options o;
  o.num_ctx = session.num_ctx;
  o.num_batch = session.num_batch;
  o.num_thread = session.num_thread;
  o.num_predict = -1;
  o.temperature = sampling.temperature;
  o.top_k = sampling.top_k;
  o.top_p = sampling.top_p;
  o.min_p = sampling.min_p;
  o.repeat_penalty = sampling.repeat_penalty;
  o.repeat_last_n = sampling.repeat_last_n;
  return o;
}

// Ollama's params layer ({"temperature":1,"top_k":64,"stop":["<end_of_turn>"]}) as Options; keys
// this build does not know are skipped with a log line.
Options options_from_params(const std::string& json_text) {
  Options out;
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  for (const auto& [key, value] : j.items()) {
    if (key == "stop" && value.is_array()) {
      std::vector<std::string> stop;
      for (const auto& s : value) {
        if (s.is_string()) stop.push_back(s.get<std::string>());
      }
      out.stop = stop;
      continue;
    }
    if (!value.is_number()) continue;
    Status s = out.set(key, value.dump());
    if (!s.is_ok()) log::debug("ollama params: {} skipped: {}", key, s.message());
  }
  return out;
}

// "Q4_K - Medium" (llama.cpp) -> "Q4_K_M" (Ollama's spelling).
std::string ollama_quantization(std::string name) {
  name = replace_all(name, " - Medium", "_M");
  name = replace_all(name, " - Small", "_S");
  name = replace_all(name, " - Large", "_L");
  name = replace_all(name, " (guessed)", "");
  if (name == "all F32") name = "F32";
  return name;
}

std::string parameter_size(uint64_t n) {
  const double v = static_cast<double>(n);
  if (v >= 1e9) return fmt::format("{:.1f}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.0f}M", v / 1e6);
  return fmt::format("{:.0f}K", v / 1e3);
}

}  // namespace

EmbeddedBackend::EmbeddedBackend(std::string location, engine::ModelStore store)
    : location_(std::move(location)), store_(std::move(store)) {}

BackendCapabilities EmbeddedBackend::capabilities() const {
  BackendCapabilities c;
  c.server_timings = true;
  c.ignore_eos = true;
  c.exact_token_counts = true;
  c.seed = true;
  c.cpu_only = true;
  c.structured_output = true;  // the engine's constrained decoding (engine/grammar/grammar_mask.h)
  return c;
}

std::map<std::string, std::string> EmbeddedBackend::options_not_applied(const Options& options) {
  std::map<std::string, std::string> out;
  for (const auto& [name, literal] : options.extra) {
    out[name] = "the embedded engine has no such setting (only Ollama takes it)";
  }
  return out;
}

Status EmbeddedBackend::ensure_loaded(bool* paid, int64_t* load_ns) {
  *paid = false;
  *load_ns = 0;
  if (model_) return Status::ok();
  Stopwatch watch;
  if (starts_with(location_, "ollama:")) {
    CHIMERA_ASSIGN_OR_RETURN(engine::ResolvedModel resolved, store_.resolve(location_));
    path_ = resolved.gguf_path;
    if (resolved.params_json) model_defaults_ = options_from_params(*resolved.params_json);
    template_text_ = resolved.template_text;
  } else {
    CHIMERA_ASSIGN_OR_RETURN(path_, engine::resolve_model_path(location_, store_));
  }
  CHIMERA_ASSIGN_OR_RETURN(model_, engine::Model::load(path_));
  *paid = true;
  *load_ns = watch.elapsed_ns();
  return Status::ok();
}

Result<engine::Session*> EmbeddedBackend::session_for(const engine::SessionOptions& options,
                                                      int64_t* build_ns) {
  *build_ns = 0;
  const bool same = session_ && options.num_ctx == session_options_.num_ctx &&
                    options.num_batch == session_options_.num_batch &&
                    options.num_thread == session_options_.num_thread &&
                    options.kv_type == session_options_.kv_type;
  if (!same) {
    Stopwatch watch;
    session_.reset();  // free the old KV cache before allocating the new one
    CHIMERA_ASSIGN_OR_RETURN(session_, engine::Session::create(model_, options));
    session_options_ = options;
    *build_ns = watch.elapsed_ns();
  }
  return session_.get();
}

engine::GenerateRequest EmbeddedBackend::to_engine_request(const Request& request,
                                                           const Options& applied) const {
  engine::GenerateRequest r;
  r.prompt = request.prompt;
  r.system = request.system;
  r.raw = request.raw;
  for (const Message& m : request.messages) r.messages.push_back({m.role, m.content});
  engine::SamplingOptions& s = r.sampling;
  if (applied.temperature) s.temperature = static_cast<float>(*applied.temperature);
  if (applied.top_k) s.top_k = static_cast<int>(*applied.top_k);
  if (applied.top_p) s.top_p = static_cast<float>(*applied.top_p);
  if (applied.min_p) s.min_p = static_cast<float>(*applied.min_p);
  if (applied.repeat_penalty) s.repeat_penalty = static_cast<float>(*applied.repeat_penalty);
  if (applied.repeat_last_n) s.repeat_last_n = static_cast<int>(*applied.repeat_last_n);
  if (applied.seed && *applied.seed >= 0)
    s.seed = static_cast<uint64_t>(*applied.seed);  // -1: random
  if (applied.num_predict)
    r.num_predict = static_cast<int32_t>(std::max<int64_t>(-1, *applied.num_predict));
  if (applied.stop) r.stop = *applied.stop;
  r.ignore_eos = request.ignore_eos;
  // As Ollama, a prompt longer than num_ctx keeps its end; unlike Ollama, the record says so.
  r.truncate_prompt = true;
  r.cancelled = request.cancelled;
  return r;
}

CallRecord EmbeddedBackend::generate(const Request& request, const OnText& on_text) {
  CallRecord record;
  record.backend = name();
  record.model = request.model.empty() ? location_ : request.model;
  record.endpoint = "engine";
  record.options_requested = request.options;
  record.wall_start_unix_ms = unix_time_ms();
  record.t_request_ns = monotonic_ns();
  std::lock_guard<std::mutex> lock(mutex_);

  bool paid = false;
  int64_t load_ns = 0;
  if (Status s = ensure_loaded(&paid, &load_ns); !s.is_ok()) {
    fail_record(record, s);
    return record;
  }
  record.synthetic_model = model_->info().synthetic;

  // Options in force: sent, else the model's own (Ollama params layer), else the engine's defaults.
  engine::SessionOptions session_options;
  const Options sent = request.options;
  Options wanted = model_defaults_.merged_with(sent);
  if (wanted.num_ctx) session_options.num_ctx = static_cast<int32_t>(*wanted.num_ctx);
  if (wanted.num_batch) session_options.num_batch = static_cast<int32_t>(*wanted.num_batch);
  if (wanted.num_thread) session_options.num_thread = static_cast<int32_t>(*wanted.num_thread);
  int64_t context_build_ns = 0;
  const bool had_session = session_ != nullptr;
  auto session = session_for(session_options, &context_build_ns);
  if (!session.ok()) {
    fail_record(record, session.status());
    return record;
  }
  record.options_applied = engine_defaults((*session)->options()).merged_with(wanted);
  record.options_applied.num_gpu.reset();
  record.options_applied.extra.clear();  // none reaches the engine
  std::map<std::string, std::string> from_sent, from_model;
  for (const auto& [k, v] : sent.items()) from_sent[k] = v;
  for (const auto& [k, v] : model_defaults_.items()) from_model[k] = v;
  for (std::string_view option : option_names()) {
    std::string key(option);
    record.option_sources[key] = from_sent.count(key)    ? std::string(kOptionSent)
                                 : from_model.count(key) ? std::string(kOptionModelDefault)
                                                         : std::string(kOptionBackendDefault);
  }
  for (const auto& [name, reason] : options_not_applied(sent)) {
    record.option_sources[name] = std::string(kOptionNotApplied);
    record.warnings.push_back(fmt::format("{} not applied: {}", name, reason));
  }
  if (sent.num_gpu) {
    record.option_sources["num_gpu"] = std::string(kOptionNotApplied);
    record.warnings.push_back(
        fmt::format("num_gpu={} not applied: the embedded engine runs on the CPU", *sent.num_gpu));
  }

  engine::GenerateRequest engine_request = to_engine_request(request, record.options_applied);
  if (request.output_schema) {
    auto grammar = engine::grammar_for_output_schema(*request.output_schema);
    if (!grammar.ok()) {
      fail_record(record, grammar.status().with_context("output_schema"));
      return record;
    }
    engine_request.grammar = *grammar;
  }
  const int64_t expected = record.options_applied.num_predict.value_or(-1);
  record.chunk_times_ns.reserve(static_cast<size_t>(std::clamp<int64_t>(expected, 16, 1 << 20)));
  record.chunk_token_counts.reserve(record.chunk_times_ns.capacity());
  bool caller_stopped = false;
  auto result = (*session)->generate(engine_request, [&](const engine::TokenEvent& e) {
    // Every sampled token is a chunk of one token at its own time: exact ITL, exact counts.
    if (record.t_first_token_ns == 0) record.t_first_token_ns = e.time_ns;
    record.chunk_times_ns.push_back(e.time_ns);
    record.chunk_token_counts.push_back(1);
    ++record.chunk_count;
    if (e.text.empty()) return true;
    record.text.append(e.text);
    if (on_text && !on_text(e.text)) caller_stopped = true;
    return !caller_stopped;
  });
  record.t_done_ns = monotonic_ns();
  record.t_first_byte_ns = record.t_first_token_ns;
  if (!result.ok()) {
    fail_record(record, result.status());
    return record;
  }
  record.text = result->text;
  record.done_reason = result->done_reason;
  record.token_count = static_cast<int64_t>(result->tokens.size());
  record.token_count_source = TokenCountSource::kEngine;
  record.prompt_tokens = result->prompt_tokens;
  const engine::Timings& t = result->timings;
  // A new num_ctx, num_batch or thread count rebuilds the context (as Ollama reloads the model for
  // them): that time is load time too, never prefill.
  const int64_t rebuild_ns = had_session ? context_build_ns : 0;
  record.server.load_ns = (paid ? load_ns : 0) + context_build_ns;
  record.server.prompt_eval_ns = t.prompt_eval_ns;
  record.server.prompt_eval_count = t.prompt_eval_count;
  record.server.eval_ns = t.eval_ns;
  record.server.eval_count = t.eval_count;
  record.server.total_ns = t.total_ns - t.load_ns + *record.server.load_ns;
  record.model_load_paid = paid;
  if (paid) {
    record.warnings.push_back(
        fmt::format("this call loaded the model ({:.0f} ms); its time to first token "
                    "includes it",
                    ns_to_ms(load_ns)));
  }
  if (rebuild_ns > 0) {
    record.warnings.push_back(fmt::format(
        "this call rebuilt the context for num_ctx {}, num_batch {}, {} threads ({:.0f} ms); its "
        "time to first token includes it",
        session_options_.num_ctx, session_options_.num_batch, (*session)->options().num_thread,
        ns_to_ms(rebuild_ns)));
  }
  if (result->prompt_truncated) {
    record.prompt_truncated = true;
    record.warnings.push_back(fmt::format(
        "the prompt was truncated: its first {} tokens were dropped to fit "
        "num_ctx {} ({}); raise num_ctx",
        result->prompt_tokens_dropped, session_options_.num_ctx, record.option_sources["num_ctx"]));
  }
  record.ok = true;
  if (result->done_reason == "cancelled") {
    fail_record(record, Status(ErrorCode::kCancelled, name() + ": cancelled by the caller"));
  }
  return record;
}

ModelEntry EmbeddedBackend::entry() const {
  const engine::ModelInfo& info = model_->info();
  ModelEntry e;
  e.name = location_;
  e.family = info.architecture;
  e.parameter_size = parameter_size(info.n_params);
  e.quantization = ollama_quantization(info.weight_type);
  e.size_bytes = info.file_bytes;
  e.synthetic = info.synthetic;
  return e;
}

Result<std::vector<ModelEntry>> EmbeddedBackend::list_models() {
  std::lock_guard<std::mutex> lock(mutex_);
  bool paid = false;
  int64_t load_ns = 0;
  CHIMERA_RETURN_IF_ERROR(ensure_loaded(&paid, &load_ns));
  return std::vector<ModelEntry>{entry()};
}

Result<ModelDescription> EmbeddedBackend::describe(const std::string& model) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!model.empty() && model != location_) {
    return make_error(ErrorCode::kNotFound, "{} serves {} only, not {}", name(), location_, model);
  }
  bool paid = false;
  int64_t load_ns = 0;
  CHIMERA_RETURN_IF_ERROR(ensure_loaded(&paid, &load_ns));
  const engine::ModelInfo& info = model_->info();
  ModelDescription d;
  d.entry = entry();
  d.context_length = info.context_length;
  d.defaults = model_defaults_;
  d.template_text = template_text_.value_or(model_->tokenizer().vocab().chat_template);
  d.details = {{"architecture", info.architecture},
               {"path", path_},
               {"weight_type", info.weight_type},
               {"n_layer", std::to_string(info.n_layer)},
               {"n_embd", std::to_string(info.n_embd)},
               {"n_head", std::to_string(info.n_head)},
               {"n_head_kv", std::to_string(info.n_head_kv)},
               {"n_vocab", std::to_string(info.n_vocab)},
               {"synthetic", info.synthetic ? "true" : "false"},
               {"load_notes", join(info.load_notes, "; ")}};
  return d;
}

std::optional<int64_t> EmbeddedBackend::count_prompt_tokens(const Request& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool paid = false;
  int64_t load_ns = 0;
  if (!ensure_loaded(&paid, &load_ns).is_ok()) return std::nullopt;
  engine::SessionOptions options = session_ ? session_options_ : engine::SessionOptions();
  int64_t build_ns = 0;
  auto session = session_for(options, &build_ns);
  if (!session.ok()) return std::nullopt;
  auto tokens = (*session)->render_prompt(
      to_engine_request(request, model_defaults_.merged_with(request.options)));
  if (!tokens.ok()) return std::nullopt;
  return static_cast<int64_t>(tokens->size());
}

Result<std::unique_ptr<Backend>> make_embedded_backend(const BackendSpec& spec) {
  if (spec.location.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "embedded backend: no model given; use embedded:PATH.gguf "
                      "or ollama:NAME:TAG");
  }
  return std::unique_ptr<Backend>(std::make_unique<EmbeddedBackend>(spec.location));
}

}  // namespace chimera::llm
