// GgufFile: every validity check of engine-reference.md §1.1, each with a file crafted byte by byte
// here (never by the writer under test), plus typed access and zero-copy views.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "engine/gguf/gguf.h"
#include "support/test_support.h"

namespace chimera::engine {
namespace {

// Little-endian byte builder for hand-made GGUF files.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Bytes& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  Bytes& u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  Bytes& f32(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u32(u);
  }
  Bytes& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Bytes& kv_str(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  // Tensor info: name, dims, type, offset.
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(uint32_t(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

Result<GgufFile> parse(const Bytes& bytes) { return GgufFile::parse(bytes.b, "m.gguf"); }

// The parse must fail, and the message must name the file and contain every fragment.
void expect_error(const Bytes& bytes, std::initializer_list<std::string_view> fragments) {
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok()) << "parse unexpectedly succeeded";
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind("m.gguf: ", 0), 0u) << msg;
  for (auto f : fragments)
    EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
}

// A small valid file: two keys and two F32 tensors, built by hand.
Bytes valid_file(uint32_t version = 3) {
  Bytes f;
  f.header(2, 2, version).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 7);
  f.tensor("a.weight", {4}, 0, 0).tensor("b.weight", {2, 3}, 0, 32);
  f.pad(32);
  for (int i = 0; i < 4; ++i) f.f32(float(i) + 0.5f);
  f.pad(32);
  for (int i = 0; i < 6; ++i) f.f32(float(-i));
  return f;
}

TEST(GgufReader, ParsesHandBuiltFileWithZeroCopyViews) {
  Bytes f = valid_file();
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = *r;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.metadata().size(), 2u);
  EXPECT_EQ(g.get_string("general.architecture").value_or(""), "llama");
  EXPECT_EQ(g.get_int("llama.block_count").value_or(-1), 7);
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* b = g.find_tensor("b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ne, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->rows(), 3);
  EXPECT_EQ(b->cols(), 2);
  EXPECT_EQ(b->n_bytes, 24u);
  EXPECT_EQ(b->n_elements, 6);
  // The view points into the caller's buffer, at data_offset + offset.
  EXPECT_EQ(b->data, f.b.data() + g.data_offset() + 32);
  float v;
  std::memcpy(&v, b->data + 4 * 5, 4);
  EXPECT_EQ(v, -5.0f);
  EXPECT_EQ(g.find_tensor("missing"), nullptr);
  EXPECT_EQ(g.parameter_count(), 10u);
  EXPECT_EQ(g.tensor_bytes(), 40u);
}

TEST(GgufReader, AcceptsVersion2) {
  auto r = parse(valid_file(2));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->version(), 2u);
}

TEST(GgufReader, RejectsBadMagicAndVersions) {
  Bytes f = valid_file();
  f.b[0] = 'X';
  expect_error(f, {"not a GGUF file", "XGUF"});
  expect_error(valid_file(1), {"version 1"});
  expect_error(valid_file(4), {"version 4", "2 and 3"});
  expect_error(valid_file(0), {"version 0"});
  expect_error(valid_file(0x03000000), {"byte-swapped"});
  Bytes tiny;
  tiny.u8('G');
  expect_error(tiny, {"too short"});
}

