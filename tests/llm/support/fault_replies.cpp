// The catalogue of faults (fault_server.h): what a broken Ollama or OpenAI-compatible server sends.
#include <algorithm>
#include <cstdint>
#include <string>

#include "llm/support/fault_server.h"

namespace chimera::testing {
namespace {

// The good answer's text, in four chunks, and statistics consistent with its pacing: the first
// chunk ~8 ms after the request, then one every 10 ms, the final object 10 ms later; so the client
// sees a time to first token >= 8 ms, 30 ms from first to last chunk, and >= 48 ms in all.
const std::vector<std::string> kChunks = {"Hel", "lo, ", "wor", "ld."};
constexpr int kFirstChunkMs = 8, kChunkGapMs = 10;

struct Stats {  // JSON text of each statistic, as written; "" leaves it out
  std::string load = "1000000", prompt_eval = "3000000", eval = "30000000", total = "40000000";
  std::string prompt_count = "7", eval_count = "4";
};

Stats stats_for(Fault fault) {
  Stats s;
  switch (fault) {
    case Fault::kMissingStats:
      return Stats{"", "", "", "", "", ""};
    case Fault::kZeroStats:
      s.prompt_eval = s.eval = s.total = "0";
      break;
    case Fault::kNegativeStats:
      s.load = s.prompt_eval = s.eval = s.total = "-1";
      break;
    case Fault::kNanStats:
      s.prompt_eval = s.eval = s.eval_count = "NaN";
      s.total = "Infinity";
      break;
    case Fault::kOverflowStats:
      s.eval = "1e30";
      s.total = "99999999999999999999999";
      s.eval_count = "1e300";
      s.prompt_eval = "-1e30";
      break;
    case Fault::kWrongTypeStats:
      s.eval = "\"30000000\"";
      s.eval_count = "true";
      s.prompt_eval = "{\"ns\":3000000}";
      s.total = "[40000000]";
      break;
    case Fault::kContradictoryStats:
      s.eval_count = "1000000";         // for 13 bytes of text
      s.eval = "1000";                  // 1 us, while the client saw 30 ms of chunks
      s.prompt_eval = "3600000000000";  // an hour, in a call the client timed at ~50 ms
      break;
    default:
      break;
  }
  return s;
}

// Durations above are in ns (Ollama); llama.cpp's "timings" are in ms: the same value, scaled,
// keeping non-numbers as they are.
std::string ms_from_ns(const std::string& ns) {
  if (ns.empty() || ns.find_first_not_of("-0123456789") != std::string::npos) return ns;
  return std::to_string(std::stod(ns) / 1e6);
}

std::string ollama_line(const std::string& text_json, bool done = false,
                        const Stats* stats = nullptr) {
  std::string line = R"({"model":"fault","created_at":"2025-01-01T00:00:00Z","response":)" +
                     text_json + R"(,"done":)" + (done ? "true" : "false");
  if (done) line += R"(,"done_reason":"stop")";
  if (stats != nullptr) {
    auto add = [&](const char* key, const std::string& value) {
      if (!value.empty()) line += std::string(",\"") + key + "\":" + value;
    };
    add("total_duration", stats->total);
    add("load_duration", stats->load);
    add("prompt_eval_count", stats->prompt_count);
    add("prompt_eval_duration", stats->prompt_eval);
    add("eval_count", stats->eval_count);
    add("eval_duration", stats->eval);
  }
  return line + "}\n";
}

std::string sse_event(const std::string& data) { return "data: " + data + "\n\n"; }

std::string openai_chunk(const std::string& text_json) {
  return sse_event(
      R"({"id":"c1","object":"chat.completion.chunk","model":"fault","choices":[{"index":0,"delta":{"content":)" +
      text_json + R"(},"finish_reason":null}]})");
}

std::string openai_final(const Stats& s) {
  std::string data =
      R"({"id":"c1","object":"chat.completion.chunk","model":"fault","choices":[{"index":0,"delta":{},"finish_reason":"stop"}])";
  if (!s.eval_count.empty()) {
    data += R"(,"usage":{"prompt_tokens":)" + s.prompt_count + R"(,"completion_tokens":)" +
            s.eval_count + "}";
    data += R"(,"timings":{"prompt_n":)" + s.prompt_count + R"(,"prompt_ms":)" +
            ms_from_ns(s.prompt_eval) + R"(,"predicted_n":)" + s.eval_count +
            R"(,"predicted_ms":)" + ms_from_ns(s.eval) + "}";
  }
  return sse_event(data + "}") + sse_event("[DONE]");
}

std::string json_string(
    const std::string& raw) {  // raw bytes inside quotes, as a server writes them
  return "\"" + raw + "\"";
}

// The body pieces of an answer: text chunks (already JSON string literals) and the final object.
std::vector<Piece> stream(Wire wire, const std::vector<std::string>& texts, const Stats& stats,
                          bool with_final = true) {
  std::vector<Piece> pieces;
  for (size_t i = 0; i < texts.size(); ++i) {
    int delay = i == 0 ? kFirstChunkMs : kChunkGapMs;
    pieces.push_back(
        {wire == Wire::kOllama ? ollama_line(texts[i]) : openai_chunk(texts[i]), delay});
  }
  if (with_final) {
    pieces.push_back(
        {wire == Wire::kOllama ? ollama_line("\"\"", true, &stats) : openai_final(stats),
         kChunkGapMs});
  }
  return pieces;
}

std::vector<std::string> good_texts() {
  std::vector<std::string> out;
  for (const std::string& chunk : kChunks) out.push_back(json_string(chunk));
  return out;
}

std::string random_bytes(size_t n, uint32_t seed, bool high_only) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    auto byte = static_cast<unsigned char>(seed >> 16);
    if (high_only) byte |= 0x80;
    if (byte == '\n' || byte == '\r') byte = 0xFF;
    out += static_cast<char>(byte);
  }
  return out;
}

