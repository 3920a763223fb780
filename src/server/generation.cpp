#include "server/generation.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "engine/model/model_config.h"
#include "engine/tokenizer/reasoning.h"
#include "util/strings.h"

namespace chimera::server {
namespace {

constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kNsPerSecond = 1'000'000'000;

// Ollama options this engine does not implement, with the value that makes them a no-op. A request
// that sets one to anything else is answered, and the option is named in X-Chimera-Ignored-Options.
struct NeutralOption {
  std::string_view name;
  double neutral;
};
constexpr std::array<NeutralOption, 5> kSamplingExtras = {{
    {"typical_p", 1.0}, {"tfs_z", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}, {"mirostat", 0.0},
}};
// Only matter when mirostat is on (reported on its own): type-checked, nothing more.
constexpr std::array<std::string_view, 2> kMirostatParameters = {"mirostat_tau", "mirostat_eta"};
// Known to Ollama, about memory placement or loading: no effect on this CPU engine's output.
constexpr std::array<std::string_view, 12> kPlacementOptions = {
    "num_keep", "numa", "main_gpu", "low_vram", "f16_kv", "vocab_only", "use_mmap", "use_mlock",
    "logits_all", "embedding_only", "rope_frequency_base", "rope_frequency_scale"};

Status check_int(const Json& object, std::string_view key, std::string_view where, std::optional<int64_t>& out) {
  CHIMERA_ASSIGN_OR_RETURN(auto value, optional_int(object, key, fmt::format("{}.{}", where, key)));
  if (value) out = value;
  return Status::ok();
}

Status check_number(const Json& object, std::string_view key, std::string_view where, std::optional<double>& out) {
  CHIMERA_ASSIGN_OR_RETURN(auto value, optional_number(object, key, fmt::format("{}.{}", where, key)));
  if (value) out = value;
  return Status::ok();
}

Status check_stop(const Json& object, std::string_view where, llm::Options& out) {
  auto it = object.find("stop");
  if (it == object.end() || it->is_null()) return Status::ok();
  std::vector<std::string> stops;
  if (it->is_string()) {
    stops.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const Json& item : *it) {
      if (!item.is_string()) {
        return make_error(ErrorCode::kInvalidArgument, "{}.stop must hold strings, not {}", where, json_type_name(item));
      }
      stops.push_back(item.get<std::string>());
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument, "{}.stop must be a string or an array of strings, not {}", where,
                      json_type_name(*it));
  }
  out.stop = std::move(stops);
  return Status::ok();
}

Status range_error(std::string_view name, std::string_view value, std::string_view allowed) {
  return make_error(ErrorCode::kInvalidArgument, "option {} is {}; it must be {}", name, value, allowed);
}

bool finite(double v) { return std::isfinite(v); }
// The sampler takes floats: a double beyond a float's range would become infinity (or, for a
// penalty, 0 and a division by zero).
bool fits_float(double v) { return std::isfinite(v) && std::fabs(v) <= std::numeric_limits<float>::max(); }

}  // namespace

