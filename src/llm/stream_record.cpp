#include "llm/stream_record.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/clock.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

constexpr double kMaxPlausibleTokens = 1e9;
constexpr int64_t kMaxTokensPerByte = 64;
constexpr int64_t kClockSlackNs = 5'000'000;  // plus 1 %: the two clocks tick at nearly one rate

std::optional<int64_t>& member(ServerTimings& t, ServerField field) {
  switch (field) {
    case ServerField::kLoad:
      return t.load_ns;
    case ServerField::kPromptEval:
      return t.prompt_eval_ns;
    case ServerField::kEval:
      return t.eval_ns;
    case ServerField::kTotal:
      return t.total_ns;
    case ServerField::kPromptEvalCount:
      return t.prompt_eval_count;
    case ServerField::kEvalCount:
      return t.eval_count;
  }
  return t.eval_count;
}

bool is_duration(ServerField field) {
  return field != ServerField::kPromptEvalCount && field != ServerField::kEvalCount;
}

// "eval_duration = -1", "timings.predicted_ms = 0.5": the value as the server wrote it.
std::string shown(ServerField field, const ServerFieldNames& names, int64_t value) {
  if (is_duration(field) && names.duration_unit_ns != 1) {
    return fmt::format("{} = {}", names.name(field),
                       static_cast<double>(value) / names.duration_unit_ns);
  }
  return fmt::format("{} = {}", names.name(field), value);
}

void reject(ServerTimings& t, ServerField field, std::string reason) {
  t.rejected[std::string(server_field_key(field))] = std::move(reason);
  member(t, field).reset();
}

// The bounds a value must keep on its own: sign and size.
void check_range(ServerTimings& t, ServerField field, const ServerFieldNames& names) {
  const std::optional<int64_t> value = member(t, field);
  if (!value) return;
  const std::string what = shown(field, names, *value);
  if (field == ServerField::kLoad && *value < 0) {
    reject(t, field, what + ": a duration cannot be negative");
  } else if (is_duration(field) && field != ServerField::kLoad && *value <= 0) {
    reject(t, field, what + ": a duration must be positive");
  } else if (field == ServerField::kEvalCount && *value < 0) {
    reject(t, field, what + ": a count cannot be negative");
  } else if (field == ServerField::kPromptEvalCount && *value <= 0) {
    reject(t, field, what + ": a prompt has at least one token");
  } else if (!is_duration(field) && static_cast<double>(*value) > kMaxPlausibleTokens) {
    reject(t, field, what + ": more than 10^9 tokens, beyond any model's context");
  }
}

// Why a generated-token count cannot be true for the call, or "". Tokens that print nothing exist
// (end-of-sequence, template markers, a dummy-weight model's byte tokens that never form a
// character), so text alone bounds a count only loosely; the request's num_predict bounds it
// exactly.
std::string impossible_count(const CallRecord& r, int64_t count) {
  if (const auto& cap = r.options_requested.num_predict; cap && *cap > 0 && count > *cap + 1) {
    return fmt::format("more tokens than the request allowed (num_predict {})", *cap);
  }
  const auto bytes = static_cast<int64_t>(r.text.size() + r.thinking.size());
  if (count > kMaxTokensPerByte * (bytes + 1)) {
    return fmt::format("more than {} tokens per byte of the {} bytes of text received",
                       kMaxTokensPerByte, bytes);
  }
  if (count < r.chunk_count) {
    return fmt::format("fewer tokens than the {} streamed chunks that carried text", r.chunk_count);
  }
  return "";
}

}  // namespace

std::string_view server_field_key(ServerField field) {
  switch (field) {
    case ServerField::kLoad:
      return "load_ns";
    case ServerField::kPromptEval:
      return "prompt_eval_ns";
    case ServerField::kEval:
      return "eval_ns";
    case ServerField::kTotal:
      return "total_ns";
    case ServerField::kPromptEvalCount:
      return "prompt_eval_count";
    case ServerField::kEvalCount:
      return "eval_count";
  }
  return "";
}

std::string_view ServerFieldNames::name(ServerField field) const {
  switch (field) {
    case ServerField::kLoad:
      return load;
    case ServerField::kPromptEval:
      return prompt_eval;
    case ServerField::kEval:
      return eval;
    case ServerField::kTotal:
      return total;
    case ServerField::kPromptEvalCount:
      return prompt_eval_count;
    case ServerField::kEvalCount:
      return eval_count;
  }
  return "";
}