uint32_t crc32(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A valid gzip member holding `bytes` in stored (uncompressed) deflate blocks: no zlib needed.
std::string gzip(const std::string& bytes) {
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  size_t at = 0;
  do {
    size_t n = std::min<size_t>(bytes.size() - at, 65535);
    bool last = at + n == bytes.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xFF);
    out += static_cast<char>((~n >> 8) & 0xFF);
    out += bytes.substr(at, n);
    at += n;
  } while (at < bytes.size());
  auto le32 = [&](uint32_t v) {
    for (int k = 0; k < 4; ++k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
  };
  le32(crc32(bytes));
  le32(static_cast<uint32_t>(bytes.size()));
  return out;
}

Reply with_status(int status, std::string content_type, std::string body) {
  Reply reply = Reply::json(std::move(body), status);
  reply.content_type = std::move(content_type);
  return reply;
}

}  // namespace

std::string_view wire_name(Wire wire) { return wire == Wire::kOllama ? "ollama" : "openai"; }

std::string_view fault_name(Fault fault) {
  switch (fault) {
    case Fault::kNone:
      return "none";
    case Fault::kInvalidUtf8:
      return "invalid_utf8";
    case Fault::kRandomBytesInText:
      return "random_bytes_in_text";
    case Fault::kRandomBytes:
      return "random_bytes";
    case Fault::kTruncatedLine:
      return "truncated_line";
    case Fault::kTruncatedEnd:
      return "truncated_end";
    case Fault::kOverlongLine:
      return "overlong_line";
    case Fault::kMissingStats:
      return "missing_stats";
    case Fault::kZeroStats:
      return "zero_stats";
    case Fault::kNegativeStats:
      return "negative_stats";
    case Fault::kNanStats:
      return "nan_stats";
    case Fault::kOverflowStats:
      return "overflow_stats";
    case Fault::kWrongTypeStats:
      return "wrong_type_stats";
    case Fault::kContradictoryStats:
      return "contradictory_stats";
    case Fault::kNoDone:
      return "no_done";
    case Fault::kNoDoneHold:
      return "no_done_hold";
    case Fault::kReset:
      return "reset";
    case Fault::kStall:
      return "stall";
    case Fault::kSlowDrip:
      return "slow_drip";
    case Fault::k429RetryAfter:
      return "http_429_retry_after";
    case Fault::k500:
      return "http_500";
    case Fault::k502:
      return "http_502";
    case Fault::k503:
      return "http_503";
    case Fault::k503RetryAfter:
      return "http_503_retry_after";
    case Fault::kLoading:
      return "loading_model";
    case Fault::kWrongContentType:
      return "wrong_content_type";
    case Fault::kGzip:
      return "gzip_body";
    case Fault::kRedirectLoop:
      return "redirect_loop";
    case Fault::kDeepJson:
      return "deep_json";
  }
  return "?";
}

