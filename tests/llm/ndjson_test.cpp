#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "llm/ndjson.h"
#include "llm/ollama_stream.h"

namespace chimera::llm {
namespace {

std::vector<std::string> split_all(const std::string& stream, const std::vector<size_t>& cuts) {
  NdjsonSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    EXPECT_TRUE(splitter.feed(std::string_view(stream).substr(at, cut - at), collect).is_ok());
    at = cut;
  }
  EXPECT_TRUE(splitter.feed(std::string_view(stream).substr(at), collect).is_ok());
  EXPECT_TRUE(splitter.finish(collect).is_ok());
  return lines;
}

// Lines with multi-byte UTF-8 ("é" is 2 bytes, "🤖" 4) so some cuts fall inside a character.
const std::string kStream =
    "{\"response\":\"caf\xC3\xA9\"}\n{\"response\":\" \xF0\x9F\xA4\x96\"}\r\n\n  \n{\"done\":true}";
const std::vector<std::string> kLines = {"{\"response\":\"caf\xC3\xA9\"}",
                                         "{\"response\":\" \xF0\x9F\xA4\x96\"}", "{\"done\":true}"};

TEST(NdjsonSplitter, EveryTwoWaySplitGivesTheSameLines) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    EXPECT_EQ(split_all(kStream, {cut}), kLines) << "cut at " << cut;
  }
}

TEST(NdjsonSplitter, ByteAtATimeAndRandomSplits) {
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < kStream.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(split_all(kStream, every_byte), kLines);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < kStream.size(); ++i) {
      if (rng() % 4 == 0) cuts.push_back(i);
    }
    EXPECT_EQ(split_all(kStream, cuts), kLines);
  }
}

TEST(NdjsonSplitter, SeveralLinesInOneReadArePassedWithoutCopy) {
  NdjsonSplitter splitter;
  std::string chunk = "{\"a\":1}\n{\"a\":2}\n";
  std::vector<const char*> starts;
  ASSERT_TRUE(splitter
                  .feed(chunk,
                        [&](std::string_view line) {
                          starts.push_back(line.data());
                          return true;
                        })
                  .is_ok());
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0], chunk.data());  // views into the caller's buffer
  EXPECT_EQ(starts[1], chunk.data() + 8);
}

TEST(NdjsonSplitter, StopsWhenTheCallbackSaysSo) {
  NdjsonSplitter splitter;
  int seen = 0;
  ASSERT_TRUE(splitter.feed("a\nb\nc\n", [&](std::string_view) { return ++seen < 2; }).is_ok());
  EXPECT_EQ(seen, 2);
  ASSERT_TRUE(splitter.feed("d\n", [&](std::string_view) { return ++seen < 99; }).is_ok());
  EXPECT_EQ(seen, 2);
}

TEST(NdjsonSplitter, AnOverlongLineIsAnErrorNotUnboundedMemory) {
  NdjsonSplitter splitter(/*max_line_bytes=*/16);
  auto ignore = [](std::string_view) { return true; };
  EXPECT_TRUE(splitter.feed("0123456789", ignore).is_ok());
  Status status = splitter.feed("0123456789", ignore);
  EXPECT_EQ(status.code(), ErrorCode::kParseError);
  EXPECT_NE(status.message().find("longer than 16 bytes"), std::string::npos);
}

TEST(ParseJsonLine, MalformedLineNamesTheLineAndShowsItsStart) {
  auto parsed = parse_json_line("<html><body>502 Bad Gateway</body></html>", 7);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), ErrorCode::kParseError);
  EXPECT_NE(parsed.status().message().find("line 7"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("<html><body>502"), std::string::npos);
  EXPECT_TRUE(parse_json_line("{\"ok\":true}", 1).ok());
}

