// Replays the fuzz seed corpus (tests/fuzz/corpus/gguf) through the fuzz harness itself in the
// normal build, so CI exercises every seed: files named valid_* must parse, bad_* must be rejected
// cleanly.
#include <gtest/gtest.h>

#include <filesystem>

#include "fuzz/gguf_fuzz.cpp"  // the harness, not a copy of it
#include "support/test_support.h"
#include "util/mapped_file.h"

namespace chimera::engine {
namespace {

TEST(GgufCorpus, EverySeedParsesOrIsRejectedAsItsNameSays) {
  const std::string dir = testing::source_dir() + "/tests/fuzz/corpus/gguf";
  int valid = 0, bad = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    auto bytes = read_text_file(entry.path().string());
    ASSERT_TRUE(bytes.ok()) << name;
    const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
    const int parsed = gguf_fuzz_one(data, bytes->size());
    if (name.rfind("valid_", 0) == 0) {
      EXPECT_EQ(parsed, 1) << name << " should parse";
      ++valid;
    } else if (name.rfind("bad_", 0) == 0) {
      EXPECT_EQ(parsed, 0) << name << " should be rejected";
      ++bad;
    }
    // Every prefix of a seed is a truncated file: it must be handled without a crash.
    for (size_t n = 0; n < bytes->size() && n < 4096; n += 7) gguf_fuzz_one(data, n);
  }
  EXPECT_GE(valid, 8);
  EXPECT_GE(bad, 20);
}

}  // namespace
}  // namespace chimera::engine
