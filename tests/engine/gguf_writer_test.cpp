// GgufWriter: byte layout as ggml writes it, write -> read equality of every metadata type and of
// tensor bytes, streaming producers, atomic replacement and refusal of invalid tensors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/gguf/gguf.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

std::vector<uint8_t> f32_bytes(std::initializer_list<float> values) {
  std::vector<uint8_t> out(values.size() * 4);
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

TEST(GgufWriter, LayoutMatchesTheSpecByteForByte) {
  GgufWriter w;
  w.set_u32("a", 7);
  ASSERT_TRUE(w.add_tensor("t", {2}, GgmlType::kF32, f32_bytes({1.0f, -2.0f})).is_ok());
  auto bytes = w.write_to_memory();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  // Derived by hand from the GGUF spec: magic, version 3, 1 tensor, 1 kv; key "a" (u64 len 1),
  // type 4 (u32), value 7; tensor "t": n_dims 1, ne 2, type 0, offset 0; pad to 32; data; pad
  // to 32.
  std::vector<uint8_t> expected = {
      'G', 'G', 'U', 'F', 3, 0, 0, 0,   1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
      0,   0,   0,   0,   0, 0, 0, 'a', 4, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 't',
      1,   0,   0,   0,   2, 0, 0, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(expected.size(), 74u);
  expected.resize(96, 0);  // header padding to the next multiple of 32
  for (uint8_t b : f32_bytes({1.0f, -2.0f})) expected.push_back(b);
  expected.resize(128, 0);  // tensor padding
  EXPECT_EQ(*bytes, expected);
}

TEST(GgufWriter, EveryMetadataTypeRoundTrips) {
  GgufWriter w;
  w.set_u8("u8", 250);
  w.set_i8("i8", -100);
  w.set_u16("u16", 65000);
  w.set_i16("i16", -30000);
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_u64("u64", uint64_t{1} << 60);
  w.set_i64("i64", -(int64_t{1} << 60));
  w.set_f32("f32", 1e-5f);
  w.set_f64("f64", 3.25);
  w.set_bool("yes", true);
  w.set_bool("no", false);
  w.set_string("s", "héllo <start_of_turn>");
  w.set_string("empty", "");
  w.set_string_array("tokens", {"<pad>", "", "▁the", std::string("a\0b", 3)});
  w.set_f32_array("scores", {0.0f, -1.5f, 1e30f});
  w.set_i32_array("types", {1, 3, -6});
  w.set_u32_array("u32s", {0, 4000000000u});
  w.set_bool_array("pattern", {true, false, false, true});
  w.set_u32("u32", 5);  // replaces, keeps a single key
  auto bytes = w.write_to_memory();
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto r = GgufFile::parse(*bytes, "mem");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = *r;
  EXPECT_EQ(g.metadata().size(), 19u);
  EXPECT_EQ(g.metadata()[4].key, "u32");  // insertion order kept
  EXPECT_EQ(g.find("u8")->type, GgufValueType::kU8);
  EXPECT_EQ(g.get_int("u8"), 250);
  EXPECT_EQ(g.find("i8")->type, GgufValueType::kI8);
  EXPECT_EQ(g.get_int("i8"), -100);
  EXPECT_EQ(g.get_int("u16"), 65000);
  EXPECT_EQ(g.get_int("i16"), -30000);
  EXPECT_EQ(g.find("u32")->type, GgufValueType::kU32);
  EXPECT_EQ(g.get_int("u32"), 5);
  EXPECT_EQ(g.get_int("i32"), -2000000000);
  EXPECT_EQ(g.get_int("u64"), int64_t{1} << 60);
  EXPECT_EQ(g.get_int("i64"), -(int64_t{1} << 60));
  EXPECT_EQ(g.find("f32")->type, GgufValueType::kF32);
  EXPECT_EQ(float(g.get_float("f32").value()), 1e-5f);
  EXPECT_EQ(g.find("f64")->type, GgufValueType::kF64);
  EXPECT_EQ(g.get_float("f64"), 3.25);
  EXPECT_EQ(g.get_bool("yes"), true);
  EXPECT_EQ(g.get_bool("no"), false);
  EXPECT_EQ(g.get_string("s"), "héllo <start_of_turn>");
  EXPECT_EQ(g.get_string("empty"), "");
  auto tokens = g.get_string_array("tokens").value();
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[2], "▁the");
  EXPECT_EQ(tokens[3], std::string_view("a\0b", 3));
  EXPECT_EQ(g.get_float_array("scores").value(), (std::vector<float>{0.0f, -1.5f, 1e30f}));
  EXPECT_EQ(g.get_int_array("types").value(), (std::vector<int64_t>{1, 3, -6}));
  EXPECT_EQ(g.get_int_array("u32s").value(), (std::vector<int64_t>{0, 4000000000}));
  EXPECT_EQ(g.get_bool_array("pattern").value(), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(std::get<GgufArrayView>(g.find("types")->value).element_type, GgufValueType::kI32);
}

TEST(GgufWriter, TensorsRoundTripWithAlignment) {
  for (uint32_t alignment : {32u, 64u, 8u}) {
    GgufWriter w;
    if (alignment != 32) w.set_alignment(alignment);
    std::vector<uint8_t> q8(34 * 2);  // two Q8_0 blocks: one row of 64
    for (size_t i = 0; i < q8.size(); ++i) q8[i] = uint8_t(i * 7 + 1);
    ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", {64, 1}, GgmlType::kQ8_0, q8).is_ok());
    ASSERT_TRUE(w.add_tensor("norm", {3}, GgmlType::kF32, f32_bytes({1, 2, 3})).is_ok());
    ASSERT_TRUE(w.add_tensor("big", {256, 3, 2}, GgmlType::kF16, [](std::span<uint8_t> out) {
                   for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(i % 251);
                   return Status::ok();
                 }).is_ok());
    auto bytes = w.write_to_memory();
    ASSERT_TRUE(bytes.ok());
    auto r = GgufFile::parse(*bytes, "mem");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->alignment(), alignment);
    ASSERT_EQ(r->tensors().size(), 3u);
    const auto* q = r->find_tensor("blk.0.attn_q.weight");
    EXPECT_EQ(q->type, GgmlType::kQ8_0);
    EXPECT_EQ(std::vector<uint8_t>(q->data, q->data + q->n_bytes), q8);
    const auto* big = r->find_tensor("big");
    EXPECT_EQ(big->ne, (std::vector<int64_t>{256, 3, 2}));
    EXPECT_EQ(big->n_bytes, 256u * 3 * 2 * 2);
    for (size_t i = 0; i < big->n_bytes; ++i) ASSERT_EQ(big->data[i], uint8_t(i % 251));
    for (const auto& t : r->tensors()) {
      EXPECT_EQ(t.offset % alignment, 0u) << t.name;
      EXPECT_EQ((r->data_offset() + t.offset) % alignment, 0u) << t.name;
    }
    EXPECT_EQ(bytes->size() % alignment, 0u);
  }
}

TEST(GgufWriter, WritesFilesAtomically) {
  testing::TempDir dir;
  const std::string path = dir.file("m.gguf");
  { std::ofstream(path) << "old contents"; }
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  ASSERT_TRUE(w.add_tensor("a", {1024, 512}, GgmlType::kF32, [](std::span<uint8_t> out) {
                 for (size_t i = 0; i < out.size(); i += 4) {
                   float v = float(i / 4);
                   std::memcpy(&out[i], &v, 4);
                 }
                 return Status::ok();
               }).is_ok());
  int calls = 0;
  uint64_t last_done = 0, last_total = 0;
  w.set_progress([&](uint64_t done, uint64_t total) {
    ++calls;
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(w.write(path).is_ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last_done, 1024u * 512 * 4);
  EXPECT_EQ(last_total, last_done);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto* a = r->find_tensor("a");
  float v;
  std::memcpy(&v, a->data + 4 * 300000, 4);
  EXPECT_EQ(v, 300000.0f);
  EXPECT_EQ(std::filesystem::file_size(path), r->data_offset() + a->n_bytes);
}

TEST(GgufWriter, FailedProducerLeavesPreviousFileAndNoTemporary) {
  testing::TempDir dir;
  const std::string path = dir.file("m.gguf");
  { std::ofstream(path) << "old contents"; }
  GgufWriter w;
  ASSERT_TRUE(w.add_tensor("ok", {32}, GgmlType::kF32, std::vector<uint8_t>(128, 1)).is_ok());
  ASSERT_TRUE(w.add_tensor("bad", {32}, GgmlType::kF32, [](std::span<uint8_t>) {
                 return make_error(ErrorCode::kCancelled, "stopped by the user");
               }).is_ok());
  Status st = w.write(path);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("tensor bad"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("stopped by the user"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  std::string contents((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(contents, "old contents");
  // A producer that throws is reported, not propagated.
  GgufWriter thrower;
  ASSERT_TRUE(
      thrower
          .add_tensor("t", {32}, GgmlType::kF32,
                      [](std::span<uint8_t>) -> Status { throw std::runtime_error("boom"); })
          .is_ok());
  Status thrown = thrower.write(path);
  ASSERT_FALSE(thrown.is_ok());
  EXPECT_NE(thrown.message().find("boom"), std::string::npos);
}

TEST(GgufWriter, UnwritableDirectoryIsAnError) {
  GgufWriter w;
  Status st = w.write("/nonexistent-dir-for-chimera/m.gguf");
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), ErrorCode::kIoError);
  EXPECT_NE(st.message().find("/nonexistent-dir-for-chimera/m.gguf.tmp"), std::string::npos);
}

TEST(GgufWriter, RefusesInvalidTensors) {
  GgufWriter w;
  EXPECT_FALSE(
      w.add_tensor("q", {33, 2}, GgmlType::kQ4_0, [](auto) { return Status::ok(); }).is_ok());
  EXPECT_FALSE(w.add_tensor("z", {0}, GgmlType::kF32, [](auto) { return Status::ok(); }).is_ok());
  EXPECT_FALSE(w.add_tensor("d", {1, 1, 1, 1, 1}, GgmlType::kF32, [](auto) {
                  return Status::ok();
                }).is_ok());
  EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), {4}, GgmlType::kF32, [](auto) {
                  return Status::ok();
                }).is_ok());
  Status size = w.add_tensor("s", {4}, GgmlType::kF32, std::vector<uint8_t>(15));
  ASSERT_FALSE(size.is_ok());
  EXPECT_NE(size.message().find("15 bytes"), std::string::npos) << size.message();
  EXPECT_NE(size.message().find("16 bytes"), std::string::npos) << size.message();
  ASSERT_TRUE(w.add_tensor("w", {4}, GgmlType::kF32, std::vector<uint8_t>(16)).is_ok());
  EXPECT_FALSE(w.add_tensor("w", {4}, GgmlType::kF32, std::vector<uint8_t>(16)).is_ok());
  EXPECT_EQ(w.tensor_count(), 1u);
  GgufWriter bad_alignment;
  bad_alignment.set_alignment(48);
  EXPECT_FALSE(bad_alignment.write_to_memory().ok());
}

}  // namespace
}  // namespace chimera::engine
