// Vocabulary <-> GGUF: write_vocab_to_gguf writes llama.cpp's converter keys with the right types,
// read_vocab_from_gguf applies llama.cpp's defaults for absent keys, errors name the file and key,
// and a vocabulary survives write -> GgufFile -> from_gguf with identical ids (synthetic and real).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/gguf/gguf.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

using Ids = std::vector<int32_t>;

struct Parsed {
  std::vector<uint8_t> bytes;  // GgufFile::parse views these: keep them alive with the file
  std::optional<GgufFile> file;
};

std::unique_ptr<Parsed> roundtrip(const GgufWriter& writer,
                                  const std::string& name = "vocab.gguf") {
  auto parsed = std::make_unique<Parsed>();
  auto bytes = writer.write_to_memory();
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  parsed->bytes = std::move(bytes).value();
  auto file = GgufFile::parse(parsed->bytes, name);
  EXPECT_TRUE(file.ok()) << file.status().to_string();
  if (file.ok()) parsed->file.emplace(std::move(file).value());
  return parsed;
}

std::unique_ptr<Parsed> write_vocab(const VocabData& vocab) {
  GgufWriter writer;
  Status status = write_vocab_to_gguf(writer, vocab);
  EXPECT_TRUE(status.is_ok()) << status.to_string();
  return roundtrip(writer);
}

const std::vector<std::string> kTexts = {
    "Hello world", "  The quick brown fox\n\n\tjumps 1234567 caf\xC3\xA9 \xF0\x9F\xA4\x96",
    "<start_of_turn>user\nHi<end_of_turn>\n",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", ""};

TEST(TokenizerGgufTest, SyntheticVocabulariesSurviveTheRoundTrip) {
  for (const char* family : {"gemma3", "llama"}) {
    VocabData vocab = synthetic_vocab(family, 4096);
    vocab.chat_template = "{{ messages }}";
    auto parsed = write_vocab(vocab);
    ASSERT_TRUE(parsed->file);
    auto read = read_vocab_from_gguf(*parsed->file);
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    EXPECT_EQ(read->model, vocab.model);
    EXPECT_EQ(read->pre, vocab.pre);
    EXPECT_EQ(read->tokens, vocab.tokens);
    EXPECT_EQ(read->scores, vocab.scores);
    EXPECT_EQ(read->token_types, vocab.token_types);
    EXPECT_EQ(read->merges, vocab.merges);
    EXPECT_EQ(read->bos_id, vocab.bos_id);
    EXPECT_EQ(read->eos_id, vocab.eos_id);
    EXPECT_EQ(read->unk_id, vocab.unk_id);
    EXPECT_EQ(read->pad_id, vocab.pad_id);
    EXPECT_EQ(read->eot_id, vocab.eot_id);
    EXPECT_EQ(read->eom_id, vocab.eom_id);
    EXPECT_EQ(read->eos_ids, vocab.eos_ids);
    EXPECT_EQ(read->add_bos, vocab.add_bos);
    EXPECT_EQ(read->add_eos, vocab.add_eos);
    EXPECT_EQ(read->add_space_prefix, vocab.add_space_prefix);
    EXPECT_EQ(read->chat_template, vocab.chat_template);

    auto from_file = Tokenizer::from_gguf(*parsed->file);
    ASSERT_TRUE(from_file.ok()) << from_file.status().to_string();
    auto direct = Tokenizer::from_vocab(vocab);
    ASSERT_TRUE(direct.ok());
    for (const std::string& text : kTexts) {
      EXPECT_EQ((*from_file)->encode(text, true, true), (*direct)->encode(text, true, true))
          << family << ": " << text;
    }
  }
}

TEST(TokenizerGgufTest, WritesExactlyTheConverterKeysWithTheirTypes) {
  auto spm = write_vocab(synthetic_vocab("gemma3", 1024));
  std::set<std::string> keys;
  for (const auto& kv : spm->file->metadata()) keys.insert(kv.key);
  EXPECT_EQ(keys, (std::set<std::string>{
                      "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                      "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                      "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                      "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                      "tokenizer.ggml.eos_token_ids", "tokenizer.ggml.add_bos_token",
                      "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_space_prefix"}));
  EXPECT_EQ(spm->file->get_string("tokenizer.ggml.pre").value_or(""), "default");
  EXPECT_EQ(spm->file->find("tokenizer.ggml.bos_token_id")->type, GgufValueType::kU32);
  EXPECT_EQ(spm->file->find("tokenizer.ggml.add_bos_token")->type, GgufValueType::kBool);
  auto types = std::get<GgufArrayView>(spm->file->find("tokenizer.ggml.token_type")->value);
  EXPECT_EQ(types.element_type, GgufValueType::kI32);
  auto scores = std::get<GgufArrayView>(spm->file->find("tokenizer.ggml.scores")->value);
  EXPECT_EQ(scores.element_type, GgufValueType::kF32);
  EXPECT_EQ(scores.count, 1024u);

  auto bpe = write_vocab(synthetic_vocab("llama", 1024));
  keys.clear();
  for (const auto& kv : bpe->file->metadata()) keys.insert(kv.key);
  EXPECT_EQ(keys, (std::set<std::string>{
                      "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                      "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                      "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                      "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                      "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}));
  EXPECT_EQ(bpe->file->get_string("tokenizer.ggml.pre").value_or(""), "llama-bpe");
}

TEST(TokenizerGgufTest, AbsentKeysTakeLlamaCppDefaults) {
  GgufWriter spm;
  spm.set_string("tokenizer.ggml.model", "llama");
  spm.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>",
                                                 "\xE2\x96\x81"
                                                 "a"});
  auto parsed = roundtrip(spm);
  auto v = read_vocab_from_gguf(*parsed->file);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_TRUE(v->add_bos);
  EXPECT_TRUE(v->add_space_prefix);
  auto tok = Tokenizer::from_gguf(*parsed->file);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  // BOS 1, and the space prefix turns "a" into the piece "▁a".
  EXPECT_EQ((*tok)->encode("a", true, false), (Ids{1, 3}));
}

TEST(TokenizerGgufTest, Llama3PreTokenizerDefaultsToAddingBos) {
  for (const char* pre : {"llama-bpe", ""}) {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    if (*pre != '\0') w.set_string("tokenizer.ggml.pre", pre);
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
    w.set_string_array("tokenizer.ggml.merges", {});
    auto parsed = roundtrip(w);
    auto v = read_vocab_from_gguf(*parsed->file);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->add_bos, *pre != '\0') << "pre '" << pre << "'";
    EXPECT_EQ(v->bos_id, -1);
    EXPECT_FALSE(v->add_space_prefix);
  }
}

TEST(TokenizerGgufTest, ErrorsNameTheFileAndTheKey) {
  GgufWriter none;
  none.set_string("general.architecture", "llama");
  auto no_vocab = roundtrip(none, "weights-only.gguf");
  auto missing = Tokenizer::from_gguf(*no_vocab->file);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("weights-only.gguf"), std::string::npos);
  EXPECT_NE(missing.status().message().find("tokenizer.ggml.model"), std::string::npos);

  GgufWriter bad_type;
  bad_type.set_string("tokenizer.ggml.model", "llama");
  bad_type.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  bad_type.set_i32_array("tokenizer.ggml.token_type", {1, 9});
  auto bad = roundtrip(bad_type, "bad.gguf");
  auto bad_result = Tokenizer::from_gguf(*bad->file);
  ASSERT_FALSE(bad_result.ok());
  EXPECT_NE(bad_result.status().message().find("token_type[1] is 9"), std::string::npos);

  GgufWriter bad_id;
  bad_id.set_string("tokenizer.ggml.model", "llama");
  bad_id.set_string_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  bad_id.set_u32("tokenizer.ggml.bos_token_id", 77);
  auto out_of_range = roundtrip(bad_id, "bad-bos.gguf");
  auto bos_result = Tokenizer::from_gguf(*out_of_range->file);
  ASSERT_FALSE(bos_result.ok());
  EXPECT_NE(bos_result.status().message().find("bad-bos.gguf"), std::string::npos);
  EXPECT_NE(bos_result.status().message().find("bos_token_id is 77"), std::string::npos);

  VocabData unknown_model;
  unknown_model.model = "bert";
  GgufWriter w;
  EXPECT_FALSE(write_vocab_to_gguf(w, unknown_model).is_ok());
}

