// The backend classes against every named fault of a broken server (support/fault_server.h), in
// both wire formats: each call ends ok (maybe after retries, maybe with some server statistics
// rejected) or failed with the reason the fault deserves and where in the body it was seen; no
// exception, no hang past the timeout; and the calls before and after the fault are unharmed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <tuple>

#include "llm/backend.h"
#include "llm/support/fault_server.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

using testing::Fault;
using testing::FaultServer;
using testing::Wire;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Request quick_request() {
  Request request;
  request.prompt = "Say hello.";
  request.options.num_predict = 8;
  request.read_timeout_ms = 1'000;  // the stall and the silent hold last 3 s and 30 s
  request.retry_budget_ms = 10'000;
  return request;
}

std::string all_warnings(const CallRecord& r) { return join(r.warnings, " | "); }

class FaultBackendTest : public ::testing::TestWithParam<std::tuple<Wire, Fault>> {};

TEST_P(FaultBackendTest, TheFaultedCallEndsAsItShouldAndItsNeighboursAreUnharmed) {
  const auto [wire, fault] = GetParam();
  FaultServer server(wire);
  server.script({Fault::kNone, fault, Fault::kNone});
  auto backend = make_backend(server.spec());
  ASSERT_TRUE(backend.ok()) << backend.status().message();

  std::vector<CallRecord> records;
  for (int i = 0; i < 3; ++i) {
    const int64_t start = monotonic_ns();
    records.push_back((*backend)->generate(quick_request()));
    // Never a hang: the slowest fault (a 3.4 s drip, or a 1 s retry) ends well within this.
    EXPECT_LT(ns_to_s(monotonic_ns() - start), 15.0) << "call " << i;
  }
  const testing::FaultOutcome expected = testing::expected_outcome(fault, wire);
  for (int i : {0, 2}) {
    EXPECT_TRUE(records[static_cast<size_t>(i)].ok)
        << "call " << i << ": " << records[static_cast<size_t>(i)].error;
    EXPECT_EQ(records[static_cast<size_t>(i)].text, "Hello, world.") << "call " << i;
  }
  const CallRecord& r = records[1];
  if (!expected.ok) {
    EXPECT_FALSE(r.ok) << "text: " << r.text;
    EXPECT_TRUE(contains(r.error, expected.reason)) << r.error;
    if (expected.names_body_offset) {
      EXPECT_TRUE(contains(r.error, "body byte")) << r.error;
    }
    EXPECT_TRUE(is_valid_utf8(r.error)) << r.error;
    EXPECT_NE(r.error_code, ErrorCode::kOk);
    return;
  }
  EXPECT_TRUE(r.ok) << r.error;
  if (expected.retried) {
    EXPECT_GE(r.transport.retries, 1);
    EXPECT_GT(r.transport.retry_wait_ns, 0);
    EXPECT_TRUE(contains(all_warnings(r), "not a successful first try")) << all_warnings(r);
  } else {
    EXPECT_EQ(r.transport.retries, 0);
  }
  if (expected.stats_rejected) {
    EXPECT_FALSE(r.server.rejected.empty()) << fault_name(fault);
    EXPECT_TRUE(contains(all_warnings(r), "server statistics not used") ||
                contains(all_warnings(r), "token count was not used"))
        << all_warnings(r);
    // What was rejected is not kept as a value: no zero, negative or absurd timing survives.
    for (auto value : {r.server.eval_ns, r.server.prompt_eval_ns, r.server.total_ns}) {
      if (value) {
        EXPECT_GT(*value, 0);
        EXPECT_LT(*value, 60'000'000'000);
      }
    }
    if (r.server.eval_count) {
      EXPECT_LE(*r.server.eval_count, 9);  // num_predict 8, + an end-of-sequence
    }
    EXPECT_LE(r.token_count, 9);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFault, FaultBackendTest,
                         ::testing::ValuesIn(testing::every_wire_and_fault()),
                         [](const auto& info) { return testing::fault_case_name(info.param); });

class FaultWireTest : public ::testing::TestWithParam<Wire> {};

TEST_P(FaultWireTest, InvalidUtf8IsKeptAsTheBytesThatCameAndNamedWithItsOffset) {
  FaultServer server(GetParam());
  server.script({Fault::kInvalidUtf8});
  auto backend = make_backend(server.spec());
  ASSERT_TRUE(backend.ok());
  std::string streamed;
  CallRecord r = (*backend)->generate(quick_request(), [&](std::string_view text) {
    streamed.append(text);
    return true;
  });
  ASSERT_TRUE(r.ok) << r.error;
  // "café" arrived split inside its "é": the bytes join again; the bad ones stay as they were.
  EXPECT_EQ(r.text, "caf\xC3\xA9 bad \x80 bytecut \xE2\x82");
  EXPECT_EQ(streamed, r.text);
  EXPECT_FALSE(is_valid_utf8(r.text));
  EXPECT_TRUE(contains(all_warnings(r), "not valid UTF-8 (first at body byte")) << all_warnings(r);
}

TEST_P(FaultWireTest, ALoadingServerIsWaitedForAndTheWaitIsCounted) {
  FaultServer server(GetParam());
  server.loading_for(std::chrono::milliseconds(700));
  auto backend = make_backend(server.spec());
  ASSERT_TRUE(backend.ok());
  CallRecord r = (*backend)->generate(quick_request());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "Hello, world.");
  EXPECT_GE(r.transport.retries, 1);
  EXPECT_TRUE(contains(join(r.transport.retry_reasons, ";"), "HTTP 503 (loading the model)"))
      << join(r.transport.retry_reasons, ";");
  // Its clocks count from the attempt that was answered, not from the first knock.
  EXPECT_LT(ns_to_ms(r.t_first_token_ns - r.t_request_ns), 600.0);
}

TEST_P(FaultWireTest, AServerStillLoadingPastTheBudgetFailsSayingSo) {
  FaultServer server(GetParam());
  server.loading_for(std::chrono::seconds(30));
  auto backend = make_backend(server.spec());
  ASSERT_TRUE(backend.ok());
  Request request = quick_request();
  request.retry_budget_ms = 800;
  const int64_t start = monotonic_ns();
  CallRecord r = (*backend)->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.error, "HTTP 503")) << r.error;
  EXPECT_TRUE(contains(r.error, "Loading model")) << r.error;
  EXPECT_LT(ns_to_s(monotonic_ns() - start), 10.0);
}