Status parse_ollama_options(const Json& object, std::string_view where, llm::Options& out, bool& ignore_eos,
                            std::vector<std::string>& ignored) {
  if (!object.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be an object, not {}", where, json_type_name(object));
  }
  CHIMERA_RETURN_IF_ERROR(check_int(object, "num_ctx", where, out.num_ctx));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "num_predict", where, out.num_predict));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "num_batch", where, out.num_batch));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "num_thread", where, out.num_thread));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "num_gpu", where, out.num_gpu));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "top_k", where, out.top_k));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "repeat_last_n", where, out.repeat_last_n));
  CHIMERA_RETURN_IF_ERROR(check_int(object, "seed", where, out.seed));
  CHIMERA_RETURN_IF_ERROR(check_number(object, "temperature", where, out.temperature));
  CHIMERA_RETURN_IF_ERROR(check_number(object, "top_p", where, out.top_p));
  CHIMERA_RETURN_IF_ERROR(check_number(object, "min_p", where, out.min_p));
  CHIMERA_RETURN_IF_ERROR(check_number(object, "repeat_penalty", where, out.repeat_penalty));
  CHIMERA_RETURN_IF_ERROR(check_stop(object, where, out));
  CHIMERA_ASSIGN_OR_RETURN(auto eos, optional_bool(object, "ignore_eos", fmt::format("{}.ignore_eos", where)));
  if (eos) ignore_eos = *eos;

  for (const NeutralOption& extra : kSamplingExtras) {
    std::optional<double> value;
    CHIMERA_RETURN_IF_ERROR(check_number(object, extra.name, where, value));
    if (value && *value != extra.neutral) ignored.emplace_back(extra.name);
  }
  for (std::string_view name : kMirostatParameters) {
    std::optional<double> value;
    CHIMERA_RETURN_IF_ERROR(check_number(object, name, where, value));
  }
  if (auto it = object.find("penalize_newline"); it != object.end() && it->is_boolean() && it->get<bool>()) {
    ignored.emplace_back("penalize_newline");
  }
  for (std::string_view name : kPlacementOptions) {
    auto it = object.find(name);
    if (it != object.end() && !it->is_null() && !(it->is_number() || it->is_boolean())) {
      return make_error(ErrorCode::kInvalidArgument, "{}.{} must be a number or a boolean, not {}", where, name,
                        json_type_name(*it));
    }
  }
  if (out.num_gpu && *out.num_gpu > 0) ignored.emplace_back("num_gpu");  // no GPU in this engine
  return Status::ok();
}

Status validate_options(const llm::Options& o) {
  if (o.num_ctx && *o.num_ctx <= 0) return range_error("num_ctx", std::to_string(*o.num_ctx), "a positive integer");
  if (o.num_predict && *o.num_predict < -2) {
    return range_error("num_predict", std::to_string(*o.num_predict), "-1 (no limit), -2 (fill the context) or >= 0");
  }
  if (o.num_batch && *o.num_batch <= 0) return range_error("num_batch", std::to_string(*o.num_batch), "a positive integer");
  if (o.num_thread && (*o.num_thread < 0 || *o.num_thread > kMaxThreads)) {
    return range_error("num_thread", std::to_string(*o.num_thread), fmt::format("0 (automatic) to {}", kMaxThreads));
  }
  if (o.num_gpu && *o.num_gpu < -1) return range_error("num_gpu", std::to_string(*o.num_gpu), "-1 (automatic) or >= 0");
  if (o.repeat_last_n && *o.repeat_last_n < -1) {
    return range_error("repeat_last_n", std::to_string(*o.repeat_last_n), "-1 (the whole context), 0 (off) or more");
  }
  if (o.temperature && (!fits_float(*o.temperature) || *o.temperature < 0)) {
    return range_error("temperature", fmt::format("{}", *o.temperature), "from 0 (greedy) to 3.4e38");
  }
  if (o.top_p && (!finite(*o.top_p) || *o.top_p < 0 || *o.top_p > 1)) {
    return range_error("top_p", fmt::format("{}", *o.top_p), "from 0 to 1");
  }
  if (o.min_p && (!finite(*o.min_p) || *o.min_p < 0 || *o.min_p > 1)) {
    return range_error("min_p", fmt::format("{}", *o.min_p), "from 0 to 1");
  }
  if (o.repeat_penalty && (!fits_float(*o.repeat_penalty) || *o.repeat_penalty < std::numeric_limits<float>::min())) {
    return range_error("repeat_penalty", fmt::format("{}", *o.repeat_penalty), "> 0 (1 is off), from 1.2e-38 to 3.4e38");
  }
  return Status::ok();
}