TEST(GgufReader, EveryTruncationFailsCleanly) {
  Bytes f = valid_file();
  for (size_t n = 0; n < f.b.size(); ++n) {
    std::span<const uint8_t> prefix(f.b.data(), n);
    auto r = GgufFile::parse(prefix, "m.gguf");
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(GgufReader, AbsurdCountsFailFastWithoutAllocating) {
  Bytes f;
  f.header(0, uint64_t{1} << 62).kv_u32("x", 1);
  auto start = std::chrono::steady_clock::now();
  expect_error(f, {"metadata count 4611686018427387904 is impossible"});
  Bytes t;
  t.header(uint64_t{1} << 61, 0).zeros(64);
  expect_error(t, {"tensor count", "impossible"});
  Bytes a;
  a.header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t{1} << 60).str("x");
  expect_error(a, {"tokenizer.ggml.tokens", "1152921504606846976 elements"});
  Bytes s;
  s.header(0, 1).str("k").u32(8).u64(~uint64_t{0});
  expect_error(s, {"value of key 'k'", "18446744073709551615 bytes"});
  Bytes k;
  k.header(0, 1).u64(uint64_t{1} << 40).zeros(20);
  expect_error(k, {"metadata key #0", "1099511627776 bytes"});
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(GgufReader, RejectsDuplicateKeysAndEmptyKey) {
  Bytes f;
  f.header(0, 2).kv_u32("general.alignment", 32).kv_u32("general.alignment", 64);
  expect_error(f, {"duplicate metadata key 'general.alignment'"});
  Bytes e;
  e.header(0, 1).kv_u32("", 1);
  expect_error(e, {"empty key"});
}

TEST(GgufReader, RejectsOverlongKey) {
  Bytes f;
  f.header(0, 1).kv_u32(std::string(65536, 'k'), 1);
  expect_error(f, {"65536 bytes long", "65535"});
  Bytes ok;
  ok.header(0, 1).kv_u32(std::string(65535, 'k'), 1);
  EXPECT_TRUE(parse(ok).ok());
}

TEST(GgufReader, RejectsUnknownValueTypes) {
  Bytes f;
  f.header(0, 1).str("k").u32(13).u32(0);
  expect_error(f, {"key 'k' has value type 13 (unknown)"});
  Bytes a;
  a.header(0, 1).str("k").u32(9).u32(42).u64(0);
  expect_error(a, {"key 'k' is an array of value type 42"});
}

TEST(GgufReader, BoolsMustBeZeroOrOne) {
  Bytes f;
  f.header(0, 1).str("general.flag").u32(7).u8(2);
  expect_error(f, {"general.flag", "byte value 2"});
  Bytes a;
  a.header(0, 1).str("pattern").u32(9).u32(7).u64(3).u8(1).u8(0).u8(255);
  expect_error(a, {"pattern", "element 2", "byte value 255"});
  Bytes ok;
  ok.header(0, 2).str("t").u32(7).u8(1).str("p").u32(9).u32(7).u64(3).u8(1).u8(0).u8(1);
  auto r = parse(ok);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->get_bool("t"), std::optional<bool>(true));
  EXPECT_EQ(r->get_bool_array("p").value(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(r->get_int_array("p").value(), (std::vector<int64_t>{1, 0, 1}));
}

TEST(GgufReader, NestedArraysLimitedInDepth) {
  // Depth 3 (array of arrays of arrays of u8) is accepted; depth 4 is not.
  Bytes ok;
  ok.header(0, 1).str("n").u32(9).u32(9).u64(1).u32(9).u64(2);
  ok.u32(0).u64(2).u8(7).u8(8);
  ok.u32(8).u64(1).str("hi");
  auto r = parse(ok);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& outer = std::get<GgufArrayView>(r->find("n")->value);
  auto level2 = gguf_nested_arrays(outer);
  ASSERT_EQ(level2.size(), 1u);
  auto level3 = gguf_nested_arrays(level2[0]);
  ASSERT_EQ(level3.size(), 2u);
  EXPECT_EQ(level3[0].count, 2u);
  EXPECT_EQ(level3[0].bytes[1], 8);
  EXPECT_EQ(level3[1].element_type, GgufValueType::kString);
  EXPECT_EQ(format_gguf_value(*r->find("n")), "[[[7, 8], [\"hi\"]]]");

  Bytes deep;
  deep.header(0, 1).str("d").u32(9).u32(9).u64(1).u32(9).u64(1).u32(9).u64(1).u32(0).u64(0);
  expect_error(deep, {"key 'd' nests arrays 4 deep"});
}

TEST(GgufReader, StringArraysAreViewsIntoTheFile) {
  Bytes f;
  f.header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(3).str("<pad>").str("").str("▁the");
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto tokens = r->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0], "<pad>");
  EXPECT_EQ((*tokens)[1], "");
  EXPECT_EQ((*tokens)[2], "▁the");
  const auto* p = reinterpret_cast<const uint8_t*>((*tokens)[2].data());
  EXPECT_GE(p, f.b.data());
  EXPECT_LT(p, f.b.data() + f.b.size());
  // A string element running past the end is caught at parse time.
  Bytes bad;
  bad.header(0, 1).str("t").u32(9).u32(8).u64(2).str("ok").u64(100).u8('x');
  expect_error(bad, {"element 1 of key 't'", "claims 100 bytes"});
}

TEST(GgufReader, TypedAccessAcceptsAnyIntegerWidth) {
  Bytes f;
  f.header(0, 9);
  f.str("u8").u32(0).u8(200);
  f.str("i8").u32(1).u8(0xFF);
  f.str("u16").u32(2).u8(0x34).u8(0x12);
  f.str("i16").u32(3).u8(0xFE).u8(0xFF);
  f.str("i32").u32(5).u32(uint32_t(-7));
  f.str("u64").u32(10).u64(uint64_t{1} << 40);
  f.str("big").u32(10).u64(~uint64_t{0});
  f.str("f32").u32(6).f32(1e-6f);
  f.str("f64").u32(12).u64(0x3FF8000000000000ull);  // 1.5
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = *r;
  EXPECT_EQ(g.get_int("u8"), 200);
  EXPECT_EQ(g.get_int("i8"), -1);
  EXPECT_EQ(g.get_int("u16"), 0x1234);
  EXPECT_EQ(g.get_int("i16"), -2);
  EXPECT_EQ(g.get_int("i32"), -7);
  EXPECT_EQ(g.get_int("u64"), int64_t{1} << 40);
  EXPECT_FALSE(g.get_int("big").has_value());  // does not fit int64
  EXPECT_FALSE(g.require_int("big").ok());
  EXPECT_FLOAT_EQ(float(g.get_float("f32").value()), 1e-6f);
  EXPECT_EQ(g.get_float("f64"), 1.5);
  EXPECT_EQ(g.get_float("u16"), double(0x1234));
  EXPECT_FALSE(g.get_int("f32").has_value());
  EXPECT_FALSE(g.get_string("u8").has_value());
  auto missing = g.require_int("gemma3.block_count");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("m.gguf: metadata key 'gemma3.block_count'"),
            std::string::npos);
  auto wrong = g.require_string("f32");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("has type f32, expected a string"), std::string::npos);
  EXPECT_FALSE(g.get_string_array("u8").ok());
}

