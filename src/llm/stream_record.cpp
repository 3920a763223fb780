#include "llm/stream_record.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/clock.h"

namespace chimera::llm {

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
  record.error = status.message();
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