TEST_P(FaultWireTest, NoRetryBudgetMeansA429IsAFailureAtOnce) {
  FaultServer server(GetParam());
  server.script({Fault::k429RetryAfter});
  auto backend = make_backend(server.spec());
  ASSERT_TRUE(backend.ok());
  Request request = quick_request();
  request.retry_budget_ms = 0;
  CallRecord r = (*backend)->generate(request);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains(r.error, "HTTP 429")) << r.error;
  EXPECT_TRUE(contains(r.error, "Retry-After: 1")) << r.error;
  EXPECT_EQ(server.generation_requests(), 1);
}

TEST_P(FaultWireTest, OtherErrorsAreNotRetried) {
  for (Fault fault : {Fault::k500, Fault::k502, Fault::k503}) {
    FaultServer server(GetParam());
    server.script({fault});
    auto backend = make_backend(server.spec());
    ASSERT_TRUE(backend.ok());
    CallRecord r = (*backend)->generate(quick_request());
    EXPECT_FALSE(r.ok) << fault_name(fault);
    EXPECT_EQ(server.generation_requests(), 1) << fault_name(fault);
    EXPECT_EQ(r.transport.retries, 0) << fault_name(fault);
  }
}

INSTANTIATE_TEST_SUITE_P(BothWires, FaultWireTest, ::testing::Values(Wire::kOllama, Wire::kOpenAI),
                         [](const ::testing::TestParamInfo<Wire>& info) {
                           return std::string(testing::wire_name(info.param));
                         });

}  // namespace
}  // namespace chimera::llm
