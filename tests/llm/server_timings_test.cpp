// The server's statistics checked against each other and the client's clocks
// (stream_record.h, validate_server_timings): what cannot be true is rejected with its reason.
#include <gtest/gtest.h>

#include "llm/stream_record.h"

namespace chimera::llm {
namespace {

constexpr int64_t kMs = 1'000'000;

// A call the client timed: request at 1 s, first token 100 ms later, 10 chunks 20 ms apart, done
// 300 ms after the request; 40 bytes of text.
CallRecord timed_call() {
  CallRecord r;
  r.t_request_ns = 1'000 * kMs;
  r.t_first_token_ns = r.t_request_ns + 100 * kMs;
  for (int i = 0; i < 10; ++i) r.chunk_times_ns.push_back(r.t_first_token_ns + i * 20 * kMs);
  r.chunk_count = 10;
  r.t_done_ns = r.t_request_ns + 300 * kMs;
  r.text = std::string(40, 'x');
  r.options_requested.num_predict = 12;
  r.server.load_ns = 5 * kMs;
  r.server.prompt_eval_ns = 60 * kMs;
  r.server.eval_ns = 180 * kMs;
  r.server.total_ns = 260 * kMs;
  r.server.prompt_eval_count = 30;
  r.server.eval_count = 10;
  return r;
}

TEST(ServerTimings, ConsistentStatisticsAreKept) {
  CallRecord r = timed_call();
  validate_server_timings(r, kOllamaFields);
  EXPECT_TRUE(r.server.rejected.empty());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.server.eval_ns, 180 * kMs);
}

TEST(ServerTimings, EachImpossibleValueIsRejectedWithItsReason) {
  struct Case {
    const char* name;
    void (*spoil)(CallRecord&);
    const char* key;
    const char* reason;
  };
  const Case cases[] = {
      {"zero decode", [](CallRecord& r) { r.server.eval_ns = 0; }, "eval_ns",
       "eval_duration = 0: a duration must be positive"},
      {"negative prefill", [](CallRecord& r) { r.server.prompt_eval_ns = -1; }, "prompt_eval_ns",
       "prompt_eval_duration = -1: a duration must be positive"},
      {"negative load", [](CallRecord& r) { r.server.load_ns = -7; }, "load_ns",
       "load_duration = -7: a duration cannot be negative"},
      {"decode longer than the call", [](CallRecord& r) { r.server.eval_ns = 5'000 * kMs; },
       "eval_ns", "longer than the whole call as the client timed it (300.0 ms)"},
      {"prefill after the first token", [](CallRecord& r) { r.server.prompt_eval_ns = 200 * kMs; },
       "prompt_eval_ns", "exceeds the client's time to first token (100.0 ms)"},
      {"decode shorter than the client saw", [](CallRecord& r) { r.server.eval_ns = 40 * kMs; },
       "eval_ns", "under half the 180.0 ms the client saw"},
      {"more tokens than asked for", [](CallRecord& r) { r.server.eval_count = 14; }, "eval_count",
       "more tokens than the request allowed (num_predict 12)"},
      {"absurdly many tokens for the text",
       [](CallRecord& r) {
         r.options_requested.num_predict.reset();
         r.server.eval_count = 100'000;
       },
       "eval_count", "more than 64 tokens per byte of the 40 bytes of text received"},
      {"fewer tokens than chunks", [](CallRecord& r) { r.server.eval_count = 3; }, "eval_count",
       "fewer tokens than the 10 streamed chunks"},
      {"no prompt tokens", [](CallRecord& r) { r.server.prompt_eval_count = 0; },
       "prompt_eval_count", "a prompt has at least one token"},
      {"a total shorter than its parts", [](CallRecord& r) { r.server.total_ns = 100 * kMs; },
       "total_ns", "shorter than prefill + decode"},
  };
  for (const Case& c : cases) {
    CallRecord r = timed_call();
    c.spoil(r);
    validate_server_timings(r, kOllamaFields);
    ASSERT_EQ(r.server.rejected.count(c.key), 1u) << c.name;
    EXPECT_NE(r.server.rejected[c.key].find(c.reason), std::string::npos)
        << c.name << ": " << r.server.rejected[c.key];
    EXPECT_EQ(r.server.rejected.size(), 1u) << c.name;  // the others stay
    ASSERT_EQ(r.warnings.size(), 1u) << c.name;
  }
}

TEST(ServerTimings, ValuesThatAreNotNumbersAreRejectedWhenRead) {
  ServerTimings t;
  set_server_field(t, ServerField::kEval, kLlamaCppFields, WireNumber{30.5, "", "30.5"});
  EXPECT_EQ(t.eval_ns, 30'500'000);  // llama.cpp's ms, in ns
  set_server_field(t, ServerField::kEvalCount, kLlamaCppFields, WireNumber{4.5, "", "4.5"});
  EXPECT_FALSE(t.eval_count);
  EXPECT_NE(t.rejected["eval_count"].find("timings.predicted_n = 4.5: a count must be a whole"),
            std::string::npos);
  set_server_field(t, ServerField::kTotal, kOllamaFields, WireNumber{1e30, "", "1e30"});
  EXPECT_NE(t.rejected["total_ns"].find("out of range"), std::string::npos);
  set_server_field(t, ServerField::kLoad, kOllamaFields,
                   WireNumber{std::nullopt, "not a finite number", "NaN"});
  EXPECT_EQ(t.rejected["load_ns"], "load_duration = NaN: not a finite number");
  // A later good value replaces the rejection.
  set_server_field(t, ServerField::kLoad, kOllamaFields, WireNumber{3, "", "3"});
  EXPECT_EQ(t.load_ns, 3);
  EXPECT_EQ(t.rejected.count("load_ns"), 0u);
}

TEST(ServerTimings, AnImpossibleGeneratedCountFallsBackToChunks) {
  CallRecord r = timed_call();
  EXPECT_EQ(checked_generated_count(r, 10, "usage.completion_tokens"), 10);
  EXPECT_FALSE(checked_generated_count(r, -2, "usage.completion_tokens"));
  EXPECT_FALSE(checked_generated_count(r, 5'000'000'000, "usage.completion_tokens"));
  EXPECT_NE(r.server.rejected["eval_count"].find("usage.completion_tokens = 5000000000"),
            std::string::npos);
}

}  // namespace
}  // namespace chimera::llm
