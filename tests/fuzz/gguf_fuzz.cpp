// libFuzzer target: arbitrary bytes through GgufFile::parse, then every metadata value and every
// tensor view is touched, so an out-of-bounds view or a bad offset shows up under ASan. Run:
// build/fuzz/tests/fuzz/gguf_fuzz -max_total_time=300 tests/fuzz/corpus/gguf The same harness
// replays the seed corpus in the normal build (tests/engine/gguf_corpus_test.cpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/gguf/gguf.h"

namespace chimera::engine {

// Returns 1 when the bytes parsed as GGUF, 0 when they were rejected; aborts on an inconsistency.
inline int gguf_fuzz_one(const uint8_t* data, size_t size) {
  auto parsed = GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!parsed.ok()) {
    if (parsed.status().message().rfind("fuzz.gguf: ", 0) != 0)
      std::abort();  // errors name the file
    return 0;
  }
  const GgufFile& file = *parsed;
  volatile uint64_t sink = 0;
  for (const auto& kv : file.metadata()) {
    if (file.find(kv.key) != &kv) std::abort();
    sink = sink + format_gguf_value(kv, 1u << 20, 1u << 20).size();
    (void)file.get_int(kv.key);
    (void)file.get_float(kv.key);
    (void)file.get_bool(kv.key);
    (void)file.get_string(kv.key);
    if (const auto* array = std::get_if<GgufArrayView>(&kv.value)) {
      if (auto s = file.get_string_array(kv.key); s.ok()) {
        if (s->size() != array->count) std::abort();
        for (auto piece : *s)
          sink = sink + piece.size() + (piece.empty() ? 0 : uint8_t(piece.back()));
      }
      if (auto f = file.get_float_array(kv.key); f.ok()) sink = sink + f->size();
      if (auto i = file.get_int_array(kv.key); i.ok()) sink = sink + i->size();
      if (auto b = file.get_bool_array(kv.key); b.ok()) sink = sink + b->size();
      for (const auto& nested : gguf_nested_arrays(*array)) sink = sink + nested.bytes.size();
    }
  }
  for (const auto& t : file.tensors()) {
    if (file.find_tensor(t.name) != &t) std::abort();
    if (t.n_bytes == 0 || t.data < data || t.data + t.n_bytes > data + size) std::abort();
    // First and last byte of every view, and a stride through the middle.
    const uint8_t* p = t.data;
    for (uint64_t i = 0; i < t.n_bytes; i += 4093) sink = sink + p[i];
    sink = sink + p[t.n_bytes - 1];
  }
  (void)sink;
  return 1;
}

}  // namespace chimera::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chimera::engine::gguf_fuzz_one(data, size);
  return 0;
}
