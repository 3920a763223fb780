// Byte-level BPE (model "gpt2", pre "llama-bpe") on hand-built vocabularies, GPT-2's
// bytes_to_unicode table, and the Llama 3 pre-tokenizer's word splits, each worked out by hand from
// the regex in engine-reference.md §4.2.
#include <gtest/gtest.h>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

// GPT-2's byte stand-ins, written out from its definition: printable Latin-1 stays, the other bytes
// take U+0100 upward in byte order.
std::string stand_in(int byte) {
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    int cp = printable ? b : next++;
    if (b == byte) {
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      return s;
    }
  }
  return "";
}

// ids 0..255: stand-in of byte i; then `extra` tokens; `merges` in rank order.
VocabData bpe_vocab(const Words& extra, const Words& merges, std::string pre = "llama-bpe") {
  VocabData v;
  v.model = "gpt2";
  v.pre = std::move(pre);
  for (int b = 0; b < 256; ++b) v.tokens.push_back(stand_in(b));
  for (const auto& t : extra) v.tokens.push_back(t);
  v.merges = merges;
  v.add_bos = false;
  return v;
}

std::shared_ptr<const Tokenizer> build(VocabData v) {
  auto t = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? t.value() : nullptr;
}

Words split_words(std::string_view text) {
  auto pre = tokenizer_detail::Llama3PreTokenizer::create();
  EXPECT_TRUE(pre.ok());
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  (*pre)->split(text, ranges);
  Words words;
  for (auto [offset, length] : ranges) words.emplace_back(text.substr(offset, length));
  return words;
}

