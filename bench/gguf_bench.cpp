// GGUF and synthesizer benchmarks (Google Benchmark). Figures:
//  - gguf_parse/vocab:N        header parse of an in-memory model with an N-token vocabulary (the
//  part
//                              of `model info` and model load that does not touch weights): items/s
//                              = files/s, plus the header size in bytes.
//  - gguf_open_file            open() of $CHIMERA_BENCH_GGUF (mmap + parse; a real multi-GB model
//  shows
//                              that cost does not grow with the weights). Skipped when unset.
//  - synth_tensor/<type>/threads:N  dummy weights generated and quantized for one gemma3-1b ffn
//  matrix
//                              (6912 x 1152): values/s.
//  - gguf_write/MiB:N          streamed atomic write of one N MiB tensor to $TMPDIR: bytes/s.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/gguf/gguf.h"
#include "engine/model/synth.h"

namespace chimera::engine {
namespace {

std::vector<uint8_t> model_with_vocab(int n_vocab) {
  SynthOptions o;
  o.arch = "gemma3";
  o.size = "tiny";
  o.type = SynthFileType::kQ8_0;
  o.vocab = "synthetic:" + std::to_string(n_vocab);
  auto bytes = synthesize_model_to_memory(o);
  return bytes.ok() ? std::move(bytes).value() : std::vector<uint8_t>{};
}

void BM_GgufParse(benchmark::State& state) {
  const std::vector<uint8_t> bytes = model_with_vocab(static_cast<int>(state.range(0)));
  if (bytes.empty()) {
    state.SkipWithError("synthesis failed");
    return;
  }
  uint64_t header_bytes = 0;
  for (auto _ : state) {
    auto file = GgufFile::parse(bytes, "bench.gguf");
    if (!file.ok()) {
      state.SkipWithError(file.status().message().c_str());
      return;
    }
    header_bytes = file->data_offset();
    benchmark::DoNotOptimize(file->tensors().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["header_bytes"] = static_cast<double>(header_bytes);
}
BENCHMARK(BM_GgufParse)
    ->Name("gguf_parse/vocab")
    ->Arg(32000)
    ->Arg(262144)
    ->Unit(benchmark::kMillisecond);

void BM_GgufOpenFile(benchmark::State& state) {
  const char* path = std::getenv("CHIMERA_BENCH_GGUF");
  if (path == nullptr) {
    state.SkipWithError("set CHIMERA_BENCH_GGUF to a .gguf file");
    return;
  }
  uint64_t file_bytes = 0;
  for (auto _ : state) {
    auto file = GgufFile::open(path);
    if (!file.ok()) {
      state.SkipWithError(file.status().message().c_str());
      return;
    }
    file_bytes = file->file_size();
    // What `model info` reads besides the header arrays: the vocabulary as views.
    auto tokens = file->get_string_array("tokenizer.ggml.tokens");
    benchmark::DoNotOptimize(tokens.ok());
  }
  state.counters["file_GB"] = static_cast<double>(file_bytes) / 1e9;
}
BENCHMARK(BM_GgufOpenFile)->Name("gguf_open_file")->Unit(benchmark::kMillisecond);

void BM_SynthTensor(benchmark::State& state) {
  const auto type = static_cast<SynthFileType>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  SynthOptions o;
  o.arch = "gemma3";
  o.size = "tiny";
  o.type = type;
  o.vocab = "synthetic:400";
  o.n_threads = threads;
  // One block with gemma3-1b's FFN shape dominates the file: 3 x 1152 x 6912 values.
  o.n_layers = 1;
  o.d_model = 1152;
  o.d_ff = 6912;
  o.n_heads = 4;
  o.n_kv_heads = 1;
  o.head_dim = 256;
  auto plan = plan_synth(o);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().message().c_str());
    return;
  }
  for (auto _ : state) {
    auto bytes = synthesize_model_to_memory(o);
    if (!bytes.ok()) {
      state.SkipWithError(bytes.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(bytes->data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(plan->parameter_count));
  state.SetLabel(std::string(synth_file_type_name(type)));
}
BENCHMARK(BM_SynthTensor)
    ->Name("synth_block_gemma3_1b")
    ->ArgNames({"type", "threads"})
    ->Args({static_cast<int>(SynthFileType::kQ4_0), 1})
    ->Args({static_cast<int>(SynthFileType::kQ4_0), 2})
    ->Args({static_cast<int>(SynthFileType::kQ8_0), 2})
    ->Args({static_cast<int>(SynthFileType::kQ4_K_M), 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_GgufWrite(benchmark::State& state) {
  const int64_t mib = state.range(0);
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/chimera-gguf-bench.gguf";
  GgufWriter w;
  w.set_string("general.architecture", "bench");
  Status st = w.add_tensor("t", {1024, mib * 256}, GgmlType::kF32, [](std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); i += 4096) out[i] = static_cast<uint8_t>(i >> 12);
    return Status::ok();
  });
  if (!st.is_ok()) {
    state.SkipWithError(st.message().c_str());
    return;
  }
  for (auto _ : state) {
    st = w.write(path);
    if (!st.is_ok()) {
      state.SkipWithError(st.message().c_str());
      break;
    }
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  state.SetBytesProcessed(state.iterations() * mib * (int64_t{1} << 20));
}
BENCHMARK(BM_GgufWrite)
    ->Name("gguf_write/MiB")
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace chimera::engine

BENCHMARK_MAIN();
