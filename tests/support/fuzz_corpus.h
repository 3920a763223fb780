// Replays a fuzz seed corpus (tests/fuzz/corpus/<name>) through its harness in the normal build:
// seeds named valid_* must be accepted (the harness returns 1), bad_* refused (0), and every
// prefix of every seed (a truncated input) handled without a crash. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "support/test_support.h"
#include "util/mapped_file.h"

namespace chimera::testing {

struct CorpusCounts {
  int valid = 0, bad = 0;
};

inline CorpusCounts replay_corpus(const std::string& name,
                                  const std::function<int(const uint8_t*, size_t)>& harness,
                                  size_t prefix_stride, size_t prefix_limit) {
  CorpusCounts counts;
  const std::string dir = source_dir() + "/tests/fuzz/corpus/" + name;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    auto bytes = read_text_file(entry.path().string());
    EXPECT_TRUE(bytes.ok()) << file;
    if (!bytes.ok()) continue;
    const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
    const int accepted = harness(data, bytes->size());
    if (file.rfind("valid_", 0) == 0) {
      EXPECT_EQ(accepted, 1) << file << " should be accepted";
      ++counts.valid;
    } else if (file.rfind("bad_", 0) == 0) {
      EXPECT_EQ(accepted, 0) << file << " should be refused";
      ++counts.bad;
    }
    for (size_t n = 0; n < bytes->size() && n < prefix_limit; n += prefix_stride) harness(data, n);
  }
  return counts;
}

}  // namespace chimera::testing