TEST(OllamaObject, ReadsChimeraServesQueueDuration) {
  OllamaObject object;
  ASSERT_TRUE(
      parse_ollama_object(R"({"done":true,"eval_count":3,"queue_duration":41000000})", 1, object)
          .is_ok());
  EXPECT_EQ(object.queue_duration.value, 41000000.0);
  ASSERT_TRUE(parse_ollama_object(R"({"done":false,"response":"x"})", 2, object).is_ok());
  EXPECT_FALSE(object.queue_duration.present());  // cleared between objects
}

TEST(OllamaObject, ReadsGenerateChatAndFinalFields) {
  OllamaObject object;
  // The final object of docs/api.md "Generate request (Streaming)".
  ASSERT_TRUE(
      parse_ollama_object(
          R"({"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"","done":true,)"
          R"("context":[1,2,3],"total_duration":10706818083,"load_duration":6338219291,)"
          R"("prompt_eval_count":26,"prompt_eval_duration":130079000,"eval_count":259,)"
          R"("eval_duration":4232710000})",
          1, object)
          .is_ok());
  EXPECT_TRUE(object.done);
  EXPECT_EQ(object.total_duration.value, 10706818083.0);
  EXPECT_EQ(object.load_duration.value, 6338219291.0);
  EXPECT_EQ(object.prompt_eval_count.value, 26.0);
  EXPECT_EQ(object.prompt_eval_duration.value, 130079000.0);
  EXPECT_EQ(object.eval_count.value, 259.0);
  EXPECT_EQ(object.eval_duration.value, 4232710000.0);
  EXPECT_FALSE(object.queue_duration.present());  // Ollama does not send it
  EXPECT_EQ(object.text, "");

  ASSERT_TRUE(
      parse_ollama_object(
          R"({"model":"llama3.2","message":{"role":"assistant","content":"The","images":null},"done":false})",
          2, object)
          .is_ok());
  EXPECT_EQ(object.text, "The");
  EXPECT_FALSE(object.done);
  EXPECT_FALSE(object.eval_count.present());  // cleared between lines

  ASSERT_TRUE(
      parse_ollama_object(R"({"response":"","thinking":"hmm","done":false})", 3, object).is_ok());
  EXPECT_EQ(object.thinking, "hmm");
}

TEST(OllamaObject, NestedNumbersAndKeysDoNotLeakIntoTopLevelFields) {
  OllamaObject object;
  ASSERT_TRUE(
      parse_ollama_object(
          R"({"response":"x","extra":{"eval_count":5,"done":true,"response":"no"},"list":[{"eval_count":6}]})",
          1, object)
          .is_ok());
  EXPECT_EQ(object.text, "x");
  EXPECT_FALSE(object.eval_count.present());
  EXPECT_FALSE(object.done);
}

TEST(OllamaObject, ErrorObjectsInBothShapes) {
  OllamaObject object;
  ASSERT_TRUE(parse_ollama_object(R"({"error":"an error was encountered while running the model"})",
                                  1, object)
                  .is_ok());
  EXPECT_TRUE(object.has_error);
  EXPECT_EQ(object.error, "an error was encountered while running the model");
  ASSERT_TRUE(
      parse_ollama_object(R"({"error":{"message":"boom","type":"api_error"}})", 1, object).is_ok());
  EXPECT_TRUE(object.has_error);
  EXPECT_EQ(object.error, "boom");
}

TEST(OllamaObject, NonObjectsAndGarbageAreErrors) {
  OllamaObject object;
  // (Bytes that are not UTF-8 inside a string are not garbage: they are kept, wire_json_test.cpp.)
  for (std::string_view bad : {"[1,2]", "42", "\"text\"", "{\"response\":\"x\"",
                               "{\"a\":1} trailing", "", "\xff{\"response\":\"x\"}"}) {
    Status status = parse_ollama_object(bad, 9, object);
    EXPECT_EQ(status.code(), ErrorCode::kParseError) << bad;
    EXPECT_NE(status.message().find("line 9"), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace chimera::llm