const std::vector<Fault>& all_faults() {
  static const std::vector<Fault> kAll = {Fault::kInvalidUtf8,
                                          Fault::kRandomBytesInText,
                                          Fault::kRandomBytes,
                                          Fault::kTruncatedLine,
                                          Fault::kTruncatedEnd,
                                          Fault::kOverlongLine,
                                          Fault::kMissingStats,
                                          Fault::kZeroStats,
                                          Fault::kNegativeStats,
                                          Fault::kNanStats,
                                          Fault::kOverflowStats,
                                          Fault::kWrongTypeStats,
                                          Fault::kContradictoryStats,
                                          Fault::kNoDone,
                                          Fault::kNoDoneHold,
                                          Fault::kReset,
                                          Fault::kStall,
                                          Fault::kSlowDrip,
                                          Fault::k429RetryAfter,
                                          Fault::k500,
                                          Fault::k502,
                                          Fault::k503,
                                          Fault::k503RetryAfter,
                                          Fault::kLoading,
                                          Fault::kWrongContentType,
                                          Fault::kGzip,
                                          Fault::kRedirectLoop,
                                          Fault::kDeepJson};
  return kAll;
}

std::vector<std::tuple<Wire, Fault>> every_wire_and_fault() {
  std::vector<std::tuple<Wire, Fault>> out;
  for (Wire wire : {Wire::kOllama, Wire::kOpenAI}) {
    for (Fault fault : all_faults()) out.emplace_back(wire, fault);
  }
  return out;
}

std::string fault_case_name(const std::tuple<Wire, Fault>& wire_and_fault) {
  return std::string(wire_name(std::get<0>(wire_and_fault))) + "_" +
         std::string(fault_name(std::get<1>(wire_and_fault)));
}

FaultOutcome expected_outcome(Fault fault, Wire wire) {
  auto failed = [](std::string reason, bool offset = false) {
    FaultOutcome o;
    o.ok = false;
    o.reason = std::move(reason);
    o.names_body_offset = offset;
    return o;
  };
  FaultOutcome ok;
  switch (fault) {
    case Fault::kRandomBytes:
    case Fault::kTruncatedLine:
    case Fault::kTruncatedEnd:
      return failed(wire == Wire::kOllama ? "is not a valid Ollama object" : "is not a JSON object",
                    true);
    case Fault::kOverlongLine:
      return failed(wire == Wire::kOllama ? "NDJSON line" : "server-sent event", true);
    case Fault::kZeroStats:
    case Fault::kNegativeStats:
    case Fault::kNanStats:
    case Fault::kOverflowStats:
    case Fault::kWrongTypeStats:
    case Fault::kContradictoryStats:
      ok.stats_rejected = true;
      return ok;
    case Fault::kNoDone:
      return failed("the stream ended after", true);
    case Fault::kNoDoneHold:
    case Fault::kStall:
      return failed("no data for", true);
    case Fault::kReset:
      return failed("the connection failed after", true);
    case Fault::k429RetryAfter:
    case Fault::k503RetryAfter:
    case Fault::kLoading:
      ok.retried = true;
      return ok;
    case Fault::k500:
      return failed("HTTP 500");
    case Fault::k502:
      return failed("HTTP 502");
    case Fault::k503:
      return failed("HTTP 503");
    case Fault::kWrongContentType:
      return failed("Content-Type text/html");
    case Fault::kGzip:
      return failed("Content-Encoding: gzip");
    case Fault::kRedirectLoop:
      return failed("HTTP 302");
    case Fault::kDeepJson:
      return failed("nested deeper than 64 levels", true);
    default:
      return ok;
  }
}

