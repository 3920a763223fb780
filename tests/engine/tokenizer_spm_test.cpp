// SentencePiece-style BPE (model "llama") on small hand-built vocabularies whose expected ids are
// worked out by hand from engine-reference.md §4.1: merge by piece score (ties: leftmost), U+2581
// for spaces, <0xNN> byte fallback, space prefix, BOS/EOS, decoding.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;
constexpr int kByteBase = 3;  // <0x00> is id 3

struct Piece {
  std::string text;
  float score;
  TokenType type = TokenType::kNormal;
};

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then `pieces` from 259 on.
VocabData spm_vocab(const std::vector<Piece>& pieces, bool add_space_prefix = false) {
  VocabData v;
  v.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, TokenType::kByte);
  for (const Piece& p : pieces) add(p.text, p.score, p.type);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
  v.add_space_prefix = add_space_prefix;
  return v;
}

std::shared_ptr<const Tokenizer> build(VocabData v) {
  auto t = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? t.value() : nullptr;
}

const std::string kMarker = "\xE2\x96\x81";  // ▁

TEST(SpmTokenizerTest, HigherScoredPieceMergesFirst) {
  // 259 a, 260 b, 261 c, 262 ab, 263 bc
  auto bc_first = build(spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -2}, {"bc", -1}}));
  EXPECT_EQ(bc_first->encode("abc", false, false), (Ids{259, 263}));  // a + bc
  auto ab_first = build(spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -1}, {"bc", -2}}));
  EXPECT_EQ(ab_first->encode("abc", false, false), (Ids{262, 261}));  // ab + c
}

TEST(SpmTokenizerTest, EqualScoresMergeLeftmostFirst) {
  auto tok = build(spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -1}, {"bc", -1}}));
  EXPECT_EQ(tok->encode("abc", false, false), (Ids{262, 261}));
}

TEST(SpmTokenizerTest, MergesChainIntoLongerPieces) {
  // 259 a, 260 b, 261 c, 262 ab, 263 abc: ab forms first, then ab+c is a piece.
  auto tok = build(spm_vocab({{"a", 0}, {"b", 0}, {"c", 0}, {"ab", -1}, {"abc", -2}}));
  EXPECT_EQ(tok->encode("abc", false, false), (Ids{263}));
  EXPECT_EQ(tok->encode("abcab", false, false), (Ids{263, 262}));
  // No bigram "bc" exists, so "bca" cannot reach "abc": b, c, a.
  EXPECT_EQ(tok->encode("bca", false, false), (Ids{260, 261, 259}));
}

TEST(SpmTokenizerTest, SpacesBecomeTheMarkerAndUnknownCharactersFallBackToBytes) {
  // 259 ▁, 260 h, 261 i, 262 ▁h, 263 ▁hi
  auto tok = build(
      spm_vocab({{kMarker, 0}, {"h", 0}, {"i", 0}, {kMarker + "h", -1}, {kMarker + "hi", -2}}));
  EXPECT_EQ(tok->encode(" hi", false, false), (Ids{263}));
  EXPECT_EQ(tok->encode("hi  hi", false, false), (Ids{260, 261, 259, 263}));
  // é is C3 A9 and not a piece: two byte tokens. A 4-byte emoji gives four.
  EXPECT_EQ(tok->encode("h\xC3\xA9", false, false), (Ids{260, kByteBase + 0xC3, kByteBase + 0xA9}));
  EXPECT_EQ(tok->encode("\xF0\x9F\xA4\x96", false, false),
            (Ids{kByteBase + 0xF0, kByteBase + 0x9F, kByteBase + 0xA4, kByteBase + 0x96}));
  EXPECT_EQ(tok->decode(tok->encode("hi h\xC3\xA9 \xF0\x9F\xA4\x96", false, false)),
            "hi h\xC3\xA9 \xF0\x9F\xA4\x96");
}