TEST(GgufReader, NumericArraysWidenAndConvert) {
  Bytes f;
  f.header(0, 3);
  f.str("scores").u32(9).u32(6).u64(2).f32(-1.5f).f32(2.0f);
  f.str("types").u32(9).u32(5).u64(3).u32(1).u32(3).u32(uint32_t(-6));
  f.str("u16s").u32(9).u32(2).u64(2).u8(1).u8(0).u8(0).u8(1);
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->get_float_array("scores").value(), (std::vector<float>{-1.5f, 2.0f}));
  EXPECT_EQ(r->get_int_array("types").value(), (std::vector<int64_t>{1, 3, -6}));
  EXPECT_EQ(r->get_int_array("u16s").value(), (std::vector<int64_t>{1, 256}));
  EXPECT_EQ(r->get_float_array("types").value(), (std::vector<float>{1, 3, -6}));
  EXPECT_FALSE(r->get_int_array("scores").ok());
  EXPECT_EQ(format_gguf_value(*r->find("scores")), "[-1.5, 2]");
  EXPECT_EQ(format_gguf_value(*r->find("types"), 2), "[1, 3, ... (3 items)]");
}

TEST(GgufReader, AlignmentRules) {
  auto file_with_alignment = [](uint32_t type, uint64_t value) {
    Bytes f;
    f.header(1, 1).str("general.alignment").u32(type);
    if (type == 4)
      f.u32(uint32_t(value));
    else
      f.u64(value);
    f.tensor("t", {8}, 0, 0);
    uint64_t a = value != 0 && (value & (value - 1)) == 0 ? value : 32;
    f.pad(a > 4096 ? 32 : a).zeros(32);
    return f;
  };
  expect_error(file_with_alignment(4, 48), {"general.alignment is 48", "power of two"});
  expect_error(file_with_alignment(4, 0), {"general.alignment is 0"});
  expect_error(file_with_alignment(4, uint64_t{1} << 21), {"general.alignment is 2097152"});
  expect_error(file_with_alignment(10, 32), {"general.alignment has type u64", "must be u32"});
  // llama.cpp accepts any power of two up to 1 MiB, including ones below 8.
  for (uint64_t a : {1u, 2u, 8u, 64u}) {
    auto r = parse(file_with_alignment(4, a));
    ASSERT_TRUE(r.ok()) << a << ": " << r.status().message();
    EXPECT_EQ(r->alignment(), a);
    EXPECT_EQ(r->data_offset() % a, 0u);
  }
}

TEST(GgufReader, RejectsBadTensorNames) {
  Bytes dup;
  dup.header(2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad(32).zeros(64);
  expect_error(dup, {"duplicate tensor name 'w'"});
  Bytes longname;
  longname.header(1, 0).tensor(std::string(64, 'n'), {4}, 0, 0).pad(32).zeros(32);
  expect_error(longname, {"64 bytes long", "at most 63"});
  Bytes ok;
  ok.header(1, 0).tensor(std::string(63, 'n'), {4}, 0, 0).pad(32).zeros(32);
  EXPECT_TRUE(parse(ok).ok());
  Bytes empty;
  empty.header(1, 0).tensor("", {4}, 0, 0).pad(32).zeros(32);
  expect_error(empty, {"tensor #0 has an empty name"});
}

TEST(GgufReader, RejectsBadShapes) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type = 0) {
    Bytes f;
    f.header(1, 0).tensor("blk.0.w", ne, type, 0).pad(32).zeros(256);
    return f;
  };
  expect_error(one({}), {"blk.0.w has 0 dimensions"});
  expect_error(one({1, 1, 1, 1, 1}), {"blk.0.w has 5 dimensions"});
  expect_error(one({4, 0}), {"dimension 1 is 0"});
  expect_error(one({~uint64_t{0}}), {"dimension 0 is -1"});
  expect_error(one({uint64_t{1} << 40, uint64_t{1} << 40}), {"element count overflows"});
  expect_error(one({33, 1}, 2),
               {"blk.0.w has type Q4_0 with 33 elements per row", "block size 32"});
  EXPECT_TRUE(parse(one({1, 1, 1, 1})).ok());
  // MXFP4 (type 39): blocks of 32 values in 17 bytes; 3-D expert tensors as gpt-oss stores them.
  expect_error(one({48, 2}, 39),
               {"blk.0.w has type MXFP4 with 48 elements per row", "block size 32"});
  auto mxfp4 = parse(one({64, 1, 1}, 39));
  ASSERT_TRUE(mxfp4.ok()) << mxfp4.status().message();
  EXPECT_EQ(mxfp4->tensors()[0].type, GgmlType::kMXFP4);
  EXPECT_EQ(mxfp4->tensors()[0].n_bytes, 2u * 17u);
}

