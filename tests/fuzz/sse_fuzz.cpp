// libFuzzer: the SSE parser and the OpenAI stream decoder on arbitrary bytes fed in arbitrary
// splits. Beyond "no crash, no sanitizer report", it checks a property: the events are the same
// however the bytes are split across reads ("\r" at the end of one read and "\n" at the start of
// the next included). Run: build/<fuzz dir>/tests/fuzz/sse_fuzz -max_total_time=300
// tests/fuzz/corpus/sse
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "llm/openai_stream.h"
#include "llm/sse.h"

namespace {

using Event = std::tuple<std::string, std::string, std::string>;

std::vector<Event> events_of(std::string_view data, const std::vector<size_t>& cuts) {
  chimera::llm::SseParser parser;
  std::vector<Event> events;
  auto collect = [&](const chimera::llm::SseEvent& e) {
    events.emplace_back(e.type, e.data, e.id);
    return true;
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    (void)parser.feed(data.substr(at, cut - at), collect);
    at = cut;
  }
  (void)parser.feed(data.substr(at), collect);
  (void)parser.finish(collect);
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 3) return 0;
  uint32_t state = static_cast<uint32_t>(bytes[0]) << 8 | bytes[1];
  const bool chat = bytes[2] & 1;
  std::string_view data(reinterpret_cast<const char*>(bytes + 3), size - 3);
  std::vector<size_t> cuts;
  for (size_t at = 0; at < data.size();) {
    state = state * 1103515245u + 12345u;
    at += 1 + (state >> 16) % 13;
    if (at < data.size()) cuts.push_back(at);
  }
  if (events_of(data, cuts) != events_of(data, {})) __builtin_trap();

  chimera::llm::CallRecord record;
  chimera::llm::OnText on_text = [](std::string_view) { return true; };
  chimera::llm::OpenAIStreamDecoder decoder(record, chat, /*per_chunk_usage=*/bytes[2] & 2,
                                            on_text);
  size_t at = 0;
  int64_t now = 1;
  for (size_t cut : cuts) {
    if (!decoder.feed(data.substr(at, cut - at), ++now).is_ok()) break;
    at = cut;
  }
  (void)decoder.feed(data.substr(at), ++now);
  (void)decoder.finish(++now);
  (void)decoder.decode_whole(data, ++now);  // the non-streaming path on the same bytes
  if (record.chunk_times_ns.size() != static_cast<size_t>(record.chunk_count)) __builtin_trap();
  return 0;
}
