// The harmony reply splitter of the chat endpoints and generate
// (engine/tokenizer/harmony_channels.h): the analysis channel becomes the reasoning, the final
// channel the answer, the markup disappears, wherever the stream's pieces happen to cut it.
#include "engine/tokenizer/harmony_channels.h"

#include <gtest/gtest.h>

namespace chimera::engine {
namespace {

constexpr std::string_view kReply =
    "<|channel|>analysis<|message|>User says hi. Reply <b>briefly</b>.<|end|>"
    "<|start|>assistant<|channel|>final<|message|>Hello! 1 < 2 <| not a marker";

TEST(HarmonyChannels, SplitsAWholeReply) {
  const ChannelText t = HarmonyChannels::split(kReply);
  EXPECT_EQ(t.thinking, "User says hi. Reply <b>briefly</b>.");
  EXPECT_EQ(t.content, "Hello! 1 < 2 <| not a marker");
}

TEST(HarmonyChannels, PiecesCutAnywhereGiveTheSameSplit) {
  for (size_t size : {1u, 2u, 3u, 5u, 7u, 11u}) {
    HarmonyChannels channels;
    ChannelText all;
    for (size_t at = 0; at < kReply.size(); at += size) {
      const ChannelText t = channels.feed(kReply.substr(at, size));
      all.thinking += t.thinking;
      all.content += t.content;
      // Nothing of the markup leaks into either part while streaming.
      EXPECT_EQ(all.content.find("<|channel|>"), std::string::npos) << size;
      EXPECT_EQ(all.thinking.find("<|end|>"), std::string::npos) << size;
    }
    const ChannelText rest = channels.flush();
    EXPECT_EQ(all.thinking + rest.thinking, "User says hi. Reply <b>briefly</b>.") << size;
    EXPECT_EQ(all.content + rest.content, "Hello! 1 < 2 <| not a marker") << size;
  }
}

TEST(HarmonyChannels, TextWithoutMarkupIsTheAnswer) {
  const ChannelText t = HarmonyChannels::split("plain words, no channels");
  EXPECT_EQ(t.content, "plain words, no channels");
  EXPECT_EQ(t.thinking, "");
  // A final message straight away, and a tool-call preamble on the commentary channel.
  EXPECT_EQ(HarmonyChannels::split("<|channel|>final<|message|>Yes.<|return|>").content, "Yes.");
  const ChannelText call = HarmonyChannels::split(
      "<|channel|>commentary to=functions.get json<|message|>{\"x\":1}<|call|>");
  EXPECT_EQ(call.content, "{\"x\":1}");
  EXPECT_EQ(call.thinking, "");
}

// Dummy weights write markers amid plain text: text that does not open with a header is the
// answer, markers and all, however the stream is cut (a collected reply split the same way).
TEST(HarmonyChannels, AMarkerAfterPlainTextDoesNotMakeItAHeader) {
  constexpr std::string_view kText = " throu and<|message|>thi";
  EXPECT_EQ(HarmonyChannels::split(kText).content, kText);
  for (size_t cut = 0; cut <= kText.size(); ++cut) {
    HarmonyChannels channels;
    ChannelText a = channels.feed(kText.substr(0, cut));
    ChannelText b = channels.feed(kText.substr(cut));
    ChannelText c = channels.flush();
    EXPECT_EQ(a.content + b.content + c.content, kText) << "cut at " << cut;
    EXPECT_EQ(a.thinking + b.thinking + c.thinking, "") << "cut at " << cut;
  }
}

}  // namespace
}  // namespace chimera::engine