TEST(SpmTokenizerTest, SpacePrefixGoesBeforeTheTextAndAfterSpecialTokens) {
  auto tok =
      build(spm_vocab({{kMarker, 0}, {"h", 0}, {"i", 0}, {kMarker + "h", -1}, {kMarker + "hi", -2}},
                      /*add_space_prefix=*/true));
  EXPECT_EQ(tok->encode("hi", true, false), (Ids{1, 263}));
  // After the control token </s> (matched with parse_special) the prefix is added again.
  EXPECT_EQ(tok->encode("hi</s>hi", false, true), (Ids{263, 2, 263}));
  // Decoding drops the one space the prefix added.
  EXPECT_EQ(tok->decode(tok->encode("hi", true, false)), "hi");
  EXPECT_EQ(tok->decode(tok->encode(" hi", true, false)), " hi");
}

TEST(SpmTokenizerTest, BosAndEosFollowTheVocabularyFlags) {
  VocabData v = spm_vocab({{"h", 0}});
  v.add_eos = true;
  auto tok = build(v);
  EXPECT_EQ(tok->encode("h", true, false), (Ids{1, 259, 2}));
  EXPECT_EQ(tok->encode("h", false, false), (Ids{259}));
  v.add_bos = false;
  v.add_eos = false;
  EXPECT_EQ(build(v)->encode("h", true, false), (Ids{259}));
  EXPECT_EQ(tok->encode("", true, false), (Ids{1, 2}));
}

TEST(SpmTokenizerTest, DecodeRendersControlTokensOnlyWhenAsked) {
  auto tok = build(spm_vocab({{kMarker, 0}, {"h", 0}, {"<tag>", 0, TokenType::kUserDefined}}));
  Ids ids{1, 260, 259, 3 + 'A', 261, 2};
  EXPECT_EQ(tok->decode(ids), "h A<tag>");
  EXPECT_EQ(tok->decode(ids, true), "<s>h A<tag></s>");
  EXPECT_EQ(tok->token_to_bytes(3 + 0xC3), "\xC3");  // half a UTF-8 character, for streaming
  EXPECT_EQ(tok->token_to_bytes(-5), "");
  EXPECT_EQ(tok->token_to_bytes(100000), "");
}

TEST(SpmTokenizerTest, RejectsInconsistentVocabularies) {
  VocabData v = spm_vocab({{"h", 0}});
  v.scores.pop_back();
  auto bad_scores = Tokenizer::from_vocab(v);
  ASSERT_FALSE(bad_scores.ok());
  EXPECT_NE(bad_scores.status().message().find("scores"), std::string::npos);

  v = spm_vocab({{"h", 0}});
  v.eos_id = 9999;
  auto bad_id = Tokenizer::from_vocab(v);
  ASSERT_FALSE(bad_id.ok());
  EXPECT_NE(bad_id.status().message().find("eos_token_id is 9999"), std::string::npos);

  v = spm_vocab({{"h", 0}});
  v.token_types[5] = 42;
  EXPECT_FALSE(Tokenizer::from_vocab(v).ok());

  v = spm_vocab({{"h", 0}});
  v.model = "bert";
  auto bad_model = Tokenizer::from_vocab(v);
  ASSERT_FALSE(bad_model.ok());
  EXPECT_EQ(bad_model.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(bad_model.status().message().find("'bert'"), std::string::npos);

  VocabData empty;
  empty.model = "llama";
  EXPECT_FALSE(Tokenizer::from_vocab(empty).ok());
}

TEST(SpmTokenizerTest, InvalidUtf8RoundTripsThroughByteTokens) {
  auto tok = build(spm_vocab({{"a", 0}, {kMarker, 0}}));
  // 0xFF announces four bytes but no continuation bytes follow: each invalid byte stands alone, so
  // the space after it stays a space marker (260) instead of being swallowed into raw bytes.
  std::string text =
      "a\xFF\xC3"
      "a\x80 a";
  Ids ids = tok->encode(text, false, false);
  EXPECT_EQ(ids, (Ids{259, kByteBase + 0xFF, kByteBase + 0xC3, 259, kByteBase + 0x80, 260, 259}));
  EXPECT_EQ(tok->decode(ids), text);
}

}  // namespace
}  // namespace chimera::engine