TEST(ByteLevelTest, BytesToUnicodeMatchesGpt2) {
  EXPECT_EQ(stand_in(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(stand_in('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  const auto& table = tokenizer_detail::byte_to_code_point();
  EXPECT_EQ(table['a'], 'a');
  EXPECT_EQ(table[0x00], 0x100u);
  EXPECT_EQ(table[0x20], 0x120u);
  EXPECT_EQ(table[0x7F], 0x121u);
  EXPECT_EQ(table[0x80], 0x122u);
  EXPECT_EQ(table[0xA0], 0x142u);
  EXPECT_EQ(table[0xAD], 0x143u);
  EXPECT_EQ(table[0xE9], 0xE9u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(tokenizer_detail::byte_from_code_point(table[b]), b);
  EXPECT_EQ(tokenizer_detail::byte_from_code_point(0x144), -1);
}

TEST(Llama3PreTokenizerTest, SplitsLikeTheRegex) {
  EXPECT_EQ(split_words("Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split_words("I'm don't THEY'LL"), (Words{"I", "'m", " don", "'t", " THEY", "'LL"}));
  EXPECT_EQ(split_words("1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(split_words("a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(split_words("hi\n\nthere"), (Words{"hi", "\n\n", "there"}));
  EXPECT_EQ(split_words("x  \n y"), (Words{"x", "  \n", " y"}));
  EXPECT_EQ(split_words("ab!!? (c)"), (Words{"ab", "!!?", " (", "c", ")"}));
  EXPECT_EQ(split_words(" !!?\n\nz"), (Words{" !!?\n\n", "z"}));
  EXPECT_EQ(split_words("end   "), (Words{"end", "   "}));
  EXPECT_EQ(split_words("\tfoo"), (Words{"\tfoo"}));  // one non-letter, non-newline char + letters
  // Letters and numbers are Unicode classes: CJK letters, Arabic-Indic digits.
  EXPECT_EQ(split_words("\xE6\x97\xA5\xE6\x9C\xAC 12\xD9\xA3"),
            (Words{"\xE6\x97\xA5\xE6\x9C\xAC", " ", "12\xD9\xA3"}));
  // One optional non-letter (here NBSP, U+00A0) joins the letters after it.
  EXPECT_EQ(split_words("x\xC2\xA0y"), (Words{"x", "\xC2\xA0y"}));
  // Contractions are ASCII-only, as llama.cpp's scanner has them: the long s (U+017F) is not a case
  // variant of 's' (a case-folding regex engine would split "'ſ" + "x").
  EXPECT_EQ(split_words("'\xC5\xBFx"), (Words{"'\xC5\xBFx"}));
  // Whitespace is Unicode White_Space, NEL (U+0085) included: a run of it before a letter leaves
  // its last character to join the letter (were NEL punctuation, "\x85\x85" would be one word).
  EXPECT_EQ(split_words("a\xC2\x85\xC2\x85"
                        "b"),
            (Words{"a", "\xC2\x85",
                   "\xC2\x85"
                   "b"}));
  // Invalid UTF-8 never matches and becomes a word of its own.
  EXPECT_EQ(split_words("ab\xFF"
                        "cd"),
            (Words{"ab", "\xFF", "cd"}));
  EXPECT_TRUE(split_words("").empty());
}

// Merge-order tests use pre "default" (no ignore_merges), so whole-word lookups do not hide the
// merges.
TEST(ByteLevelBpeTest, MergesByRankLowestFirst) {
  // 256 th, 257 he, 258 the; "t h" outranks "h e": t h e -> th e -> the.
  auto tok = build(bpe_vocab({"th", "he", "the"}, {"t h", "h e", "th e"}, "default"));
  EXPECT_EQ(tok->encode("the", false, false), (Ids{258}));
  // "h e" first: t he, and no merge "t he" exists.
  auto other = build(bpe_vocab({"th", "he", "the"}, {"h e", "t h", "th e"}, "default"));
  EXPECT_EQ(other->encode("the", false, false), (Ids{'t', 257}));
  // With ignore_merges (llama-bpe) the whole word is looked up first.
  auto whole = build(bpe_vocab({"th", "he", "the"}, {"h e", "t h", "th e"}));
  EXPECT_EQ(whole->encode("the", false, false), (Ids{258}));
}

TEST(ByteLevelBpeTest, RepeatedPairsMergeLeftmostFirst) {
  // "a a" merges pairs from the left: a a a -> aa a.
  auto tok = build(bpe_vocab({"aa"}, {"a a"}));
  EXPECT_EQ(tok->encode("aaa", false, false), (Ids{256, 'a'}));
  EXPECT_EQ(tok->encode("aaaa", false, false), (Ids{256, 256}));
}

TEST(ByteLevelBpeTest, WholeWordInVocabularyIsOneTokenWithIgnoreMerges) {
  // "Ġthe" is a token but no merge builds it: llama-bpe (ignore_merges) still emits it whole; a
  // pre-tokenizer without ignore_merges ("default") goes through the merges.
  std::string space_the = stand_in(' ') + "the";
  VocabData v = bpe_vocab({"th", space_the}, {"t h"});
  EXPECT_EQ(build(v)->encode(" the", false, false), (Ids{257}));
  v.pre = "default";
  EXPECT_EQ(build(v)->encode(" the", false, false), (Ids{' ', 256, 'e'}));
}

TEST(ByteLevelBpeTest, MultiByteCharactersStartAsOneSymbolPerByte) {
  // é = C3 A9: stand-ins U+00C3 and U+00A9, merged by "Ã ©".
  std::string e_acute = stand_in(0xC3) + stand_in(0xA9);
  auto tok = build(bpe_vocab({e_acute}, {stand_in(0xC3) + " " + stand_in(0xA9)}));
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false), (Ids{256}));
  EXPECT_EQ(tok->encode("\xF0\x9F\xA4\x96", false, false), (Ids{0xF0, 0x9F, 0xA4, 0x96}));
  EXPECT_EQ(tok->decode(Ids{256, ' ', 0xF0, 0x9F, 0xA4, 0x96}), "\xC3\xA9 \xF0\x9F\xA4\x96");
  // Half a character decodes to its raw byte (streaming assembles the rest).
  EXPECT_EQ(tok->token_to_bytes(0xF0), "\xF0");
}

TEST(ByteLevelBpeTest, RoundTripsArbitraryBytes) {
  auto tok = build(bpe_vocab({"th", "he", "the"}, {"t h", "h e", "th e"}));
  std::string text;
  for (int b = 0; b < 256; ++b) text.push_back(static_cast<char>(b));
  text += " the\r\n\tthe  ";
  EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
}

TEST(ByteLevelBpeTest, UnsupportedPreTokenizerIsRejected) {
  auto bad = Tokenizer::from_vocab(bpe_vocab({}, {}, "deepseek-v3"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("'deepseek-v3'"), std::string::npos);
}

// Qwen's pre-tokenizer splits every digit (engine-reference-models.md §6); Llama 3's keeps runs of
// up to three. With "12" and "123" in the vocabulary, only Llama 3 can use them.
TEST(ByteLevelBpeTest, QwenSplitsDigitsOneByOne) {
  const Words pieces = {"12", "123"};
  const Words merges = {"1 2", "12 3"};
  auto llama = build(bpe_vocab(pieces, merges));
  auto qwen = build(bpe_vocab(pieces, merges, "qwen2"));
  EXPECT_EQ(llama->encode("12345", false, false), (Ids{257, '4', '5'}));
  EXPECT_EQ(qwen->encode("12345", false, false), (Ids{'1', '2', '3', '4', '5'}));
  EXPECT_EQ(qwen->encode("ab 12", false, false).size(), 5u);  // "ab", " ", "1", "2" -> a b Ġ 1 2
}

}  // namespace
}  // namespace chimera::engine
