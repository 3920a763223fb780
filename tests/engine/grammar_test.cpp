// JSON Schema -> grammar -> parse state: which texts a compiled schema accepts (written out by hand
// from the JSON and JSON Schema specifications), the errors for what it cannot follow, the bytes
// still needed to finish, and, as a property, that random texts the grammar accepts validate
// against the schema under Python's jsonschema (an implementation independent of this compiler).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "engine/grammar/grammar_state.h"
#include "engine/grammar/json_schema_compiler.h"
#include "support/json_schema_check.h"

namespace chimera::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<const Grammar> compile(const std::string& schema) {
  auto grammar = compile_json_schema(schema);
  EXPECT_TRUE(grammar.ok()) << grammar.status().message();
  return grammar.ok() ? *grammar : json_value_grammar();
}

// The state after `text`, or a dead one.
GrammarState run(const Grammar& g, std::string_view text) {
  auto state = GrammarState::initial(g);
  EXPECT_TRUE(state.ok());
  GrammarState current = *state, next;
  for (char c : text) {
    EXPECT_TRUE(current.advance(g, static_cast<uint8_t>(c), next).is_ok());
    std::swap(current, next);
    if (current.dead()) break;
  }
  return current;
}

bool accepts(const Grammar& g, std::string_view text) { return run(g, text).accepting(); }
bool prefix_ok(const Grammar& g, std::string_view text) { return !run(g, text).dead(); }

TEST(JsonSchemaGrammar, AnyObjectModeAcceptsJsonObjectsOnly) {
  const Grammar& g = *json_object_grammar();
  EXPECT_TRUE(accepts(g, "{}"));
  EXPECT_TRUE(accepts(
      g, R"({"a": [1, -2.5, 3e10, 4E-2, true, false, null, "x\n\u00e9\"", {}], "b" : {"c":[]}})"));
  EXPECT_TRUE(accepts(g, "{\n  \"a\": 1\n}"));
  EXPECT_TRUE(
      accepts(g, "{\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\xA4\x96\": 0}"));  // UTF-8 of 2, 3 and 4 bytes
  EXPECT_FALSE(prefix_ok(g, "[1]"));                                 // the root is an object
  EXPECT_FALSE(prefix_ok(g, "{\"a\":}"));
  EXPECT_FALSE(prefix_ok(g, "{\"a\":1,}"));
  EXPECT_FALSE(prefix_ok(g, "{\"a\":01}"));  // no leading zeros
  EXPECT_FALSE(prefix_ok(g, "{\"a\":1.}"));
  EXPECT_FALSE(prefix_ok(g, "{\"a\":\"\x01\"}"));          // control characters must be escaped
  EXPECT_FALSE(prefix_ok(g, "{\"a\":\"\\x\"}"));           // not an escape
  EXPECT_FALSE(prefix_ok(g, "{\"a\":\"\\ud800\"}"));       // lone surrogates are refused
  EXPECT_FALSE(prefix_ok(g, "{\"a\":\"\xC0\xAF\"}"));      // overlong UTF-8
  EXPECT_FALSE(prefix_ok(g, "{\"a\":\"\xED\xA0\x80\"}"));  // a surrogate in UTF-8
  EXPECT_FALSE(prefix_ok(g, "{\"a\":1e999}"));  // exponents of 2 digits at most (1e999 overflows)
  EXPECT_FALSE(accepts(g, "{\"a\":1"));
  EXPECT_FALSE(prefix_ok(g, " {}"));   // nothing before the value
  EXPECT_FALSE(prefix_ok(g, "{}\n"));  // nor after it
}

TEST(JsonSchemaGrammar, AnyValueModeAcceptsEveryKindOfValue) {
  const Grammar& g = *json_value_grammar();
  for (std::string_view text : {"0", "-0.5", "\"s\"", "true", "null", "[]", "[{}, [[]]]", "{}"}) {
    EXPECT_TRUE(accepts(g, text)) << text;
  }
  EXPECT_FALSE(prefix_ok(g, "tru "));
  EXPECT_FALSE(prefix_ok(g, "nul1"));
}

