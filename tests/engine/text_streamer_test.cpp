// TextStreamer: what a user watching the stream sees. Never half a UTF-8 character, never a stop
// string, never text held back for good.
#include <gtest/gtest.h>

#include "engine/engine.h"

namespace chimera::engine {
namespace {

class TextStreamerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VocabData v;
    v.model = "llama";
    v.tokens = {"<unk>", "<s>", "</s>", "<0xE2>", "<0x82>", "<0xAC>", "Hello", "\xE2\x96\x81world",
                "EN",    "D",   "!",    "xENDy",  "STOP",   "<0xC3>"};
    v.token_types = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 6};
    v.scores.assign(v.tokens.size(), 0.0f);
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    v.add_space_prefix = false;
    auto tok = Tokenizer::from_vocab(v);
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    tokenizer_ = *tok;
  }
  int32_t id(std::string_view piece) { return *tokenizer_->find_token(piece); }
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(TextStreamerTest, PlainTextIsEmittedAtOnce) {
  TextStreamer s(*tokenizer_, {});
  EXPECT_EQ(s.push(id("Hello")), "Hello");
  EXPECT_EQ(s.push(id("\xE2\x96\x81world")), " world");
  EXPECT_EQ(s.finish(), "");
  EXPECT_EQ(s.text(), "Hello world");
}

TEST_F(TextStreamerTest, AMultiByteCharacterIsHeldUntilComplete) {
  TextStreamer s(*tokenizer_, {});
  EXPECT_EQ(s.push(id("<0xE2>")), "");
  EXPECT_EQ(s.push(id("<0x82>")), "");
  EXPECT_EQ(s.push(id("<0xAC>")), "\xE2\x82\xAC");  // €
  EXPECT_EQ(s.text(), "\xE2\x82\xAC");
}

TEST_F(TextStreamerTest, AStopStringSplitOverTokensIsCutAndStops) {
  TextStreamer s(*tokenizer_, {"END"});
  EXPECT_EQ(s.push(id("Hello")), "Hello");
  EXPECT_EQ(s.push(id("EN")), "");  // might become END: held
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.push(id("D")), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "Hello");
  EXPECT_EQ(s.push(id("!")), "");  // nothing after a stop
  EXPECT_EQ(s.finish(), "");
}

TEST_F(TextStreamerTest, HeldTextIsReleasedWhenItCannotBeAStopString) {
  TextStreamer s(*tokenizer_, {"END"});
  EXPECT_EQ(s.push(id("EN")), "");
  EXPECT_EQ(s.push(id("!")), "EN!");
  EXPECT_FALSE(s.stopped());
}

TEST_F(TextStreamerTest, AStopStringInsideOneTokenKeepsTheTextBeforeIt) {
  TextStreamer s(*tokenizer_, {"END"});
  EXPECT_EQ(s.push(id("xENDy")), "x");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.text(), "x");
}

TEST_F(TextStreamerTest, TheEarliestOfSeveralStopStringsWins) {
  TextStreamer s(*tokenizer_, {"STOP", "ND"});
  EXPECT_EQ(s.push(id("xENDy")), "xE");
  EXPECT_TRUE(s.stopped());
}

TEST_F(TextStreamerTest, FinishFlushesHeldTextAndMarksACutCharacter) {
  TextStreamer held(*tokenizer_, {"END"});
  EXPECT_EQ(held.push(id("Hello")), "Hello");
  EXPECT_EQ(held.push(id("EN")), "");
  EXPECT_EQ(held.finish(), "EN");
  EXPECT_EQ(held.text(), "HelloEN");

  TextStreamer cut(*tokenizer_, {});
  EXPECT_EQ(cut.push(id("<0xC3>")), "");
  EXPECT_EQ(cut.finish(), "\xEF\xBF\xBD");  // U+FFFD, never a lone lead byte
}

TEST_F(TextStreamerTest, BytesThatCannotFormACharacterBecomeReplacementCharacters) {
  TextStreamer s(*tokenizer_, {});
  EXPECT_EQ(s.push(id("<0x82>")), "\xEF\xBF\xBD");  // a lone continuation byte
  EXPECT_EQ(s.push(id("<0xE2>")), "");
  EXPECT_EQ(s.push(id("Hello")), "\xEF\xBF\xBDHello");  // a lead byte followed by ASCII
  EXPECT_EQ(s.text(), "\xEF\xBF\xBD\xEF\xBF\xBDHello");
}

TEST_F(TextStreamerTest, EmptyStopStringsAreIgnored) {
  TextStreamer s(*tokenizer_, {""});
  EXPECT_EQ(s.push(id("Hello")), "Hello");
  EXPECT_FALSE(s.stopped());
}

}  // namespace
}  // namespace chimera::engine