TEST(GgufReader, UnknownTensorTypeNamesSupportedTypes) {
  Bytes f;
  f.header(1, 0).tensor("blk.3.attn_q.weight", {32}, 99, 0).pad(32).zeros(64);
  expect_error(f, {"tensor blk.3.attn_q.weight has type 99 (unknown); this build supports F32"});
  Bytes retired;
  retired.header(1, 0).tensor("w", {32}, 4, 0).pad(32).zeros(64);  // Q4_2, removed from ggml
  expect_error(retired, {"type 4 (unknown)"});
}

TEST(GgufReader, TensorDataMustBeAlignedAndInsideTheFile) {
  Bytes misaligned;
  misaligned.header(1, 0).tensor("w", {4}, 0, 16).pad(32).zeros(64);
  expect_error(misaligned, {"tensor w data offset 16 is not a multiple of the alignment 32"});
  Bytes past;
  past.header(1, 0).tensor("w", {64}, 0, 0).pad(32).zeros(255);  // needs 256 bytes
  expect_error(past, {"tensor w data", "256 bytes", "extends past the end", "truncated"});
  Bytes wrap;  // offset + size wraps around 2^64
  wrap.header(1, 0).tensor("w", {8}, 0, ~uint64_t{31}).pad(32).zeros(64);
  expect_error(wrap, {"extends past the end"});
  Bytes nodata;  // header ends exactly at EOF with no room for the padded data section
  nodata.header(1, 0).tensor("w", {8}, 0, 0);
  expect_error(nodata, {"data section should start at byte"});
  Bytes huge;  // 2^62 F32 elements fit in int64, their 2^64 bytes do not
  huge.header(1, 0).tensor("w", {uint64_t{1} << 62}, 0, 0).pad(32).zeros(64);
  expect_error(huge, {"tensor w size in bytes overflows 64 bits"});
  Bytes big;  // representable but absurd: 2^61 bytes claimed by a 100-byte file
  big.header(1, 0).tensor("w", {uint64_t{1} << 59}, 0, 0).pad(32).zeros(64);
  expect_error(big, {"extends past the end"});
}

TEST(GgufReader, OpenMapsFilesAndNamesThePath) {
  testing::TempDir dir;
  const std::string path = dir.file("model.gguf");
  Bytes f = valid_file();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(f.b.data()), std::streamsize(f.b.size()));
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->path(), path);
  EXPECT_NE(r->mapping(), nullptr);
  const GgufTensorInfo* a = r->find_tensor("a.weight");
  ASSERT_NE(a, nullptr);
  float v;
  std::memcpy(&v, a->data + 4, 4);
  EXPECT_EQ(v, 1.5f);
  // Tensor views stay valid in a copy of the file object.
  GgufFile copy = *r;
  EXPECT_EQ(copy.find_tensor("a.weight")->data, a->data);
  EXPECT_EQ(copy.get_int("llama.block_count"), 7);

  auto missing = GgufFile::open(dir.file("nope.gguf"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  std::ofstream(dir.file("trunc.gguf"), std::ios::binary)
      .write(reinterpret_cast<const char*>(f.b.data()), std::streamsize(f.b.size() - 10));
  auto trunc = GgufFile::open(dir.file("trunc.gguf"));
  ASSERT_FALSE(trunc.ok());
  EXPECT_EQ(trunc.status().message().rfind(dir.file("trunc.gguf") + ": tensor b.weight", 0), 0u)
      << trunc.status().message();
  EXPECT_NE(trunc.status().message().find("truncated"), std::string::npos)
      << trunc.status().message();
}

TEST(GgufReader, ZeroTensorFileHasNoDataSection) {
  Bytes f;
  f.header(0, 1).kv_str("tokenizer.ggml.model", "gpt2");
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->tensors().empty());
  EXPECT_EQ(r->data_offset(), f.b.size());
}

}  // namespace
}  // namespace chimera::engine
