// Special-token partition (llama.cpp's tokenizer_st_partition, engine-reference.md §4): candidates
// are CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first; without parse_special only
// user-defined tokens match. Also the synthetic vocabularies' shape, and end-of-generation ids.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "engine/tokenizer/tokenizer.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;

// SentencePiece vocabulary: 0 <unk>, 1..256 <0x00>..<0xFF>, then the given tokens from 257.
std::shared_ptr<const Tokenizer> vocab_with(
    const std::vector<std::pair<std::string, TokenType>>& tokens) {
  VocabData v;
  v.model = "llama";
  v.tokens.push_back("<unk>");
  v.token_types.push_back(static_cast<int32_t>(TokenType::kUnknown));
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(fmt::format("<0x{:02X}>", b));
    v.token_types.push_back(static_cast<int32_t>(TokenType::kByte));
  }
  for (const auto& [text, type] : tokens) {
    v.tokens.push_back(text);
    v.token_types.push_back(static_cast<int32_t>(type));
  }
  v.unk_id = 0;
  v.add_bos = false;
  auto t = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.value();
}

constexpr int32_t kFirst = 257;
int32_t byte_id(char c) { return 1 + static_cast<uint8_t>(c); }

TEST(SpecialPartitionTest, LongerSpecialClaimsTextBeforeShorterOnesAnywhereInTheText) {
  // "ab" (257) and "bcd" (258): llama.cpp tries "bcd" first, so "abcd" is "a" + <bcd> even though a
  // leftmost scan would have found "ab" first.
  auto tok = vocab_with(
      {{"ab", TokenType::kControl}, {"bcd", TokenType::kControl}, {"a", TokenType::kNormal}});
  EXPECT_EQ(tok->encode("abcd", false, true), (Ids{259, kFirst + 1}));
  EXPECT_EQ(tok->encode("abab", false, true), (Ids{kFirst, kFirst}));
}

TEST(SpecialPartitionTest, OccurrencesOfOneTokenDoNotOverlap) {
  auto tok = vocab_with({{"aa", TokenType::kUserDefined}, {"a", TokenType::kNormal}});
  EXPECT_EQ(tok->encode("aaa", false, false), (Ids{kFirst, kFirst + 1}));
  EXPECT_EQ(tok->encode("aaaa", false, false), (Ids{kFirst, kFirst}));
}

TEST(SpecialPartitionTest, ParseSpecialControlsControlButNotUserDefinedTokens) {
  auto tok = vocab_with({{"<ctl>", TokenType::kControl}, {"<usr>", TokenType::kUserDefined}});
  EXPECT_EQ(tok->encode("<ctl><usr>", false, true), (Ids{kFirst, kFirst + 1}));
  Ids plain = tok->encode("<ctl><usr>", false, false);
  ASSERT_EQ(plain.size(), 6u);  // "<ctl>" as five byte tokens, then <usr>
  EXPECT_EQ(plain[0], byte_id('<'));
  EXPECT_EQ(plain.back(), kFirst + 1);
  // The unknown token's text is also a candidate only with parse_special.
  EXPECT_EQ(tok->encode("<unk>", false, true), (Ids{0}));
  EXPECT_EQ(tok->encode("<unk>", false, false).size(), 5u);
}

TEST(SpecialPartitionTest, SpecialsInsideMultibyteTextAndAtBothEnds) {
  auto tok = vocab_with({{"\xE2\x96\x81", TokenType::kNormal}, {"<s>", TokenType::kControl}});
  EXPECT_EQ(tok->encode("<s>\xC3\xA9<s>", false, true),
            (Ids{kFirst + 1, byte_id('\xC3'), byte_id('\xA9'), kFirst + 1}));
  EXPECT_EQ(tok->encode("<s>", false, true), (Ids{kFirst + 1}));
  EXPECT_TRUE(tok->encode("", false, true).empty());
}

TEST(SyntheticVocabTest, GemmaShapedVocabularyHasGemmaSpecialIds) {
  VocabData v = synthetic_vocab("gemma3", 4096);
  EXPECT_EQ(v.tokens.size(), 4096u);
  EXPECT_EQ(v.model, "llama");
  auto tok = Tokenizer::from_vocab(v);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.token_text(0), "<pad>");
  EXPECT_EQ(t.token_text(1), "<eos>");
  EXPECT_EQ(t.token_text(2), "<bos>");
  EXPECT_EQ(t.token_text(3), "<unk>");
  EXPECT_EQ(t.token_text(105), "<start_of_turn>");
  EXPECT_EQ(t.token_text(106), "<end_of_turn>");
  EXPECT_TRUE(t.is_end_of_generation(1));
  EXPECT_TRUE(t.is_end_of_generation(106));
  EXPECT_FALSE(t.is_end_of_generation(2));
  EXPECT_EQ(t.find_token("<0x41>").has_value(), true);
  Ids ids = t.encode("<start_of_turn>user\nHello world<end_of_turn>\n", true, true);
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids[1], 105);
  // "user", "Hello" and "▁world" are merged pieces of the synthetic vocabulary.
  EXPECT_EQ(t.decode(ids), "user\nHello world\n");
  EXPECT_LE(ids.size(), 9u);
}

TEST(SyntheticVocabTest, LlamaShapedVocabularyHasLlama3SpecialIds) {
  VocabData v = synthetic_vocab("llama", 2048);
  EXPECT_EQ(v.tokens.size(), 2048u);
  auto tok = Tokenizer::from_vocab(v);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& t = **tok;
  int32_t base = 2048 - 256;  // Llama 3's 256 reserved ids at the end (128000 in the real one)
  EXPECT_EQ(t.token_text(base), "<|begin_of_text|>");
  EXPECT_EQ(t.token_text(base + 6), "<|start_header_id|>");
  EXPECT_EQ(t.token_text(base + 9), "<|eot_id|>");
  EXPECT_EQ(t.bos_id(), base);
  EXPECT_TRUE(t.is_end_of_generation(base + 9));
  EXPECT_TRUE(t.is_end_of_generation(base + 1));  // <|end_of_text|>
  EXPECT_EQ(t.token_text(0), "!");                // GPT-2 byte order, as Llama 3's first tokens
  Ids ids = t.encode(" the quick brown fox", false, false);
  EXPECT_EQ(ids.size(), 4u);
  std::string text = "Hello world \xF0\x9F\xA4\x96 caf\xC3\xA9\n\n<|eot_id|>";
  EXPECT_EQ(t.decode(t.encode(text, true, true), true), "<|begin_of_text|>" + text);
}

TEST(SyntheticVocabTest, SmallSizesAreRaisedToTheFamilyMinimumAndLargeOnesAreExact) {
  EXPECT_GE(synthetic_vocab("gemma3", 10).tokens.size(), 256u + 4u);
  EXPECT_GE(synthetic_vocab("llama", 10).tokens.size(), 256u + 10u);
  VocabData big = synthetic_vocab("gemma3", 262144);
  EXPECT_EQ(big.tokens.size(), 262144u);
  EXPECT_TRUE(Tokenizer::from_vocab(std::move(big)).ok());
  // Deterministic: the same call gives the same vocabulary.
  EXPECT_EQ(synthetic_vocab("llama", 3000).tokens, synthetic_vocab("llama", 3000).tokens);
  EXPECT_EQ(synthetic_vocab("llama", 3000).merges, synthetic_vocab("llama", 3000).merges);
}

}  // namespace
}  // namespace chimera::engine
