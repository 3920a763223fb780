#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "llm/sse.h"

namespace chimera::llm {
namespace {

struct Seen {
  std::string type, data, id;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Seen& s) {
  return out << "{" << s.type << "|" << s.data << "|" << s.id << "}";
}

std::vector<Seen> parse_with_cuts(const std::string& stream, const std::vector<size_t>& cuts,
                                  bool finish = true) {
  SseParser parser;
  std::vector<Seen> events;
  auto collect = [&](const SseEvent& e) {
    events.push_back({e.type, e.data, e.id});
    return true;
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    EXPECT_TRUE(parser.feed(std::string_view(stream).substr(at, cut - at), collect).is_ok());
    at = cut;
  }
  EXPECT_TRUE(parser.feed(std::string_view(stream).substr(at), collect).is_ok());
  if (finish) {
    EXPECT_TRUE(parser.finish(collect).is_ok());
  }
  return events;
}

std::vector<Seen> parse(const std::string& stream, bool finish = true) {
  return parse_with_cuts(stream, {}, finish);
}

// Examples from the WHATWG HTML standard, "Server-sent events", §9.2.6 "Interpreting an event
// stream".
TEST(SseParser, SpecExampleMultiLineData) {
  EXPECT_EQ(parse("data: YHOO\ndata: +2\ndata: 10\n\n"),
            (std::vector<Seen>{{"message", "YHOO\n+2\n10", ""}}));
}

TEST(SseParser, SpecExampleCommentsIdsAndOneSpaceRemoved) {
  const std::string stream =
      ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
  // Strictly, the third event is never dispatched (no blank line follows); finish() dispatches it
  // because servers end streams that way ("data: [DONE]" then close).
  EXPECT_EQ(parse(stream, /*finish=*/false),
            (std::vector<Seen>{{"message", "first event", "1"}, {"message", "second event", ""}}));
  auto all = parse(stream);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].data, " third event");
}

TEST(SseParser, SpecExampleEmptyDataFields) {
  EXPECT_EQ(parse("data\n\ndata\ndata\n\ndata:", /*finish=*/false),
            (std::vector<Seen>{{"message", "", ""}, {"message", "\n", ""}}));
}

TEST(SseParser, SpecExampleSpaceAfterColonIsOptional) {
  EXPECT_EQ(parse("data:test\n\ndata: test\n\n"),
            (std::vector<Seen>{{"message", "test", ""}, {"message", "test", ""}}));
}

TEST(SseParser, EventTypeAppliesToOneEventAndEmptyEventsAreNotDispatched) {
  EXPECT_EQ(parse("event: ping\n\nevent: update\ndata: 1\n\ndata: 2\n\n"),
            (std::vector<Seen>{{"update", "1", ""}, {"message", "2", ""}}));
}

TEST(SseParser, AllThreeLineEndings) {
  std::vector<Seen> expected = {{"message", "a", ""}, {"message", "b", ""}, {"message", "c", ""}};
  EXPECT_EQ(parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n"), expected);
}

TEST(SseParser, CountsKeepAliveCommentsAndReadsRetry) {
  SseParser parser;
  int events = 0;
  ASSERT_TRUE(parser
                  .feed(": ping\n: ping\nretry: 3000\ndata: x\n\n",
                        [&](const SseEvent&) {
                          ++events;
                          return true;
                        })
                  .is_ok());
  EXPECT_EQ(events, 1);
  EXPECT_EQ(parser.comments_seen(), 2);
  EXPECT_EQ(parser.retry_ms(), 3000);
}

TEST(SseParser, LlamaCppErrorFieldBecomesAnErrorEvent) {
  // llama.cpp server builds before late 2025 (PR #16109) sent this at HTTP 200.
  auto events = parse(
      "data: {\"choices\":[]}\n\nerror: {\"code\":400,\"message\":\"the request exceeds the "
      "available context size\"}\n\ndata: [DONE]\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].type, "error");
  EXPECT_NE(events[1].data.find("exceeds the available context size"), std::string::npos);
  EXPECT_EQ(events[2].data, "[DONE]");
}

TEST(SseParser, ByteOrderMarkIsSkippedOnlyAtTheStart) {
  EXPECT_EQ(parse("\xEF\xBB\xBF"
                  "data: a\n\n"),
            (std::vector<Seen>{{"message", "a", ""}}));
  // Split inside the BOM.
  EXPECT_EQ(parse_with_cuts("\xEF\xBB\xBF"
                            "data: a\n\n",
                            {1, 2}),
            (std::vector<Seen>{{"message", "a", ""}}));
  EXPECT_EQ(parse("data: \xEF\xBB\xBF"
                  "a\n\n"),
            (std::vector<Seen>{{"message",
                                "\xEF\xBB\xBF"
                                "a",
                                ""}}));
}

const std::string kMixed =
    ": keep-alive\r\ndata: {\"t\":\"caf\xC3\xA9\"}\r\n\r\nevent: note\rdata: line1\rdata: line2\r\r"
    "id: 7\ndata: \xF0\x9F\xA4\x96\n\ndata: [DONE]\n\n";
const std::vector<Seen> kMixedEvents = {{"message", "{\"t\":\"caf\xC3\xA9\"}", ""},
                                        {"note", "line1\nline2", ""},
                                        {"message", "\xF0\x9F\xA4\x96", "7"},
                                        {"message", "[DONE]", "7"}};

TEST(SseParser, EveryTwoWaySplitGivesTheSameEvents) {
  for (size_t cut = 0; cut <= kMixed.size(); ++cut) {
    EXPECT_EQ(parse_with_cuts(kMixed, {cut}), kMixedEvents) << "cut at " << cut;
  }
}

TEST(SseParser, ByteAtATimeAndRandomSplits) {
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < kMixed.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ(parse_with_cuts(kMixed, every_byte), kMixedEvents);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < kMixed.size(); ++i) {
      if (rng() % 3 == 0) cuts.push_back(i);
    }
    EXPECT_EQ(parse_with_cuts(kMixed, cuts), kMixedEvents);
  }
}

TEST(SseParser, StopsWhenTheCallbackSaysSo) {
  SseParser parser;
  int seen = 0;
  ASSERT_TRUE(
      parser.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n", [&](const SseEvent&) { return ++seen < 2; })
          .is_ok());
  EXPECT_EQ(seen, 2);
}

TEST(SseParser, AnOverlongEventIsAnError) {
  SseParser parser(/*max_event_bytes=*/32);
  auto ignore = [](const SseEvent&) { return true; };
  Status status = parser.feed("data: 0123456789\ndata: 0123456789\ndata: 0123456789\n", ignore);
  EXPECT_EQ(status.code(), ErrorCode::kParseError);
  EXPECT_EQ(SseParser(8).feed(std::string(100, 'x'), ignore).code(), ErrorCode::kParseError);
}

}  // namespace
}  // namespace chimera::llm
