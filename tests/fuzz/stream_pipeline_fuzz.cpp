// libFuzzer: random byte streams through the whole path a server's answer takes, not only the
// parsers: the Ollama NDJSON or OpenAI SSE decoder (fed in random splits), the record's settling
// (server timings validated against the client clocks, token count), the per-call metrics and an
// arm's statistics, the JSON form (json_text, then parsed back) and the results store (SQLite,
// written and read back). Beyond "no crash, no sanitizer report, no exception", it checks what a
// user relies on: every figure is finite and none is zero or negative (ttft_residual_ms aside),
// every writer's output is valid UTF-8, and the text's bytes survive JSON and SQLite exactly.
// Run: build/fuzz/tests/fuzz/stream_pipeline_fuzz -max_total_time=600
// tests/fuzz/corpus/stream_pipeline
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lab/metrics.h"
#include "lab/record_json.h"
#include "lab/store.h"
#include "llm/ollama_stream.h"
#include "llm/openai_stream.h"
#include "llm/stream_record.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace {

using chimera::llm::CallRecord;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// One store for the process, replaced now and then so the file stays small.
chimera::lab::ResultsStore* store() {
  static std::unique_ptr<chimera::lab::ResultsStore> current;
  static int uses = 0;
  static const std::string dir = [] {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string path = base + "/chimera-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(path);
    return path;
  }();
  if (current == nullptr || ++uses % 2000 == 0) {
    current.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(dir + "/results.db" + suffix, ec);
    }
    auto opened = chimera::lab::ResultsStore::open(dir + "/results.db");
    check(opened.ok());
    current = std::move(*opened);
  }
  return current.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = bytes[0];
  const bool openai = mode & 1, chat = mode & 2, per_chunk_usage = mode & 4;
  uint32_t state = static_cast<uint32_t>(bytes[1]) << 8 | bytes[2];
  std::string_view data(reinterpret_cast<const char*>(bytes + 3), size - 3);

  CallRecord record;
  record.backend = openai ? "openai://fuzz" : "ollama://fuzz";
  record.t_request_ns = 1'000'000'000;
  int64_t now = record.t_request_ns;
  chimera::llm::OnText on_text = [](std::string_view) { return true; };
  chimera::llm::OllamaStreamDecoder ollama(record, on_text);
  chimera::llm::OpenAIStreamDecoder sse(record, chat, per_chunk_usage, on_text);
  auto feed = [&](std::string_view piece) {
    now += 1'000'000 + (state >> 20);  // 1 to ~5 ms between reads
    return openai ? sse.feed(piece, now) : ollama.feed(piece, now);
  };
  chimera::Status status;
  size_t at = 0;
  while (at < data.size() && status.is_ok()) {
    state = state * 1103515245u + 12345u;
    size_t n = 1 + (state >> 16) % 61;
    status = feed(data.substr(at, n));
    at += n;
  }
  if (status.is_ok()) status = openai ? sse.finish(now) : ollama.finish(now);
  record.t_first_byte_ns = record.t_request_ns + 500'000;
  record.t_done_ns = now + 1'000'000;
  record.ok = status.is_ok();
  if (!record.ok) chimera::llm::fail_record(record, status);
  chimera::llm::validate_server_timings(
      record, openai ? chimera::llm::kLlamaCppFields : chimera::llm::kOllamaFields);
  chimera::llm::settle_token_count(record, record.server.eval_count);
  check(record.chunk_times_ns.size() == static_cast<size_t>(record.chunk_count));
  check(chimera::is_valid_utf8(record.error));

  // Figures: finite, and positive (a residual may be negative by nature; a load may be 0).
  chimera::lab::CallMetrics m = chimera::lab::compute_call_metrics(record);
  for (const auto& [name, value] : m.values) {
    check(std::isfinite(value.value));
    if (name == chimera::lab::kTtftResidualMs) continue;
    if (name == chimera::lab::kLoadMs) {
      check(value.value >= 0);
    } else {
      check(value.value > 0);
    }
  }
  for (double itl : m.itl_ms) check(std::isfinite(itl) && itl >= 0);
  std::vector<CallRecord> arm = {record, record};
  chimera::lab::ArmMetrics summary = chimera::lab::summarize_calls(arm);
  for (const auto& metric : summary.metrics) check(std::isfinite(metric.summary.mean));

  // JSON: valid UTF-8 always, and the text's bytes come back exactly.
  std::string json_out = chimera::json_text(chimera::lab::call_record_to_json(record), 1);
  check(chimera::is_valid_utf8(json_out));
  auto parsed = nlohmann::json::parse(json_out, nullptr, false);
  check(!parsed.is_discarded());
  auto back = chimera::lab::call_record_from_json(parsed);
  check(back.ok());
  check(back->text == record.text && back->thinking == record.thinking);
  check(back->ok == record.ok && back->error == record.error);

  // SQLite: written and read back, the same bytes.
  chimera::lab::ResultsStore* db = store();
  chimera::lab::SessionInfo info;
  info.command = "fuzz";
  auto session = db->begin_session(info);
  check(session.ok());
  auto id = db->add_call(*session, 0, chimera::lab::CallMeta{}, record);
  check(id.ok());
  auto stored = db->calls(*session);
  check(stored.ok() && stored->size() == 1);
  const CallRecord& read = (*stored)[0].call.record;
  check(read.text == record.text && read.thinking == record.thinking);
  check(read.server.eval_ns == record.server.eval_ns && read.token_count == record.token_count);
  return 0;
}