void set_server_field(ServerTimings& timings, ServerField field, const ServerFieldNames& names,
                      const WireNumber& number) {
  if (!number.present()) return;
  const std::string what = fmt::format("{} = {}", names.name(field), number.shown);
  if (!number.value) return reject(timings, field, what + ": " + number.problem);
  const double scaled = *number.value * (is_duration(field) ? names.duration_unit_ns : 1.0);
  if (!std::isfinite(scaled)) return reject(timings, field, what + ": not a finite number");
  if (std::fabs(scaled) >= 9.2e18) return reject(timings, field, what + ": out of range");
  if (!is_duration(field) && scaled != std::floor(scaled)) {
    return reject(timings, field, what + ": a count must be a whole number");
  }
  member(timings, field) = static_cast<int64_t>(std::llround(scaled));
  timings.rejected.erase(std::string(server_field_key(field)));
}

void validate_server_timings(CallRecord& r, const ServerFieldNames& names) {
  ServerTimings& t = r.server;
  for (ServerField field :
       {ServerField::kLoad, ServerField::kPromptEval, ServerField::kEval, ServerField::kTotal,
        ServerField::kPromptEvalCount, ServerField::kEvalCount}) {
    check_range(t, field, names);
  }
  // Against the client's clocks: the server's phases happen inside the call the client timed.
  auto slack = [](int64_t ns) { return ns / 100 + kClockSlackNs; };
  if (r.t_request_ns > 0 && r.t_done_ns > r.t_request_ns) {
    const int64_t e2e = r.t_done_ns - r.t_request_ns;
    for (ServerField field :
         {ServerField::kLoad, ServerField::kPromptEval, ServerField::kEval, ServerField::kTotal}) {
      if (auto v = member(t, field); v && *v > e2e + slack(e2e)) {
        reject(t, field,
               fmt::format("{}: longer than the whole call as the client timed it ({:.1f} ms)",
                           shown(field, names, *v), ns_to_ms(e2e)));
      }
    }
  }
  if (r.t_request_ns > 0 && r.t_first_token_ns > r.t_request_ns) {
    // Loading and prefill happen before the first token: neither, nor both, can outlast it.
    const int64_t ttft = r.t_first_token_ns - r.t_request_ns;
    const int64_t bound = ttft + slack(ttft);
    auto exceeds = [&](ServerField field, int64_t value, std::string_view what) {
      reject(t, field,
             fmt::format("{}: {} ({:.1f} ms) exceeds the client's time to first token ({:.1f} ms)",
                         shown(field, names, value), what, ns_to_ms(value), ns_to_ms(ttft)));
    };
    const bool load_alone = t.load_ns && *t.load_ns > bound;
    const bool prefill_alone = t.prompt_eval_ns && *t.prompt_eval_ns > bound;
    if (load_alone) exceeds(ServerField::kLoad, *t.load_ns, "the load");
    if (prefill_alone) exceeds(ServerField::kPromptEval, *t.prompt_eval_ns, "the prefill");
    if (!load_alone && !prefill_alone && t.load_ns && t.prompt_eval_ns &&
        *t.load_ns + *t.prompt_eval_ns > bound) {
      const int64_t both = *t.load_ns + *t.prompt_eval_ns;
      exceeds(ServerField::kLoad, both, "load + prefill");
      exceeds(ServerField::kPromptEval, both, "load + prefill");
    }
  }
  if (t.eval_ns && r.chunk_times_ns.size() >= 2 && r.t_first_token_ns > 0) {
    const int64_t span = r.chunk_times_ns.back() - r.t_first_token_ns;
    if (*t.eval_ns * 2 + 20'000'000 < span) {
      reject(t, ServerField::kEval,
             fmt::format("{}: under half the {:.1f} ms the client saw from the first token to the "
                         "last",
                         shown(ServerField::kEval, names, *t.eval_ns), ns_to_ms(span)));
    }
  }
  if (t.total_ns && t.eval_ns && t.prompt_eval_ns && *t.total_ns < *t.eval_ns + *t.prompt_eval_ns) {
    reject(t, ServerField::kTotal,
           fmt::format("{}: shorter than prefill + decode ({:.1f} ms)",
                       shown(ServerField::kTotal, names, *t.total_ns),
                       ns_to_ms(*t.eval_ns + *t.prompt_eval_ns)));
  }
  if (t.eval_count) {
    if (std::string why = impossible_count(r, *t.eval_count); !why.empty()) {
      reject(t, ServerField::kEvalCount,
             shown(ServerField::kEvalCount, names, *t.eval_count) + ": " + why);
    }
  }
  if (!t.rejected.empty()) {
    std::vector<std::string> reasons;
    for (const auto& [key, reason] : t.rejected) reasons.push_back(reason);
    r.warnings.push_back(fmt::format(
        "server statistics not used ({}); the metrics that need them come from the client clock "
        "or are unavailable",
        join(reasons, "; ")));
  }
}