Reply fault_reply(Fault fault, Wire wire, const std::string& self_url) {
  const bool ollama = wire == Wire::kOllama;
  Reply reply;
  reply.content_type = ollama ? "application/x-ndjson" : "text/event-stream";
  const Stats stats = stats_for(fault);
  switch (fault) {
    case Fault::kInvalidUtf8:
      // "café" split inside its "é", then a lone continuation byte and a truncated sequence.
      reply.pieces = stream(wire,
                            {json_string("caf\xC3"), json_string("\xA9 "),
                             json_string("bad \x80 byte"), json_string("cut \xE2\x82")},
                            stats);
      return reply;
    case Fault::kRandomBytesInText:
      reply.pieces = stream(wire,
                            {json_string(random_bytes(24, 7, true)),
                             json_string(random_bytes(24, 8, true)), json_string("ok")},
                            stats);
      return reply;
    case Fault::kRandomBytes: {
      reply.pieces = stream(wire, good_texts(), stats);
      std::string junk = "\xFF" + random_bytes(200, 11, false) + "\n";
      reply.pieces.insert(reply.pieces.begin() + 2, Piece{ollama ? junk : "data: " + junk + "\n"});
      return reply;
    }
    case Fault::kTruncatedLine: {
      reply.pieces = stream(wire, good_texts(), stats);
      std::string half =
          ollama ? std::string(R"({"model":"fault","response":"Hel)") + "\n"
                 : std::string(R"(data: {"choices":[{"delta":{"content":"Hel)") + "\n\n";
      reply.pieces.insert(reply.pieces.begin() + 1, Piece{half});
      return reply;
    }
    case Fault::kTruncatedEnd: {
      reply.pieces = stream(wire, good_texts(), stats, /*with_final=*/false);
      reply.pieces.push_back({ollama ? R"({"model":"fault","response":"","done":tr)"
                                     : R"(data: {"choices":[{"delta":{},"finish_re)"});
      return reply;
    }
    case Fault::kOverlongLine:
      reply.pieces = stream(wire, good_texts(), stats, /*with_final=*/false);
      reply.pieces.push_back(
          {ollama ? R"({"response":")" : R"(data: {"choices":[{"delta":{"content":")"});
      reply.pieces.push_back({std::string(1u << 20, 'a'), 0, 65});  // 65 MiB, no newline
      return reply;
    case Fault::kNoDone:
      reply.pieces = stream(wire, good_texts(), stats, /*with_final=*/false);
      return reply;
    case Fault::kNoDoneHold:
      reply.pieces = stream(wire, good_texts(), stats, /*with_final=*/false);
      reply.hold_ms = 30'000;
      return reply;
    case Fault::kReset:
      reply.pieces = stream(wire, good_texts(), stats, /*with_final=*/false);
      reply.pieces.resize(2);
      reply.reset = true;
      return reply;
    case Fault::kStall:
      reply.pieces = stream(wire, good_texts(), stats);
      reply.pieces[2].delay_ms = 3'000;
      return reply;
    case Fault::kSlowDrip: {
      std::string body = ollama ? "{\"response\":\"ok\"}\n{\"done\":true}\n"
                                : "data:{\"choices\":[{\"delta\":{\"content\":\"ok\"},"
                                  "\"finish_reason\":\"stop\"}]}\n\n";
      for (char c : body) reply.pieces.push_back({std::string(1, c), 100});
      return reply;
    }
    case Fault::k429RetryAfter: {
      reply = with_status(
          429, "application/json",
          ollama ? R"({"error":"too many requests"})"
                 : R"({"error":{"message":"Rate limit reached","type":"rate_limit_error"}})");
      reply.headers = {{"Retry-After", "1"}};
      return reply;
    }
    case Fault::k500:
      return with_status(500, "application/json",
                         ollama
                             ? R"({"error":"llama runner process has terminated"})"
                             : R"({"error":{"message":"internal failure","type":"server_error"}})");
    case Fault::k502:
      return with_status(
          502, "text/html",
          "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>");
    case Fault::k503:
      return with_status(
          503, "application/json",
          R"({"error":"server busy, please try again.  maximum pending requests exceeded"})");
    case Fault::k503RetryAfter: {
      reply = with_status(503, "application/json", R"({"error":"server busy"})");
      reply.headers = {{"Retry-After", "1"}};
      return reply;
    }
    case Fault::kLoading:
      return with_status(
          503, "application/json",
          R"({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})");
    case Fault::kWrongContentType:
      return with_status(
          200, "text/html",
          "<!DOCTYPE html><html><body><h1>Sign in to the network</h1></body></html>");
    case Fault::kGzip: {
      std::string body;
      for (const Piece& piece : stream(wire, good_texts(), stats)) body += piece.bytes;
      reply.pieces = {{gzip(body)}};
      reply.headers = {{"Content-Encoding", "gzip"}};
      return reply;
    }
    case Fault::kRedirectLoop: {
      reply = with_status(302, "text/plain", "Found");
      reply.headers = {
          {"Location", self_url + (ollama ? "/api/generate" : "/v1/chat/completions")}};
      return reply;
    }
    case Fault::kDeepJson: {
      std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
      std::string line =
          ollama ? R"({"response":"x","extra":)" + deep + "}\n"
                 : "data: " + std::string(R"({"choices":[{"delta":{"content":"x"}}],"extra":)") +
                       deep + "}\n\n";
      reply.pieces = stream(wire, good_texts(), stats);
      reply.pieces.insert(reply.pieces.begin() + 1, Piece{line});
      return reply;
    }
    case Fault::kNone:
    case Fault::kMissingStats:
    case Fault::kZeroStats:
    case Fault::kNegativeStats:
    case Fault::kNanStats:
    case Fault::kOverflowStats:
    case Fault::kWrongTypeStats:
    case Fault::kContradictoryStats:
      reply.pieces = stream(wire, good_texts(), stats);
      return reply;
  }
  return reply;
}

}  // namespace chimera::testing
