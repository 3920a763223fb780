// `chimera tokenize` as a user runs it: ids printed like llama-tokenize --ids, from a GGUF file or
// a fetched vocabulary, with --no-bos / --no-parse-special / --json / --pieces, and usage errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/gguf/gguf.h"
#include "engine/tokenizer/tokenizer.h"
#include "support/test_support.h"

namespace chimera {
namespace {

using testing::run_chimera;

// A vocabulary-only GGUF with the Gemma-shaped synthetic vocabulary (<bos> 2, <start_of_turn> 105).
std::string write_gemma_vocab_gguf(const testing::TempDir& dir) {
  engine::GgufWriter writer;
  EXPECT_TRUE(engine::write_vocab_to_gguf(writer, engine::synthetic_vocab("gemma3", 1024)).is_ok());
  writer.set_string("general.architecture", "gemma3");
  std::string path = dir.file("vocab.gguf");
  EXPECT_TRUE(writer.write(path).is_ok());
  return path;
}

TEST(TokenizeCliTest, PrintsIdsFromAGgufFile) {
  testing::TempDir dir;
  std::string model = write_gemma_vocab_gguf(dir);
  auto with_bos = run_chimera({"tokenize", "-m", model, "<start_of_turn>user"});
  ASSERT_EQ(with_bos.exit_code, 0) << with_bos.err;
  EXPECT_EQ(with_bos.out.rfind("[2, 105, ", 0), 0u) << with_bos.out;
  EXPECT_EQ(with_bos.out.back(), '\n');

  auto no_bos = run_chimera({"tokenize", "-m", model, "--no-bos", "<start_of_turn>user"});
  ASSERT_EQ(no_bos.exit_code, 0) << no_bos.err;
  EXPECT_EQ(no_bos.out.rfind("[105, ", 0), 0u) << no_bos.out;

  auto as_text = run_chimera({"tokenize", "-m", model, "--no-parse-special", "<start_of_turn>"});
  ASSERT_EQ(as_text.exit_code, 0) << as_text.err;
  EXPECT_EQ(as_text.out.find(" 105"), std::string::npos) << as_text.out;
}

TEST(TokenizeCliTest, JsonAndPiecesOutputs) {
  testing::TempDir dir;
  std::string model = write_gemma_vocab_gguf(dir);
  auto json = run_chimera({"tokenize", "-m", model, "--json", "<start_of_turn>hello"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["ids"][0], 2);
  EXPECT_EQ(parsed["ids"][1], 105);
  EXPECT_EQ(parsed["pieces"][1], "<start_of_turn>");
  EXPECT_EQ(parsed["n_tokens"], parsed["ids"].size());
  EXPECT_EQ(parsed["tokenizer"], "llama");
  EXPECT_EQ(parsed["n_vocab"], 1024);

  auto pieces = run_chimera({"tokenize", "-m", model, "--pieces", "<start_of_turn>\n"});
  ASSERT_EQ(pieces.exit_code, 0) << pieces.err;
  EXPECT_NE(pieces.out.find("   105 -> '<start_of_turn>'"), std::string::npos) << pieces.out;
  EXPECT_NE(pieces.out.find("'\\n'"), std::string::npos)
      << pieces.out;  // escaped, one line per token
}

TEST(TokenizeCliTest, ReadsTextFromStandardInput) {
  testing::TempDir dir;
  std::string model = write_gemma_vocab_gguf(dir);
  auto from_stdin = run_chimera({"tokenize", "-m", model, "-"}, "<start_of_turn>");
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(from_stdin.out, "[2, 105]\n");
}

// An Ollama-style Llama 3 file without tokenizer.ggml.pre gets the model loader's fix, so tokenize
// gives the ids generation will use, and says what it assumed.
TEST(TokenizeCliTest, AppliesTheModelLoadersVocabularyFixes) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& pre) {
    engine::VocabData vocab = engine::synthetic_vocab("llama", 2048);
    vocab.pre = pre;
    engine::GgufWriter writer;
    writer.set_string("general.architecture", "llama");
    EXPECT_TRUE(engine::write_vocab_to_gguf(writer, vocab).is_ok());
    EXPECT_TRUE(writer.write(dir.file(name)).is_ok());
    return dir.file(name);
  };
  std::string text = "the quick brown fox<|eot_id|>";
  auto fixed = run_chimera({"tokenize", "-m", write("no-pre.gguf", ""), text});
  auto reference = run_chimera({"tokenize", "-m", write("llama-bpe.gguf", "llama-bpe"), text});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(fixed.out, reference.out);
  EXPECT_NE(fixed.err.find("llama-bpe"), std::string::npos) << fixed.err;
  EXPECT_EQ(reference.err, "");
}

TEST(TokenizeCliTest, UsageErrorsExitWithTwoAndSayWhatToDo) {
  auto neither = run_chimera({"tokenize", "hello"});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("-m MODEL.gguf or --vocab"), std::string::npos) << neither.err;

  auto unknown = run_chimera({"tokenize", "--vocab", "no-such-vocab", "hello"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("'no-such-vocab'"), std::string::npos) << unknown.err;

  auto missing_file = run_chimera({"tokenize", "-m", "/nonexistent/model.gguf", "hello"});
  EXPECT_EQ(missing_file.exit_code, 1);
  EXPECT_NE(missing_file.err.find("/nonexistent/model.gguf"), std::string::npos)
      << missing_file.err;

  auto no_text = run_chimera({"tokenize", "--vocab", "gemma3"});
  EXPECT_EQ(no_text.exit_code, 2);
}

TEST(TokenizeCliTest, FetchedVocabulariesGiveTheGoldenIds) {
  if (testing::vocab_dir_if_present().empty()) {
    GTEST_SKIP() << "real vocabularies not found under .data/vocab (scripts/fetch-vocab.sh)";
  }
  // stack.md golden ids.
  auto gemma = run_chimera({"tokenize", "--vocab", "gemma3", "Hello world"});
  EXPECT_EQ(gemma.exit_code, 0) << gemma.err;
  EXPECT_EQ(gemma.out, "[2, 9259, 1902]\n");
  auto llama = run_chimera({"tokenize", "--vocab", "llama3", "Hello world"});
  EXPECT_EQ(llama.out, "[9906, 1917]\n");
  auto llama31 = run_chimera({"tokenize", "--vocab", "llama3_1", "Hello world"});
  EXPECT_EQ(llama31.out, "[128000, 9906, 1917]\n");
  auto path =
      run_chimera({"tokenize", "--vocab",
                   testing::vocab_dir_if_present() + "/llama3/tokenizer.json", "Hello world"});
  EXPECT_EQ(path.out, "[9906, 1917]\n");
  // Golden ids from the Qwen packages' own tokenizer (tokenizer_golden.json): no BOS, digits split.
  auto qwen3 = run_chimera({"tokenize", "--vocab", "qwen3", "Hello world 2024"});
  EXPECT_EQ(qwen3.exit_code, 0) << qwen3.err;
  EXPECT_EQ(qwen3.out, "[9707, 1879, 220, 17, 15, 17, 19]\n");
  auto qwen25 = run_chimera({"tokenize", "--vocab", "qwen2_5", "<think>"});
  EXPECT_EQ(qwen25.out, "[13708, 766, 29]\n");
}

}  // namespace
}  // namespace chimera