TEST(JsonSchemaGrammar, PropertiesComeInSchemaOrderRequiredOnesCannotBeLeftOut) {
  auto g =
      compile(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
    "tags":{"type":"array","items":{"type":"string"}}},"required":["name","tags"],"additionalProperties":false})");
  EXPECT_TRUE(accepts(*g, R"({"name":"x","age":3,"tags":[]})"));
  EXPECT_TRUE(accepts(*g, R"({"name":"x","tags":["a","b"]})"));  // optional age left out
  EXPECT_TRUE(accepts(*g, R"({ "name" : "x" , "tags" : [ "a" ] })"));
  EXPECT_FALSE(accepts(*g, R"({"name":"x"})"));              // tags is required
  EXPECT_FALSE(prefix_ok(*g, R"({"age":3)"));                // name is required and comes first
  EXPECT_FALSE(prefix_ok(*g, R"({"name":"x","other":1)"));   // no additional properties
  EXPECT_FALSE(prefix_ok(*g, R"({"name":"x","age":3.5)"));   // an integer
  EXPECT_FALSE(prefix_ok(*g, R"({"name":"x","tags":[1])"));  // strings only
}

TEST(JsonSchemaGrammar, ObjectsWithoutPropertiesTakeAnyKeysWithTheAdditionalSchema) {
  auto g = compile(R"({"type":"object","additionalProperties":{"type":"boolean"}})");
  EXPECT_TRUE(accepts(*g, R"({"x":true,"y":false})"));
  EXPECT_TRUE(accepts(*g, "{}"));
  EXPECT_FALSE(prefix_ok(*g, R"({"x":1)"));
  auto closed = compile(R"({"type":"object","additionalProperties":false})");
  EXPECT_TRUE(accepts(*closed, "{}"));
  EXPECT_FALSE(prefix_ok(*closed, "{\""));
}

TEST(JsonSchemaGrammar, StringLengthsCountCharactersNotBytes) {
  auto g = compile(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_FALSE(accepts(*g, "\"a\""));
  EXPECT_TRUE(accepts(*g, "\"ab\""));
  EXPECT_TRUE(accepts(*g, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\xA4\x96\""));  // 3 characters, 9 bytes
  EXPECT_TRUE(accepts(*g, "\"\\n\\u00e9\""));                            // 2 escapes: 2 characters
  EXPECT_FALSE(prefix_ok(*g, "\"abcd"));
}

TEST(JsonSchemaGrammar, IntegerBoundsAreExact) {
  auto g = compile(R"({"type":"integer","minimum":-5,"exclusiveMaximum":121})");
  for (std::string_view ok : {"-5", "-1", "0", "7", "99", "120"})
    EXPECT_TRUE(accepts(*g, ok)) << ok;
  for (std::string_view bad : {"-6", "121", "1000", "-0", "007", "1.0"})
    EXPECT_FALSE(accepts(*g, bad)) << bad;
  EXPECT_TRUE(accepts(*g, "13"));
  EXPECT_FALSE(prefix_ok(*g, "130"));  // no integer in range starts with 130
  EXPECT_TRUE(prefix_ok(*g, "-"));
  EXPECT_FALSE(prefix_ok(*g, "-9"));
  auto big = compile(R"({"type":"integer","minimum":1000000000000,"maximum":1000000000005})");
  EXPECT_TRUE(accepts(*big, "1000000000003"));
  EXPECT_FALSE(prefix_ok(*big, "2"));
  auto unbounded = compile(R"({"type":"integer"})");
  EXPECT_TRUE(accepts(*unbounded, "9007199254740991"));
  EXPECT_FALSE(accepts(*unbounded, "9007199254740992"));  // beyond 2^53-1 unless the schema says so
}

TEST(JsonSchemaGrammar, EnumsAndConstsMatchTheirCanonicalText) {
  auto g = compile(R"({"enum":["red","green","gr\"ey",1,null,{"a":[true]}]})");
  for (std::string_view ok :
       {"\"red\"", "\"green\"", "\"gr\\\"ey\"", "1", "null", "{\"a\":[true]}"}) {
    EXPECT_TRUE(accepts(*g, ok)) << ok;
  }
  EXPECT_FALSE(accepts(*g, "\"gre"));
  EXPECT_FALSE(prefix_ok(*g, "\"blue\""));
  auto typed = compile(R"({"type":"string","enum":["a",2]})");  // 2 is not a string: never valid
  EXPECT_FALSE(prefix_ok(*typed, "2"));
  auto constant = compile(R"({"const":"only"})");
  EXPECT_TRUE(accepts(*constant, "\"only\""));
}

