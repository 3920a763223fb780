#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/types.h"

namespace chimera::llm {
namespace {

TEST(Options, ParsesAssignmentsInSnakeAndKebabCase) {
  auto parsed = Options::parse("temperature=0.2,num_ctx=1024, num-predict = 64 ,top-k=40");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->temperature, 0.2);
  EXPECT_EQ(parsed->num_ctx, 1024);
  EXPECT_EQ(parsed->num_predict, 64);
  EXPECT_EQ(parsed->top_k, 40);
  EXPECT_FALSE(parsed->top_p.has_value());  // unset stays unset, never a guessed default
  EXPECT_FALSE(parsed->seed.has_value());
}

TEST(Options, EmptyTextIsNoOptions) {
  auto parsed = Options::parse("");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->empty());
  EXPECT_EQ(parsed->to_string(), "");
  EXPECT_EQ(parsed->to_json(), "{}");
}

TEST(Options, NegativeContextIsRejectedWithTheRule) {
  auto parsed = Options::parse("num_ctx=-5");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), "num_ctx must be a positive integer, got -5");
}

TEST(Options, RangeAndTypeErrorsNameOptionAndValue) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"top_p=1.5", "top_p must be a number between 0 and 1, got 1.5"},
      {"temperature=hot", "temperature must be a number >= 0, got 'hot'"},
      {"temperature=-0.1", "temperature must be a number >= 0, got -0.1"},
      {"num_ctx=4096.5", "num_ctx must be a positive integer, got 4096.5"},
      {"top_k=-1", "top_k must be a non-negative integer (0: off), got -1"},
      {"repeat_penalty=0", "repeat_penalty must be a number > 0 (1: off), got 0"},
      {"num_predict=-3",
       "num_predict must be an integer >= -2 (-1: no limit, -2: fill the context), got -3"},
      {"temperature=nan", "temperature must be a number >= 0, got 'nan'"},
  };
  for (const Case& c : cases) {
    auto parsed = Options::parse(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().message(), c.expected) << c.text;
  }
}

TEST(Options, AcceptsBoundaryValues) {
  auto parsed = Options::parse(
      "num_predict=-1,num_gpu=-1,top_p=1,min_p=0,temperature=0,seed=-1,repeat_last_n=-1");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->num_predict, -1);
  EXPECT_EQ(parsed->num_gpu, -1);
  EXPECT_EQ(parsed->top_p, 1.0);
  EXPECT_EQ(parsed->temperature, 0.0);
  EXPECT_EQ(parsed->seed, -1);
}

TEST(Options, UnknownNameSuggestsTheNearestAndListsAll) {
  auto parsed = Options::parse("temprature=0.3");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(
      parsed.status().message().find("unknown option 'temprature' (did you mean temperature?)"),
      std::string::npos)
      << parsed.status().message();
  EXPECT_NE(parsed.status().message().find("num_ctx, num_predict"), std::string::npos);
}

TEST(Options, MalformedAndDuplicateAssignmentsAreErrors) {
  auto missing = Options::parse("temperature");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("expected name=value"), std::string::npos);
  auto twice = Options::parse("seed=1,seed=2");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("seed is given twice"), std::string::npos);
}

TEST(Options, StopStringsWithSeparatorsAndEscapes) {
  auto plain = Options::parse("stop=User:|\\n\\n,seed=7");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  ASSERT_TRUE(plain->stop.has_value());
  EXPECT_EQ(*plain->stop, (std::vector<std::string>{"User:", "\n\n"}));
  EXPECT_EQ(plain->seed, 7);

  auto escaped = Options::parse("stop=a\\,b|c\\|d");
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(*escaped->stop, (std::vector<std::string>{"a,b", "c|d"}));

  auto json_array = Options::parse("stop=[\"<|eot_id|>\",\"x,y\"],top_k=5");
  ASSERT_TRUE(json_array.ok()) << json_array.status().message();
  EXPECT_EQ(*json_array->stop, (std::vector<std::string>{"<|eot_id|>", "x,y"}));
  EXPECT_EQ(json_array->top_k, 5);

  EXPECT_FALSE(Options::parse("stop=").ok());
  EXPECT_FALSE(Options::parse("stop=[1,2]").ok());
}

TEST(Options, ToStringUsesTheFixedOrderWhateverTheInputOrder) {
  auto a = Options::parse("temperature=0.4,num_ctx=4096,seed=7");
  auto b = Options::parse("seed=7,num_ctx=4096,temperature=0.4");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->to_string(), "num_ctx=4096 temperature=0.4 seed=7");
  EXPECT_EQ(a->to_string(), b->to_string());
  EXPECT_EQ(*a, *b);
}

TEST(Options, ItemsRoundTripThroughSet) {
  auto original = Options::parse("num_ctx=2048,temperature=0.7,top_p=0.9,stop=a|b\\|c");
  ASSERT_TRUE(original.ok());
  Options rebuilt;
  for (const auto& [name, value] : original->items()) {
    ASSERT_TRUE(rebuilt.set(name, value).is_ok()) << name << "=" << value;
  }
  EXPECT_EQ(rebuilt, *original);
}

TEST(Options, JsonHasNativeTypesAndOnlySetOptions) {
  auto options = Options::parse("num_ctx=4096,temperature=0.4,stop=\\n");
  ASSERT_TRUE(options.ok());
  nlohmann::json json = nlohmann::json::parse(options->to_json());
  EXPECT_EQ(json.size(), 3u);
  EXPECT_TRUE(json["num_ctx"].is_number_integer());
  EXPECT_EQ(json["num_ctx"], 4096);
  EXPECT_TRUE(json["temperature"].is_number_float());
  EXPECT_DOUBLE_EQ(json["temperature"].get<double>(), 0.4);
  EXPECT_EQ(json["stop"], nlohmann::json::array({"\n"}));
}

TEST(Options, MergedWithPrefersOverrides) {
  auto base = Options::parse("num_ctx=2048,temperature=0.8,top_k=40");
  auto over = Options::parse("temperature=0.2,seed=1");
  ASSERT_TRUE(base.ok() && over.ok());
  Options merged = base->merged_with(*over);
  EXPECT_EQ(merged.to_string(), "num_ctx=2048 temperature=0.2 top_k=40 seed=1");
  EXPECT_EQ(base->merged_with(Options()).to_string(), base->to_string());
}

TEST(Options, NamesAreOllamasInTheArchitectureOrder) {
  const auto& names = option_names();
  ASSERT_EQ(names.size(), 13u);
  EXPECT_EQ(names.front(), "num_ctx");
  EXPECT_EQ(names.back(), "stop");
}

}  // namespace
}  // namespace chimera::llm
