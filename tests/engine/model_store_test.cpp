// ModelStore against a fake Ollama store built on disk with real files: name parsing, manifest ->
// blob resolution, template/params layers, sha256 verification, listing, and hostile names.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/model/model_store.h"
#include "support/test_support.h"
#include "util/hash.h"

namespace chimera::engine {
namespace {

namespace fs = std::filesystem;

void write_file(const std::string& path, std::string_view contents) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

// A fake store: each model gets a GGUF-looking blob, a template and params layer and a manifest.
class FakeStore {
 public:
  FakeStore() : root_(dir_.path() + "/ollama"), cache_(dir_.path() + "/cache/models") {}

  std::string add_blob(std::string_view contents) {
    const std::string hex = sha256_hex(contents);
    write_file(root_ + "/blobs/sha256-" + hex, contents);
    return "sha256:" + hex;
  }

  // Returns the model blob's digest.
  std::string add_model(const std::string& host, const std::string& ns, const std::string& model,
                        const std::string& tag, std::string_view gguf, bool with_text = true) {
    const std::string model_digest = add_blob(gguf);
    std::string layers = fmt::format(
        R"({{"mediaType":"application/vnd.ollama.image.model","digest":"{}","size":{}}})",
        model_digest, gguf.size());
    if (with_text) {
      const std::string tmpl = "{{ .Prompt }}";
      const std::string params = R"({"stop":["<end_of_turn>"],"temperature":1})";
      layers += fmt::format(
          R"(,{{"mediaType":"application/vnd.ollama.image.template","digest":"{}","size":{}}})",
          add_blob(tmpl), tmpl.size());
      layers += fmt::format(
          R"(,{{"mediaType":"application/vnd.ollama.image.params","digest":"{}","size":{}}})",
          add_blob(params), params.size());
      layers += fmt::format(
          R"(,{{"mediaType":"application/vnd.ollama.image.license","digest":"{}","size":3}})",
          add_blob("MIT"));
    }
    write_file(
        fmt::format("{}/manifests/{}/{}/{}/{}", root_, host, ns, model, tag),
        fmt::format(R"({{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.)"
                    R"(manifest.v2+json","config":{{"mediaType":"application/vnd.docker.)"
                    R"(container.image.v1+json","digest":"{}","size":2}},"layers":[{}]}})",
                    add_blob("{}"), layers));
    return model_digest;
  }

  ModelStore store() const { return ModelStore(root_, cache_); }
  const std::string& root() const { return root_; }
  const std::string& cache() const { return cache_; }

 private:
  testing::TempDir dir_;
  std::string root_, cache_;
};

TEST(OllamaName, ParsesTheFormsOllamaAccepts) {
  auto n = parse_ollama_name("gemma3");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->host, "registry.ollama.ai");
  EXPECT_EQ(n->name_space, "library");
  EXPECT_EQ(n->model, "gemma3");
  EXPECT_EQ(n->tag, "latest");
  EXPECT_EQ(n->display(), "gemma3:latest");
  EXPECT_EQ(n->manifest_relative_path(), "manifests/registry.ollama.ai/library/gemma3/latest");

  auto t = parse_ollama_name("ollama:llama3.1:8b-instruct-q4_0");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->model, "llama3.1");
  EXPECT_EQ(t->tag, "8b-instruct-q4_0");

  auto ns = parse_ollama_name("ollama:someone/tiny-model:v2");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->name_space, "someone");
  EXPECT_EQ(ns->display(), "someone/tiny-model:v2");

  auto host = parse_ollama_name("localhost:5000/team/m");
  ASSERT_TRUE(host.ok()) << host.status().message();
  EXPECT_EQ(host->host, "localhost:5000");
  EXPECT_EQ(host->tag, "latest");
  EXPECT_EQ(host->display(), "localhost:5000/team/m:latest");
}

TEST(OllamaName, RejectsNamesThatCouldEscapeTheStore) {
  for (const char* bad : {"../../etc/passwd", "a/../b", "gemma3:../x", "", "ollama:", "a//b",
                          "a/b/c/d", "gemma3:", "bad name", "x:y/z\\w"}) {
    auto r = parse_ollama_name(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ModelStore, ResolvesManifestToBlobAndTextLayers) {
  FakeStore fake;
  const std::string digest =
      fake.add_model("registry.ollama.ai", "library", "gemma3", "4b", "GGUF fake weights");
  fake.add_model("registry.ollama.ai", "library", "gemma3", "latest", "other", false);
  ModelStore store = fake.store();
  auto m = store.resolve("ollama:gemma3:4b");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->gguf_digest, digest);
  EXPECT_EQ(m->gguf_path, fake.root() + "/blobs/sha256-" + digest.substr(7));
  EXPECT_EQ(m->gguf_size_bytes, 17u);
  ASSERT_TRUE(m->template_text.has_value());
  EXPECT_EQ(*m->template_text, "{{ .Prompt }}");
  ASSERT_TRUE(m->params_json.has_value());
  EXPECT_NE(m->params_json->find("<end_of_turn>"), std::string::npos);
  EXPECT_FALSE(m->system_text.has_value());
  EXPECT_EQ(m->layers.size(), 4u);
  EXPECT_TRUE(store.verify(*m).is_ok());

  // NAME alone means :latest.
  auto latest = store.resolve("gemma3");
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  EXPECT_EQ(latest->name.tag, "latest");
  EXPECT_FALSE(latest->template_text.has_value());
  auto path = resolve_model_path("ollama:gemma3", store);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, latest->gguf_path);
}

