// What servers send that a strict JSON parser refuses (wire_json.h): bytes that are not UTF-8 kept
// exactly, NaN reported as NaN, lone surrogates replaced, deep nesting refused before it is built;
// and the retry rules of the HTTP client (which answers to wait for, and how long).
#include "llm/wire_json.h"

#include <gtest/gtest.h>

#include "llm/http_client.h"
#include "llm/ollama_stream.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

TEST(WireJson, ValidJsonIsLeftAsItIs) {
  auto wire = make_parseable(R"({"response":"caf\u00e9 ☕","n":[1,2,3]})");
  ASSERT_TRUE(wire.ok());
  EXPECT_FALSE(wire->rewritten);
}

TEST(WireJson, InvalidBytesInStringsSurviveTheParseExactly) {
  // A lone continuation byte, a truncated sequence, an overlong, a surrogate, and a genuine
  // character of the escape range itself (U+10FF41), which must not be mistaken for an escape.
  const std::string raw = "a\x80 b\xE2\x82 c\xC0\xAF d\xED\xA0\x80 e\xF4\x8F\xBD\x81 f";
  const std::string line = "{\"response\":\"" + raw + "\",\"done\":false}";
  WireJson info;
  auto parsed = parse_wire_json(line, &info);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(info.bytes_escaped);
  EXPECT_EQ(info.first_invalid_utf8, line.find('\x80'));
  std::string text = (*parsed)["response"].get<std::string>();
  EXPECT_TRUE(is_valid_utf8(text));  // what nlohmann holds is always valid
  restore_bytes(text);
  EXPECT_EQ(text, raw);
}

TEST(WireJson, TheOllamaDecoderKeepsTheBytesToo) {
  OllamaObject object;
  const std::string raw = "caf\xC3";
  ASSERT_TRUE(
      parse_ollama_object("{\"response\":\"" + raw + "\",\"done\":false}", 1, object).is_ok());
  EXPECT_EQ(object.text, raw);
  EXPECT_EQ(object.first_invalid_utf8, 16u);
}

TEST(WireJson, NonFiniteLiteralsBecomeMarkersNotSyntaxErrors) {
  auto parsed = parse_wire_json(R"({"a":NaN,"b":-Infinity,"c":[Infinity],"d":"NaN"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(non_finite_literal((*parsed)["a"].get<std::string>()), "NaN");
  EXPECT_EQ(non_finite_literal((*parsed)["b"].get<std::string>()), "-Infinity");
  EXPECT_EQ(non_finite_literal((*parsed)["c"][0].get<std::string>()), "Infinity");
  EXPECT_EQ(non_finite_literal((*parsed)["d"].get<std::string>()), "");  // a real string "NaN"
}

TEST(WireJson, LoneSurrogateEscapesAreReplaced) {
  auto parsed = parse_wire_json(R"({"t":"a\ud800b\udc00c\ud83d\ude00"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ((*parsed)["t"].get<std::string>(),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c\xF0\x9F\x98\x80");
}

TEST(WireJson, DeepNestingIsRefusedWithItsOffset) {
  std::string deep = "{\"x\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  auto parsed = parse_wire_json(deep);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("nested deeper than 64 levels (at byte 68)"),
            std::string::npos)
      << parsed.status().message();
  // Brackets inside strings are text, not nesting.
  EXPECT_TRUE(parse_wire_json("{\"x\":\"" + std::string(1000, '[') + "\"}").ok());
  OllamaObject object;
  Status s = parse_ollama_object(deep, 3, object, 1234);
  EXPECT_NE(s.message().find("nested deeper than 64"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("body byte 1234"), std::string::npos) << s.message();
}

TEST(WireJson, ExcerptsInMessagesAreAlwaysUtf8) {
  std::string shown = excerpt("ok \xC3\xA9 \xFF\xFE end");
  EXPECT_TRUE(is_valid_utf8(shown));
  EXPECT_EQ(shown, "ok \xC3\xA9 \\xff\\xfe end");
}

HttpResponse answer(long status, std::string retry_after = "", std::string body = "") {
  HttpResponse r;
  r.http_status = status;
  r.retry_after = std::move(retry_after);
  r.body = std::move(body);
  return r;
}

TEST(RetryRules, OnlyNotNowAnswersAreRetried) {
  EXPECT_EQ(retry_wait_ms(answer(429, "2"), 0), 2000);
  EXPECT_EQ(retry_wait_ms(answer(429), 0), 250);   // no Retry-After: back off
  EXPECT_EQ(retry_wait_ms(answer(429), 3), 2000);  // capped
  EXPECT_EQ(retry_wait_ms(answer(503, "1"), 0), 1000);
  EXPECT_EQ(
      retry_wait_ms(answer(503, "", R"({"error":{"code":503,"message":"Loading model"}})"), 1),
      500);
  // A plain 503 is a full queue: a load test must count it, not hide it.
  EXPECT_FALSE(retry_wait_ms(answer(503, "", R"({"error":"server busy"})"), 0));
  for (long status : {200L, 400L, 404L, 500L, 502L, 504L}) {
    EXPECT_FALSE(retry_wait_ms(answer(status, "1"), 0)) << status;
  }
  // An HTTP date in the past means "now"; garbage is ignored (then the backoff applies).
  EXPECT_EQ(retry_wait_ms(answer(429, "Wed, 21 Oct 2015 07:28:00 GMT"), 0), 0);
  EXPECT_EQ(retry_wait_ms(answer(429, "soon"), 0), 250);
}

TEST(RetryRules, ErrorMessagesNeverDumpWhatTheServerNested) {
  std::string deep = "{\"error\":" + std::string(50'000, '[') + std::string(50'000, ']') + "}";
  std::string message = error_message_from_body(deep);
  EXPECT_LE(message.size(), 210u);
  HttpResponse redirect = answer(302);
  redirect.location = "http://127.0.0.1:1/api/generate";
  Status s = http_error_status(redirect, "http://127.0.0.1:1/api/generate");
  EXPECT_NE(s.message().find("redirected to http://127.0.0.1:1/api/generate"), std::string::npos);
  EXPECT_NE(s.message().find("not followed"), std::string::npos);
}

}  // namespace
}  // namespace chimera::llm