TEST(JsonSchemaGrammar, ArraysHonourMinMaxItemsAndPrefixItems) {
  auto g = compile(R"({"type":"array","items":{"type":"boolean"},"minItems":2,"maxItems":3})");
  EXPECT_FALSE(accepts(*g, "[true]"));
  EXPECT_TRUE(accepts(*g, "[true, false]"));
  EXPECT_TRUE(accepts(*g, "[true,false,true]"));
  EXPECT_FALSE(prefix_ok(*g, "[true,false,true,"));
  auto tuple = compile(
      R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})");
  EXPECT_TRUE(accepts(*tuple, "[\"a\", 1]"));
  EXPECT_TRUE(accepts(*tuple, "[\"a\"]"));
  EXPECT_FALSE(prefix_ok(*tuple, "[1"));
  EXPECT_FALSE(prefix_ok(*tuple, "[\"a\",1,"));
}

TEST(JsonSchemaGrammar, AnyOfNullableTypesAndRecursiveRefs) {
  auto g =
      compile(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":["integer","null"]},
    "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},"$ref":"#/$defs/node"})");
  EXPECT_TRUE(accepts(*g, R"({"v":1,"kids":[{"v":null},{"v":2,"kids":[{"v":3}]}]})"));
  EXPECT_FALSE(prefix_ok(*g, R"({"v":1,"kids":[{"v":"x")"));
  auto any_of = compile(R"({"anyOf":[{"type":"string","maxLength":1},{"type":"number"}]})");
  EXPECT_TRUE(accepts(*any_of, "\"a\""));
  EXPECT_TRUE(accepts(*any_of, "2.5"));
  EXPECT_FALSE(prefix_ok(*any_of, "\"ab"));
}

TEST(JsonSchemaGrammar, FormatsAcceptOnlyRealDatesTimesAndUuids) {
  auto g = compile(R"({"type":"array","prefixItems":[{"type":"string","format":"date"},
    {"type":"string","format":"date-time"},{"type":"string","format":"uuid"}],"items":false})");
  EXPECT_TRUE(accepts(
      *g,
      R"(["2024-02-28","2024-12-31T23:59:59.5+01:00","123e4567-e89b-12d3-a456-426614174000"])"));
  EXPECT_FALSE(prefix_ok(*g, R"(["2024-02-30")"));
  EXPECT_FALSE(prefix_ok(*g, R"(["2024-04-31")"));
  EXPECT_FALSE(prefix_ok(*g, R"(["2024-13)"));
  EXPECT_FALSE(prefix_ok(*g, R"(["2024-01-01","2024-01-01T24)"));
}

TEST(JsonSchemaGrammar, UnsupportedKeywordsAreRefusedByNameAndPlace) {
  auto pattern = compile_json_schema(
      R"({"type":"object","properties":{"id":{"type":"string","pattern":"^a"}}})");
  ASSERT_FALSE(pattern.ok());
  EXPECT_EQ(pattern.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(pattern.status().message(),
              AllOf(HasSubstr("\"pattern\""), HasSubstr("#/properties/id")));
  struct Case {
    std::string schema, words;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"type":"number","minimum":0})", "\"minimum\" on a number"},
           {R"({"type":"string","format":"email"})", "\"format\": \"email\""},
           {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
           {R"({"not":{"type":"null"}})", "\"not\""},
           {R"({"allOf":[{"type":"string"},{"maxLength":3}]})", "allOf"},
           {R"({"$ref":"other.json#/a"})", "outside this schema"},
       }) {
    auto r = compile_json_schema(c.schema);
    ASSERT_FALSE(r.ok()) << c.schema;
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported) << c.schema;
    EXPECT_THAT(r.status().message(), HasSubstr(c.words)) << c.schema;
  }
}

TEST(JsonSchemaGrammar, MalformedAndUnsatisfiableSchemasAreCleanErrors) {
  for (std::string_view schema :
       {R"({"type":"strin"})", R"({"type":"array","minItems":-1})",
        R"({"type":"string","minLength":5,"maxLength":2})",
        R"({"type":"array","items":{"type":"null"},"minItems":3,"maxItems":2})",
        R"({"$ref":"#/$defs/missing"})", R"({"$ref":"#"})", R"({"enum":[]})", "false", "[1]", "{",
        R"({"type":"integer","minimum":5,"maximum":4})",
        R"({"type":"object","required":["a"],"additionalProperties":false})",
        R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})"}) {
    auto r = compile_json_schema(schema);
    ASSERT_FALSE(r.ok()) << schema;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument)
        << schema << ": " << r.status().message();
  }
  std::string nested;
  for (int i = 0; i < 200; ++i) nested += R"({"type":"array","items":)";
  nested += "{}" + std::string(200, '}');
  auto r = compile_json_schema(nested);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("deeper than"));
}

