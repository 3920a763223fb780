// import_hf_tokenizer_json on small hand-written tokenizer.json / tokenizer_config.json pairs (no
// npm data needed): what llama.cpp's converter would make of them (engine-reference.md §1.2, §4),
// and clear errors for what this build does not handle.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Gemma-like: byte_fallback BPE, Replace " " -> "▁", pair-form merges, added tokens.
const char kSpmJson[] = R"({
  "added_tokens": [],
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
  "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "ignore_merges": false,
    "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<0x41>": 4, "\u2581": 5, "h": 6, "i": 7,
              "hi": 8, "\u2581hi": 9, "<turn>": 10, "\u2581\u2581": 11, "<unused0>": 12, "<end>": 13},
    "merges": [["h", "i"], ["\u2581", "hi"], ["\u2581", "\u2581"]]}
})";
const char kSpmConfig[] = R"({
  "add_bos_token": true, "add_eos_token": false, "bos_token": "<bos>", "eos_token": "<end>",
  "unk_token": "<unk>", "pad_token": "<pad>", "chat_template": "{{ bos_token }}",
  "added_tokens_decoder": {
    "0": {"content": "<pad>", "special": true}, "1": {"content": "<eos>", "special": true},
    "2": {"content": "<bos>", "special": true}, "3": {"content": "<unk>", "special": true},
    "10": {"content": "<turn>", "special": true}, "11": {"content": "\u2581\u2581", "special": false},
    "12": {"content": "<unused0>", "special": false}, "13": {"content": "<end>", "special": true},
    "14": {"content": "<image>", "special": true}}
})";

TEST(TokenizerImportTest, SentencePieceStyleVocabularyBecomesModelLlama) {
  testing::TempDir dir;
  write(dir.file("tokenizer.json"), kSpmJson);
  write(dir.file("tokenizer_config.json"), kSpmConfig);
  auto v = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->pre, "default");
  EXPECT_EQ(v->tokens.size(), 14u);  // <image> (id 14) is beyond the model's vocabulary: dropped
  EXPECT_TRUE(v->merges.empty());
  // Scores: merged pieces -(first merge rank)-1, added tokens -1000, everything else 0.
  EXPECT_EQ(v->scores[8], -1.0f);  // hi
  EXPECT_EQ(v->scores[9], -2.0f);  // ▁hi
  EXPECT_EQ(v->scores[11], -1000.0f);
  EXPECT_EQ(v->scores[6], 0.0f);
  EXPECT_EQ(v->token_types[4], static_cast<int32_t>(TokenType::kByte));
  EXPECT_EQ(v->token_types[10], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(v->token_types[12], static_cast<int32_t>(TokenType::kControl));  // looks special
  EXPECT_EQ(v->token_types[11], static_cast<int32_t>(TokenType::kUserDefined));
  EXPECT_EQ(v->tokens[11], "  ");  // user-defined ▁ pre-normalized to spaces
  EXPECT_EQ(v->token_types[6], static_cast<int32_t>(TokenType::kNormal));
  EXPECT_EQ(v->bos_id, 2);
  EXPECT_EQ(v->eos_id, 1);  // <eos>; the config's end-of-turn token joins it in eos_ids
  EXPECT_EQ(v->eos_ids, (Ids{1, 13}));
  EXPECT_EQ(v->unk_id, 3);
  EXPECT_EQ(v->pad_id, 0);
  EXPECT_TRUE(v->add_bos);
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_EQ(v->chat_template, "{{ bos_token }}");

  auto tok = Tokenizer::from_vocab(std::move(v).value());
  ASSERT_TRUE(tok.ok());
  // "hi" (8), user-defined "  " (11), then " hi" = "▁hi" (9); "A" has no piece but <0x41>.
  EXPECT_EQ((*tok)->encode("hi   hiA", true, true), (Ids{2, 8, 11, 9, 4}));
}

// Llama-3-like: byte-level BPE with the Llama 3 regex, string merges, a BOS template.
std::string bpe_json(const std::string& regex) {
  return R"({
  "added_tokens": [{"id": 5, "content": "<|begin_of_text|>", "special": true},
                   {"id": 6, "content": "<|eot_id|>", "special": true},
                   {"id": 8, "content": "<|extra|>", "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": ")" +
         regex + R"("}, "behavior": "Isolated"},
    {"type": "ByteLevel", "add_prefix_space": false}]},
  "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"},
    {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                               {"Sequence": {"id": "A", "type_id": 0}}]}]},
  "model": {"type": "BPE", "byte_fallback": false, "ignore_merges": true,
    "vocab": {"h": 0, "i": 1, "hi": 2, "\u0120": 3, "\u0120hi": 4},
    "merges": ["h i", "\u0120 hi"]}
})";
}
const char kLlama3RegexJson[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+)";

TEST(TokenizerImportTest, ByteLevelVocabularyBecomesModelGpt2WithLlamaBpe) {
  testing::TempDir dir;
  write(dir.file("tokenizer.json"), bpe_json(kLlama3RegexJson));
  // No add_bos_token key: the post-processor template decides. A >64-bit integer must not matter.
  write(dir.file("tokenizer_config.json"),
        R"({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
            "model_max_length": 1000000000000000019884624838656})");
  auto v = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->pre, "llama-bpe");
  EXPECT_EQ(v->tokens.size(), 9u);
  EXPECT_EQ(v->tokens[7], "[PAD7]");  // a hole between added ids, as the converter fills it
  EXPECT_EQ(v->token_types[7], static_cast<int32_t>(TokenType::kUnused));
  EXPECT_EQ(v->merges, (std::vector<std::string>{"h i", "\xC4\xA0 hi"}));
  EXPECT_TRUE(v->scores.empty());
  EXPECT_EQ(v->bos_id, 5);
  EXPECT_EQ(v->eos_id, 6);
  EXPECT_EQ(v->eot_id, 6);
  EXPECT_TRUE(v->eos_ids.empty());
  EXPECT_TRUE(v->add_bos);
  auto tok = Tokenizer::from_vocab(std::move(v).value());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ((*tok)->encode("hi hi<|eot_id|>", true, true), (Ids{5, 2, 4, 6}));
}

TEST(TokenizerImportTest, UnsupportedInputsFailWithClearMessages) {
  testing::TempDir dir;
  write(dir.file("tokenizer.json"), bpe_json("\\\\w+"));
  auto other_regex = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_FALSE(other_regex.ok());
  EXPECT_EQ(other_regex.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(other_regex.status().message().find("Llama 3"), std::string::npos);

  write(dir.file("tokenizer.json"), R"({"model": {"type": "Unigram", "vocab": []}})");
  auto unigram = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_FALSE(unigram.ok());
  EXPECT_NE(unigram.status().message().find("'Unigram'"), std::string::npos);

  write(dir.file("tokenizer.json"), "{ not json");
  auto broken = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), ErrorCode::kParseError);
  EXPECT_NE(broken.status().message().find(dir.file("tokenizer.json")), std::string::npos);

  write(
      dir.file("tokenizer.json"),
      R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 99999999999}, "merges": []}})");
  auto huge_id = import_hf_tokenizer_json(dir.file("tokenizer.json"));
  ASSERT_FALSE(huge_id.ok());
  EXPECT_NE(huge_id.status().message().find("model.vocab['a']"), std::string::npos);
}

}  // namespace
}  // namespace chimera::engine
