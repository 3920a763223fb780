// Replays the schema fuzz corpus (tests/fuzz/corpus/json_schema) through the fuzz harness itself in
// the normal build: valid_* compile and decode with the fast mask equal to the reference, bad_* are
// refused with a clean error. Hostile schemas too large for seed files are built here: huge enums,
// hundreds of anyOf branches, thousands of properties, deep nesting; each must compile or be
// refused within a time bound a test can state.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#define CHIMERA_FUZZ_HARNESS_ONLY
#include "fuzz/json_schema_fuzz.cpp"  // the harness, not a copy of it
#include "support/fuzz_corpus.h"

namespace chimera::engine {
namespace {

TEST(JsonSchemaCorpus, EverySeedCompilesOrIsRefusedAsItsNameSays) {
  testing::CorpusCounts counts =
      testing::replay_corpus("json_schema", json_schema_fuzz_one, 5, 2048);
  EXPECT_GE(counts.valid, 10);
  EXPECT_GE(counts.bad, 10);
}

struct Timed {
  Result<std::shared_ptr<const Grammar>> grammar;
  double ms;
};
Timed compile_timed(const std::string& schema) {
  const auto t0 = std::chrono::steady_clock::now();
  auto grammar = compile_json_schema(schema);
  return {std::move(grammar),
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()};
}

TEST(JsonSchemaCorpus, HostileSchemasCompileOrAreRefusedQuickly) {
  // 20k enum values: one rule per branching point of their trie, not one parse per value.
  std::string big_enum = R"({"enum":[)";
  for (int i = 0; i < 20000; ++i)
    big_enum += (i ? ",\"value-" : "\"value-") + std::to_string(i * 7919) + "\"";
  big_enum += "]}";
  Timed e = compile_timed(big_enum);
  ASSERT_TRUE(e.grammar.ok()) << e.grammar.status().message();
  EXPECT_LT(e.ms, 5000);
  const auto* data = reinterpret_cast<const uint8_t*>(big_enum.data());
  EXPECT_EQ(json_schema_fuzz_one(data, big_enum.size()), 1);  // decoding steps stay consistent

  // An enum past the grammar's size limit is refused, not built.
  std::string huge_enum = R"({"enum":[)";
  for (uint64_t i = 0; i < 300000; ++i) {
    const uint64_t x = (i * 2654435761u) % 4294967291u;  // distinct values that share few prefixes
    huge_enum += (i ? ",\"" : "\"") + std::to_string(x) + std::to_string(x * 31 + 7) + "\"";
  }
  huge_enum += "]}";
  Timed h = compile_timed(huge_enum);
  ASSERT_FALSE(h.grammar.ok());
  EXPECT_THAT(h.grammar.status().message(), ::testing::HasSubstr("simplify"));
  EXPECT_LT(h.ms, 10000);

  // Ambiguous branches: 300 object schemas that all begin alike.
  std::string branches = R"({"anyOf":[)";
  for (int i = 0; i < 300; ++i) {
    branches += (i ? "," : "") +
                std::string(R"({"type":"object","properties":{"k":{"type":"string"},"v)") +
                std::to_string(i) + R"(":{"type":"integer"}},"required":["k"]})";
  }
  branches += "]}";
  Timed b = compile_timed(branches);
  ASSERT_TRUE(b.grammar.ok()) << b.grammar.status().message();
  data = reinterpret_cast<const uint8_t*>(branches.data());
  json_schema_fuzz_one(data,
                       branches.size());  // either decodes or stops with a clean "too ambiguous"

  // Nested anyOf of two string branches, 12 deep: 4096 parses of one string.
  std::string nested = R"({"type":"string"})";
  for (int i = 0; i < 12; ++i) nested = R"({"anyOf":[)" + nested + "," + nested + "]}";
  data = reinterpret_cast<const uint8_t*>(nested.data());
  json_schema_fuzz_one(data, nested.size());

  // 5000 properties, deep but allowed nesting, and nesting past the limit.
  std::string wide = R"({"type":"object","properties":{)";
  for (int i = 0; i < 5000; ++i)
    wide += (i ? ",\"p" : "\"p") + std::to_string(i) + R"(":{"type":"boolean"})";
  wide += "}}";
  Timed w = compile_timed(wide);
  ASSERT_TRUE(w.grammar.ok()) << w.grammar.status().message();
  EXPECT_LT(w.ms, 5000);
  std::string deep = "{}";
  for (int i = 0; i < 60; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  EXPECT_TRUE(compile_json_schema(deep).ok());
  std::string too_deep = "{}";
  for (int i = 0; i < 5000; ++i) too_deep = R"({"items":)" + too_deep + "}";
  Timed d = compile_timed(too_deep);
  ASSERT_FALSE(d.grammar.ok());
  EXPECT_LT(d.ms, 1000);
  std::printf(
      "[ info     ] compile: 20k-value enum %.0f ms, 300 anyOf branches %.0f ms, 5000 properties "
      "%.0f ms\n",
      e.ms, b.ms, w.ms);
}

}  // namespace
}  // namespace chimera::engine