TEST(JsonSchemaGrammar, MinBytesToCompleteCountsTheShortestEnding) {
  auto g = compile(
      R"({"type":"object","properties":{"a":{"type":"integer","minimum":10},"b":{"type":"string"}},
    "required":["a"],"additionalProperties":false})");
  EXPECT_EQ(run(*g, "").min_bytes_to_complete(*g), 8u);                      // {"a":10}
  EXPECT_EQ(run(*g, "{\"a\":1").min_bytes_to_complete(*g), 2u);              // 0}
  EXPECT_EQ(run(*g, "{\"a\":10,\"b\":\"xy").min_bytes_to_complete(*g), 2u);  // "}
  EXPECT_EQ(run(*g, "{\"a\":10}").min_bytes_to_complete(*g), 0u);
  auto s = compile(R"({"type":"string","minLength":4})");
  EXPECT_EQ(run(*s, "\"a\\u00").min_bytes_to_complete(*s),
            2u + 2u + 1u);  // 2 hex, 2 chars, the quote
}

// Random texts the grammar accepts: at each step a random byte among those the state takes,
// finishing on the shortest path once `length` bytes are written.
std::string random_accepted_text(const Grammar& g, std::mt19937_64& rng, size_t length) {
  GrammarState state = *GrammarState::initial(g), next;
  std::string text;
  while (!(state.accepting() &&
           (text.size() >= length || state.stack_count() == 0 || rng() % 8 == 0))) {
    std::vector<uint8_t> options;
    uint64_t best = UINT64_MAX;
    std::vector<uint8_t> closing;
    for (int b = 0; b < 256; ++b) {
      EXPECT_TRUE(state.advance(g, static_cast<uint8_t>(b), next).is_ok());
      if (next.dead()) continue;
      options.push_back(static_cast<uint8_t>(b));
      const uint64_t m = next.min_bytes_to_complete(g);
      if (m < best) closing.clear();
      if (m <= best) {
        best = m;
        closing.push_back(static_cast<uint8_t>(b));
      }
    }
    if (options.empty()) break;
    const auto& pool = text.size() >= length ? closing : options;
    const uint8_t b = pool[rng() % pool.size()];
    EXPECT_TRUE(state.advance(g, b, next).is_ok());
    std::swap(state, next);
    text.push_back(static_cast<char>(b));
  }
  EXPECT_TRUE(state.accepting()) << text;
  return text;
}

TEST(JsonSchemaGrammar, RandomAcceptedTextsValidateUnderPythonJsonschema) {
  const std::vector<std::string> schemas = {
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"score":{"type":"number"},
         "rank":{"type":"integer","minimum":1,"maximum":500},"ok":{"type":"boolean"},
         "tags":{"type":"array","items":{"enum":["a","b","c d"]},"minItems":1,"maxItems":4},
         "note":{"type":["string","null"]}},"required":["name","rank","tags"],"additionalProperties":false})",
      R"({"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"k":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/n"})",
      R"({"anyOf":[{"type":"string","minLength":3},{"type":"array","prefixItems":[{"type":"null"},{"const":"x"}]}]})",
      R"({"type":"object","additionalProperties":{"type":"integer","exclusiveMinimum":-3,"maximum":3}})",
      R"({"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":"string","format":"date-time"},
         "u":{"type":"string","format":"uuid"}},"required":["d","t","u"]})",
  };
  // The validator can say no: an object missing required properties is refused.
  testing::SchemaCheck control = testing::check_against_schema(schemas[0], {"{}", "not json"});
  if (!control.available)
    GTEST_SKIP() << "no independent validator: " << control.unavailable_reason;
  EXPECT_NE(control.errors[0], "");
  EXPECT_NE(control.errors[1], "");
  std::mt19937_64 rng(2024);
  for (const std::string& schema : schemas) {
    auto g = compile(schema);
    std::vector<std::string> texts;
    for (int i = 0; i < 40; ++i) texts.push_back(random_accepted_text(*g, rng, 10 + rng() % 120));
    testing::SchemaCheck check = testing::check_against_schema(schema, texts);
    if (!check.available) GTEST_SKIP() << "no independent validator: " << check.unavailable_reason;
    for (size_t i = 0; i < texts.size(); ++i)
      EXPECT_EQ(check.errors[i], "") << schema << "\n" << texts[i];
  }
  std::vector<std::string> any;
  for (int i = 0; i < 40; ++i)
    any.push_back(random_accepted_text(*json_object_grammar(), rng, 10 + rng() % 200));
  testing::SchemaCheck check = testing::check_against_schema(R"({"type":"object"})", any);
  for (size_t i = 0; i < any.size(); ++i) EXPECT_EQ(check.errors[i], "") << any[i];
}

}  // namespace
}  // namespace chimera::engine