Result<int64_t> parse_duration_ns(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return make_error(ErrorCode::kInvalidArgument, "keep_alive is an empty string; use e.g. \"5m\"");
  if (auto seconds = parse_int(s)) {  // a bare number is seconds
    if (*seconds > INT64_MAX / kNsPerSecond || *seconds < -INT64_MAX / kNsPerSecond) return int64_t{-1};
    return *seconds * kNsPerSecond;
  }
  bool negative = false;
  size_t i = 0;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    i = 1;
  }
  double total_ns = 0;
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    auto number = parse_double(s.substr(start, i - start));
    size_t unit_start = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    double scale = unit == "ns" ? 1.0 : unit == "us" || unit == "\xC2\xB5s" ? 1e3 : unit == "ms" ? 1e6
                 : unit == "s" ? 1e9 : unit == "m" ? 60e9 : unit == "h" ? 3600e9 : 0.0;
    if (!number || scale == 0.0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "keep_alive \"{}\" is not a duration; use seconds (300) or a Go duration (\"5m\", \"1h\", "
                        "\"-1\" to keep the model loaded)", text);
    }
    total_ns += *number * scale;
    any = true;
  }
  if (!any) return make_error(ErrorCode::kInvalidArgument, "keep_alive \"{}\" is not a duration", text);
  if (negative) return int64_t{-1};
  return total_ns > 9.0e18 ? int64_t{-1} : static_cast<int64_t>(total_ns);
}

Result<int64_t> parse_keep_alive(const Json& value) {
  if (value.is_number()) {
    double seconds = value.get<double>();
    if (!std::isfinite(seconds)) return make_error(ErrorCode::kInvalidArgument, "keep_alive must be finite");
    if (seconds < 0 || seconds > 9.0e9) return int64_t{-1};
    return static_cast<int64_t>(seconds * 1e9);
  }
  if (value.is_string()) return parse_duration_ns(value.get<std::string>());
  return make_error(ErrorCode::kInvalidArgument, "keep_alive must be a duration string (\"5m\") or a number of "
                    "seconds, not {}", json_type_name(value));
}

Result<engine::Think> parse_ollama_think(const Json& value) {
  if (value.is_boolean()) return value.get<bool>() ? engine::Think::kOn : engine::Think::kOff;
  if (value.is_string()) {
    const std::string level = value.get<std::string>();
    if (auto think = engine::parse_think_level(level)) return *think;
    return make_error(
        ErrorCode::kInvalidArgument,
        "think \"{}\" is not a thinking level: send true, false, \"low\", \"medium\" or "
        "\"high\"",
        level);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "think must be true, false, \"low\", \"medium\" or \"high\", not {}",
                    json_type_name(value));
}

Status check_request_think(const GenerationRequest& request, std::string_view architecture) {
  return engine::check_think(engine::chat_family_for_architecture(architecture), request.think,
                             architecture,
                             fmt::format("{} for model '{}'", request.think_asked, request.model));
}

Result<std::vector<int32_t>> build_prompt_tokens(const engine::Model& model, const GenerationRequest& request,
                                                 const std::string& default_system) {
  const engine::Tokenizer& tok = model.tokenizer();
  const int32_t n_vocab = model.config().n_vocab;
  if (!request.prompt_tokens.empty()) {
    for (int32_t id : request.prompt_tokens) {
      if (id < 0 || id >= n_vocab) {
        return make_error(ErrorCode::kInvalidArgument, "prompt token {} is outside the vocabulary (0..{})", id,
                          n_vocab - 1);
      }
    }
    return request.prompt_tokens;
  }
  for (int32_t id : request.context) {
    if (id < 0 || id >= n_vocab) {
      return make_error(ErrorCode::kInvalidArgument, "context token {} is outside the vocabulary (0..{})", id,
                        n_vocab - 1);
    }
  }
  std::string text;
  if (!request.chat && request.raw) {
    text = request.prompt;
  } else {
    std::vector<engine::ChatMessage> messages;
    const bool has_system = std::any_of(request.messages.begin(), request.messages.end(),
                                        [](const engine::ChatMessage& m) { return m.role == "system"; });
    std::string system = !request.system.empty() ? request.system : default_system;
    if (!system.empty() && !has_system) messages.push_back({"system", system});
    if (request.chat) {
      messages.insert(messages.end(), request.messages.begin(), request.messages.end());
    } else {
      messages.push_back({"user", request.prompt});
    }
    text = engine::render_chat(model.chat_family(), messages, /*add_generation_prompt=*/true,
                               /*date=*/{}, request.think);
  }
  std::vector<int32_t> tokens = request.context;
  // A continued conversation already starts with BOS.
  tok.encode_into(text, /*add_special=*/request.context.empty(), /*parse_special=*/true, tokens);
  return tokens;
}