TEST(TokenizerGgufTest, RealVocabulariesGiveIdenticalIdsThroughGguf) {
  std::string dir = chimera::testing::vocab_dir_if_present();
  if (dir.empty())
    GTEST_SKIP() << "real vocabularies not found under .data/vocab (scripts/fetch-vocab.sh)";
  std::ifstream in(chimera::testing::source_dir() + "/tests/engine/fixtures/tokenizer_golden.json");
  nlohmann::json fixture = nlohmann::json::parse(in);
  for (const char* family : {"gemma3", "llama3_1"}) {
    auto vocab = import_hf_tokenizer_json(dir + "/" + family + "/tokenizer.json");
    ASSERT_TRUE(vocab.ok()) << vocab.status().to_string();
    auto parsed = write_vocab(*vocab);
    auto tok = Tokenizer::from_gguf(*parsed->file);
    ASSERT_TRUE(tok.ok()) << tok.status().to_string();
    EXPECT_EQ((*tok)->n_vocab(), static_cast<int32_t>(vocab->tokens.size()));
    for (const auto& c : fixture["cases"]) {
      EXPECT_EQ((*tok)->encode(c["text"].get<std::string>(), true, true), c[family].get<Ids>())
          << family << " case " << c["name"];
    }
  }
}

}  // namespace
}  // namespace chimera::engine
