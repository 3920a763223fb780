// Qwen 3's reasoning block splitter (engine/tokenizer/think_tags.h) and the choice of splitter
// and think checks that serve and generate share (engine/tokenizer/reasoning.h). The replies are
// written here by hand in Qwen 3's output format; a split must not depend on where the stream's
// pieces cut the tags.
#include "engine/tokenizer/think_tags.h"

#include <gtest/gtest.h>

#include "engine/tokenizer/harmony_channels.h"
#include "engine/tokenizer/reasoning.h"

namespace chimera::engine {
namespace {

// What a Qwen 3 reply looks like: reasoning in the block, then the answer; a lone '<', a cut
// closing tag inside the reasoning and a <think> inside the answer are text.
constexpr std::string_view kReply =
    "<think>\nThe user greets. 1 < 2 </thin is not a tag.\n</think>\n\nHello! <think> stays.";
constexpr std::string_view kThinking = "The user greets. 1 < 2 </thin is not a tag.\n";
constexpr std::string_view kContent = "Hello! <think> stays.";

// Feeds `pieces` one by one, checking that what came out so far is always a prefix of the final
// split (nothing is emitted on one side and then found to belong to the other).
ChannelText stream(const std::vector<std::string_view>& pieces, std::string_view thinking,
                   std::string_view content) {
  ThinkTags tags;
  ChannelText all;
  for (std::string_view piece : pieces) {
    const ChannelText t = tags.feed(piece);
    all.thinking += t.thinking;
    all.content += t.content;
    EXPECT_TRUE(thinking.starts_with(all.thinking)) << all.thinking;
    EXPECT_TRUE(content.starts_with(all.content)) << all.content;
  }
  const ChannelText rest = tags.flush();
  all.thinking += rest.thinking;
  all.content += rest.content;
  return all;
}

void expect_split_anywhere(std::string_view reply, std::string_view thinking,
                           std::string_view content) {
  const ChannelText whole = ThinkTags::split(reply);
  EXPECT_EQ(whole.thinking, thinking);
  EXPECT_EQ(whole.content, content);
  for (size_t cut = 0; cut <= reply.size(); ++cut) {  // two pieces, cut at every byte
    const ChannelText t = stream({reply.substr(0, cut), reply.substr(cut)}, thinking, content);
    EXPECT_EQ(t.thinking, thinking) << "cut at " << cut;
    EXPECT_EQ(t.content, content) << "cut at " << cut;
  }
  for (size_t size = 1; size <= 9; ++size) {  // token-sized pieces
    std::vector<std::string_view> pieces;
    for (size_t at = 0; at < reply.size(); at += size) pieces.push_back(reply.substr(at, size));
    const ChannelText t = stream(pieces, thinking, content);
    EXPECT_EQ(t.thinking, thinking) << "pieces of " << size;
    EXPECT_EQ(t.content, content) << "pieces of " << size;
  }
}

TEST(ThinkTags, ReasoningAndAnswerWhereverThePiecesCutTheTags) {
  expect_split_anywhere(kReply, kThinking, kContent);
}

TEST(ThinkTags, WhitespaceAroundTheTagsIsDropped) {
  expect_split_anywhere("\n \n<think>  a b </think>\n\n\n c ", "a b ", "c ");
  // The empty block Qwen 3 writes when it decides not to think.
  expect_split_anywhere("<think>\n\n</think>\n\nHi", "", "Hi");
}

TEST(ThinkTags, AReplyCutBeforeTheBlockClosesKeepsItsReasoning) {
  // num_predict or the context ended it: every byte stays, as reasoning, also a cut tag.
  expect_split_anywhere("<think>\nstep one, step two </thi", "step one, step two </thi", "");
  expect_split_anywhere("<think>\n", "", "");
}

TEST(ThinkTags, TextBeforeTheBlockMakesItAllAnswer) {
  expect_split_anywhere("Sure. <think>x</think>y", "", "Sure. <think>x</think>y");
}

TEST(ThinkTags, NoBlockAtAllIsTheAnswerAsItIs) {
  expect_split_anywhere("  Hello\n", "", "  Hello\n");
  expect_split_anywhere("\n\n", "", "\n\n");
  expect_split_anywhere("<thi", "", "<thi");  // an opening tag that never completes
  expect_split_anywhere("<b>bold</b>", "", "<b>bold</b>");
  EXPECT_EQ(ThinkTags::split("").content, "");
}

TEST(ThinkSettings, LevelsAsOllamaNamesThem) {
  EXPECT_EQ(parse_think_level("low"), Think::kLow);
  EXPECT_EQ(parse_think_level("medium"), Think::kMedium);
  EXPECT_EQ(parse_think_level("high"), Think::kHigh);
  EXPECT_EQ(parse_think_level("max"), Think::kHigh);  // Ollama's: gpt-oss's highest
  EXPECT_EQ(parse_think_level("HIGH"), std::nullopt);
  EXPECT_EQ(parse_think_level("true"), std::nullopt);
  EXPECT_EQ(parse_think_level(""), std::nullopt);
}

TEST(ThinkSettings, WhichSplitterAReplyGets) {
  // gpt-oss reasons whatever think says: its channels are always split, also with think off.
  for (Think think : {Think::kDefault, Think::kOff, Think::kOn, Think::kLow, Think::kHigh}) {
    auto splitter = reply_splitter_for(ChatFamily::kHarmony, think);
    EXPECT_NE(dynamic_cast<HarmonyChannels*>(splitter.get()), nullptr) << think_name(think);
  }
  for (Think think : {Think::kDefault, Think::kOn, Think::kMedium}) {
    auto splitter = reply_splitter_for(ChatFamily::kQwen3, think);
    EXPECT_NE(dynamic_cast<ThinkTags*>(splitter.get()), nullptr) << think_name(think);
  }
  // Qwen 3 with thinking off: the prompt closed the block, the reply is the answer.
  EXPECT_EQ(reply_splitter_for(ChatFamily::kQwen3, Think::kOff), nullptr);
  EXPECT_EQ(reply_splitter_for(ChatFamily::kGemma, Think::kDefault), nullptr);
  EXPECT_EQ(reply_splitter_for(ChatFamily::kQwen2, Think::kDefault), nullptr);
}

TEST(ThinkSettings, ThinkingAskedOfAModelWithoutItIsAnError) {
  const Status s = check_think(ChatFamily::kGemma, Think::kOn, "gemma3", "think true");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("think true"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("architecture gemma3"), std::string::npos) << s.message();
  EXPECT_FALSE(check_think(ChatFamily::kLlama3, Think::kLow, "llama", "--think low").is_ok());
  EXPECT_FALSE(check_think(ChatFamily::kQwen2, Think::kOn, "qwen2", "think true").is_ok());
  // Off and unset are fine everywhere; a level on Qwen 3 means on, as in Ollama.
  EXPECT_TRUE(check_think(ChatFamily::kGemma, Think::kOff, "gemma3", "think false").is_ok());
  EXPECT_TRUE(check_think(ChatFamily::kGemma, Think::kDefault, "gemma3", "").is_ok());
  EXPECT_TRUE(check_think(ChatFamily::kQwen3, Think::kHigh, "qwen3", "think high").is_ok());
  EXPECT_TRUE(check_think(ChatFamily::kHarmony, Think::kOff, "gpt-oss", "think false").is_ok());
}

}  // namespace
}  // namespace chimera::engine