TEST(ModelStore, ResolvesNamespacedModels) {
  FakeStore fake;
  fake.add_model("registry.ollama.ai", "someone", "tiny", "q8", "abc");
  auto m = fake.store().resolve("someone/tiny:q8");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->name.display(), "someone/tiny:q8");
  EXPECT_FALSE(fake.store().resolve("tiny:q8").ok());  // that would be library/tiny
}

TEST(ModelStore, MissingModelSaysHowToGetIt) {
  FakeStore fake;
  auto m = fake.store().resolve("llama3.1:8b");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(m.status().message().find("ollama pull llama3.1:8b"), std::string::npos)
      << m.status().message();
  EXPECT_NE(m.status().message().find(fake.root()), std::string::npos);
}

TEST(ModelStore, VerifyDetectsCorruptAndTruncatedBlobs) {
  FakeStore fake;
  fake.add_model("registry.ollama.ai", "library", "m", "latest", "0123456789");
  ModelStore store = fake.store();
  auto m = store.resolve("m");
  ASSERT_TRUE(m.ok());
  write_file(m->gguf_path, "0123456780");  // same size, one byte changed
  Status corrupt = store.verify(*m);
  ASSERT_FALSE(corrupt.is_ok());
  EXPECT_NE(corrupt.message().find("sha256"), std::string::npos) << corrupt.message();
  EXPECT_NE(corrupt.message().find("ollama pull m:latest"), std::string::npos);
  write_file(m->gguf_path, "01234");
  Status truncated = store.verify(*m);
  ASSERT_FALSE(truncated.is_ok());
  EXPECT_NE(truncated.message().find("5 bytes but the manifest says 10"), std::string::npos)
      << truncated.message();
}

TEST(ModelStore, RejectsManifestsWithHostileOrBrokenContent) {
  FakeStore fake;
  write_file(fake.root() + "/manifests/registry.ollama.ai/library/evil/latest",
             R"({"layers":[{"mediaType":"application/vnd.ollama.image.model",)"
             R"("digest":"sha256:../../../../etc/passwd","size":1}]})");
  auto evil = fake.store().resolve("evil");
  ASSERT_FALSE(evil.ok());
  EXPECT_NE(evil.status().message().find("not sha256:<64 lowercase hex>"), std::string::npos);
  write_file(fake.root() + "/manifests/registry.ollama.ai/library/broken/latest", "{not json");
  auto broken = fake.store().resolve("broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("not valid JSON"), std::string::npos);
  // A manifest whose blob is gone.
  const std::string digest = fake.add_model("registry.ollama.ai", "library", "gone", "latest", "x");
  fs::remove(fake.root() + "/blobs/sha256-" + digest.substr(7));
  auto gone = fake.store().resolve("gone");
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("is missing"), std::string::npos);
  // No model layer at all.
  write_file(fake.root() + "/manifests/registry.ollama.ai/library/nomodel/latest",
             R"({"layers":[]})");
  EXPECT_FALSE(fake.store().resolve("nomodel").ok());
}

TEST(ModelStore, ListsOllamaModelsAndCachedGgufs) {
  FakeStore fake;
  fake.add_model("registry.ollama.ai", "library", "gemma3", "4b", "aaaa");
  fake.add_model("registry.ollama.ai", "library", "gemma3", "1b", "bbbbbb");
  fake.add_model("registry.ollama.ai", "someone", "tiny", "latest", "c");
  write_file(fake.root() + "/manifests/registry.ollama.ai/library/broken/latest", "nope");
  write_file(fake.cache() + "/gemma3-1b-q8_0.gguf", "GGUF....");
  write_file(fake.cache() + "/notes.txt", "not a model");
  std::vector<std::string> warnings;
  auto list = fake.store().list(&warnings);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].name, "gemma3:1b");
  EXPECT_EQ((*list)[0].size_bytes, 6u);
  EXPECT_EQ((*list)[1].name, "gemma3:4b");
  EXPECT_EQ((*list)[2].name, "someone/tiny:latest");
  EXPECT_EQ((*list)[3].source, "cache");
  EXPECT_EQ((*list)[3].name, "gemma3-1b-q8_0.gguf");
  EXPECT_EQ((*list)[3].size_bytes, 8u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("broken"), std::string::npos);
  // An empty or absent store lists nothing, without error.
  ModelStore empty("/nonexistent-ollama", "/nonexistent-cache");
  auto none = empty.list();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(ModelStore, PathsPassThroughAndMissingFilesAreErrors) {
  FakeStore fake;
  testing::TempDir dir;
  write_file(dir.file("m.gguf"), "GGUF");
  auto ok = resolve_model_path(dir.file("m.gguf"), fake.store());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, dir.file("m.gguf"));
  auto missing = resolve_model_path(dir.file("nope.gguf"), fake.store());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("ollama:NAME"), std::string::npos);
}

}  // namespace
}  // namespace chimera::engine
