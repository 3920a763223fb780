// libFuzzer: the NDJSON splitter and the Ollama stream decoder on arbitrary bytes fed in arbitrary
// splits. Beyond "no crash, no sanitizer report", it checks a property: the lines are the same
// however the bytes are split across reads. Run: build/<fuzz dir>/tests/fuzz/ndjson_fuzz
// -max_total_time=300 tests/fuzz/corpus/ndjson
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "llm/ndjson.h"
#include "llm/ollama_stream.h"

namespace {

std::vector<std::string> lines_of(std::string_view data, const std::vector<size_t>& cuts) {
  chimera::llm::NdjsonSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    (void)splitter.feed(data.substr(at, cut - at), collect);
    at = cut;
  }
  (void)splitter.feed(data.substr(at), collect);
  (void)splitter.finish(collect);
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 2) return 0;
  // The first two bytes choose the split pattern; the rest is the stream.
  uint32_t state = static_cast<uint32_t>(bytes[0]) << 8 | bytes[1];
  std::string_view data(reinterpret_cast<const char*>(bytes + 2), size - 2);
  std::vector<size_t> cuts;
  for (size_t at = 0; at < data.size();) {
    state = state * 1103515245u + 12345u;
    at += 1 + (state >> 16) % 17;
    if (at < data.size()) cuts.push_back(at);
  }
  if (lines_of(data, cuts) != lines_of(data, {})) __builtin_trap();

  chimera::llm::CallRecord record;
  chimera::llm::OnText on_text = [](std::string_view) { return true; };
  chimera::llm::OllamaStreamDecoder decoder(record, on_text);
  size_t at = 0;
  int64_t now = 1;
  for (size_t cut : cuts) {
    if (!decoder.feed(data.substr(at, cut - at), ++now).is_ok()) break;
    at = cut;
  }
  (void)decoder.feed(data.substr(at), ++now);
  (void)decoder.finish(++now);
  // What was recorded stays consistent whatever the bytes were.
  if (record.chunk_times_ns.size() != static_cast<size_t>(record.chunk_count)) __builtin_trap();
  return 0;
}
