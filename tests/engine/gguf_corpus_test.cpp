// Replays the fuzz seed corpus (tests/fuzz/corpus/gguf) through the fuzz harness itself in the
// normal build, so CI exercises every seed: files named valid_* must parse, bad_* must be rejected
// cleanly.
#include <gtest/gtest.h>

#include "fuzz/gguf_fuzz.cpp"  // the harness, not a copy of it
#include "support/fuzz_corpus.h"

namespace chimera::engine {
namespace {

TEST(GgufCorpus, EverySeedParsesOrIsRejectedAsItsNameSays) {
  // Every prefix of a seed is a truncated file: it must be handled without a crash.
  testing::CorpusCounts counts = testing::replay_corpus("gguf", gguf_fuzz_one, 7, 4096);
  EXPECT_GE(counts.valid, 8);
  EXPECT_GE(counts.bad, 20);
}

}  // namespace
}  // namespace chimera::engine