std::optional<int64_t> checked_generated_count(CallRecord& r, std::optional<int64_t> count,
                                               std::string_view wire_name) {
  if (!count) return std::nullopt;
  std::string why;
  if (*count < 0) {
    why = "a count cannot be negative";
  } else if (static_cast<double>(*count) > kMaxPlausibleTokens) {
    why = "more than 10^9 tokens, beyond any model's context";
  } else {
    why = impossible_count(r, *count);
  }
  if (why.empty()) return count;
  r.server.rejected["eval_count"] = fmt::format("{} = {}: {}", wire_name, *count, why);
  r.warnings.push_back(fmt::format(
      "the server's token count was not used ({} = {}: {}); the count is the number of streamed "
      "chunks, a lower bound",
      wire_name, *count, why));
  return std::nullopt;
}

void StreamRecorder::note_invalid_utf8(int64_t body_offset) {
  if (noted_invalid_utf8_) return;
  noted_invalid_utf8_ = true;
  record_.warnings.push_back(fmt::format(
      "the server's text is not valid UTF-8 (first at body byte {}); it is kept as received and "
      "shown with U+FFFD replacement characters",
      body_offset));
}

void StreamRecorder::reserve(int64_t expected_chunks) {
  size_t n = static_cast<size_t>(std::clamp<int64_t>(expected_chunks, 16, 1 << 20));
  record_.chunk_times_ns.reserve(n);
  record_.chunk_token_counts.reserve(n);
}

bool StreamRecorder::chunk(std::string_view text, std::string_view thinking, int64_t now_ns,
                           int32_t tokens) {
  if (text.empty() && thinking.empty()) return !stopped_;
  if (record_.t_first_token_ns == 0) record_.t_first_token_ns = now_ns;
  record_.chunk_times_ns.push_back(now_ns);
  ++record_.chunk_count;
  if (tokens >= 0 && per_chunk_counts_known_) {
    record_.chunk_token_counts.push_back(tokens);
  } else {
    per_chunk_counts_known_ = false;
    record_.chunk_token_counts.clear();
  }
  record_.thinking.append(thinking);
  if (text.empty()) return !stopped_;
  record_.text.append(text);
  if (on_text_ && !stopped_ && !on_text_(text)) stopped_ = true;
  return !stopped_;
}

void settle_token_count(CallRecord& record, std::optional<int64_t> server_count) {
  const auto chunks = static_cast<int64_t>(record.chunk_times_ns.size());
  bool per_chunk_known = !record.chunk_token_counts.empty() &&
                         record.chunk_token_counts.size() == record.chunk_times_ns.size();
  if (server_count.has_value()) {
    record.token_count = *server_count;
    record.token_count_source = TokenCountSource::kServer;
    if (per_chunk_known) {
      int64_t sum = 0;
      for (int32_t n : record.chunk_token_counts) sum += n;
      if (sum != *server_count) record.chunk_token_counts.clear();  // inconsistent: unknown
    } else if (*server_count == chunks) {
      record.chunk_token_counts.assign(record.chunk_times_ns.size(), 1);
    } else {
      record.chunk_token_counts.clear();
    }
    return;
  }
  if (per_chunk_known) {
    int64_t sum = 0;
    for (int32_t n : record.chunk_token_counts) sum += n;
    record.token_count = sum;
    record.token_count_source = TokenCountSource::kServer;
    return;
  }
  record.chunk_token_counts.clear();
  record.token_count = chunks;
  record.token_count_source = chunks > 0 ? TokenCountSource::kChunks : TokenCountSource::kNone;
}

void fail_record(CallRecord& record, const Status& status) {
  record.ok = false;
  record.error_code = status.code();
  // The reason is for people and for every writer: always UTF-8, whatever bytes it quotes.
  record.error = utf8_replace_invalid(status.message());
  if (status.code() == ErrorCode::kCancelled && record.done_reason.empty()) {
    record.done_reason = "cancelled";
  }
  if (record.t_done_ns == 0) record.t_done_ns = monotonic_ns();
}

std::string describe_record(const CallRecord& record) {
  if (!record.ok) return fmt::format("failed: {}", record.error);
  std::string ttft =
      record.t_first_token_ns != 0
          ? fmt::format(" ttft {:.1f} ms", ns_to_ms(record.t_first_token_ns - record.t_request_ns))
          : "";
  return fmt::format("ok {} tokens ({}){}", record.token_count,
                     token_count_source_name(record.token_count_source), ttft);
}

}  // namespace chimera::llm
