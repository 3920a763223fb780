#include <gtest/gtest.h>

#include "util/strings.h"
#include "util/status.h"

namespace chimera {
namespace {

TEST(Utf8, CompletePrefixHoldsBackHalfCharacters) {
  std::string robot = "ok \xF0\x9F\xA4\x96";  // "ok " + U+1F916
  EXPECT_EQ(utf8_complete_prefix(robot), robot.size());
  EXPECT_EQ(utf8_complete_prefix(robot.substr(0, 5)), 3u);
  EXPECT_EQ(utf8_complete_prefix(robot.substr(0, 6)), 3u);
  EXPECT_EQ(utf8_complete_prefix("caf\xC3"), 3u);
  EXPECT_EQ(utf8_complete_prefix("caf\xC3\xA9"), 5u);
}

TEST(Utf8, ValidationRejectsOverlongsAndSurrogates) {
  EXPECT_TRUE(is_valid_utf8("na\xC3\xAFve \xF0\x9F\xA4\x96"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("abc\xE2\x82"));       // truncated
}

TEST(Numbers, StrictParsingRejectsTrailingGarbage) {
  EXPECT_EQ(parse_int("42"), 42);
  EXPECT_EQ(parse_int(" -7 "), -7);
  EXPECT_FALSE(parse_int("4x2").has_value());
  EXPECT_FALSE(parse_int("").has_value());
  EXPECT_DOUBLE_EQ(*parse_double("0.25"), 0.25);
  EXPECT_FALSE(parse_double("1.5tok").has_value());
}

TEST(Status, ResultCarriesErrorMessage) {
  Result<int> r = make_error(ErrorCode::kNotFound, "{}: no such model", "m.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "m.gguf: no such model");
  EXPECT_EQ(r.status().with_context("load").message(), "load: m.gguf: no such model");
}

}  // namespace
}  // namespace chimera

namespace chimera {
TEST(LastLines, KeepsTheEndOfAToolsOutputOnOneLine) {
  EXPECT_EQ(last_lines("a\nb\nc\nd\n\n  \n", 3), "b | c | d");
  EXPECT_EQ(last_lines("only\n", 3), "only");
  EXPECT_EQ(last_lines("\n \n", 3), "(no output)");
  EXPECT_EQ(last_lines("", 2), "(no output)");
}
}  // namespace chimera