Result<PreparedSequence> prepare_sequence(const engine::Model& model, const GenerationRequest& request,
                                          std::vector<int32_t> prompt, const llm::Options& model_defaults,
                                          const GenerationDefaults& defaults, int64_t received_ns) {
  const llm::Options o = model_defaults.merged_with(request.options);
  CHIMERA_RETURN_IF_ERROR(validate_options(o));
  PreparedSequence out;
  SequenceRequest& r = out.request;
  r.received_ns = received_ns;
  const int64_t trained = model.info().context_length > 0 ? model.info().context_length : INT32_MAX;
  // As Ollama: a num_ctx beyond what the model was trained for is lowered to it.
  out.num_ctx = static_cast<int32_t>(std::min<int64_t>(o.num_ctx.value_or(defaults.num_ctx), trained));
  r.num_ctx = out.num_ctx;
  int64_t num_predict = o.num_predict.value_or(defaults.num_predict);
  r.num_predict = num_predict < 0 ? -1 : static_cast<int32_t>(std::min<int64_t>(num_predict, INT32_MAX));
  r.num_batch = o.num_batch ? static_cast<int32_t>(std::min<int64_t>(*o.num_batch, INT32_MAX)) : 0;
  r.num_thread = o.num_thread ? static_cast<int32_t>(*o.num_thread) : 0;
  r.ignore_eos = request.ignore_eos;
  r.grammar = request.grammar;
  if (o.stop) r.stop = *o.stop;

  engine::SamplingOptions& s = r.sampling;
  if (o.temperature) s.temperature = static_cast<float>(*o.temperature);
  if (o.top_k) s.top_k = static_cast<int>(std::clamp<int64_t>(*o.top_k, INT32_MIN, INT32_MAX));
  if (o.top_p) s.top_p = static_cast<float>(*o.top_p);
  if (o.min_p) s.min_p = static_cast<float>(*o.min_p);
  if (o.repeat_penalty) s.repeat_penalty = static_cast<float>(*o.repeat_penalty);
  if (o.repeat_last_n) s.repeat_last_n = static_cast<int>(std::min<int64_t>(*o.repeat_last_n, INT32_MAX));
  if (o.seed && *o.seed >= 0) s.seed = static_cast<uint64_t>(*o.seed);  // Ollama: -1 is random

  const int32_t n_ctx = out.num_ctx;
  const int32_t n = static_cast<int32_t>(prompt.size());
  if (n >= n_ctx) {
    if (!request.truncate) {
      return make_error(ErrorCode::kOutOfRange,
                        "the prompt has {} tokens but the context is {} tokens (num_ctx); it must leave room for at "
                        "least one generated token: shorten the prompt or raise num_ctx", n, n_ctx);
    }
    // Keep the end (and BOS), with room for what is asked to be generated, up to half the context.
    const int32_t room = r.num_predict > 0 ? std::min(r.num_predict, n_ctx / 2) : n_ctx / 2;
    const int32_t keep = std::max(1, n_ctx - std::max(1, room));
    const engine::Tokenizer& tok = model.tokenizer();
    const bool has_bos = tok.add_bos() && !prompt.empty() && prompt.front() == tok.bos_id();
    std::vector<int32_t> kept;
    kept.reserve(static_cast<size_t>(keep));
    if (has_bos && keep > 1) kept.push_back(prompt.front());
    kept.insert(kept.end(), prompt.end() - (keep - static_cast<int32_t>(kept.size())), prompt.end());
    out.prompt_truncated = true;
    out.prompt_tokens_dropped = n - static_cast<int32_t>(kept.size());
    prompt = std::move(kept);
  }
  r.prompt = std::move(prompt);
  return out;
}

}  // namespace chimera::server
