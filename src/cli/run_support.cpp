#include "cli/run_support.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "engine/model/synth.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {

std::string command_line(std::string_view fallback) {
  auto text = read_text_file("/proc/self/cmdline");
  if (!text.ok()) return std::string(fallback);
  std::vector<std::string> parts = split(*text, '\0');
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return join(parts, " ");
}

Result<std::string> dummy_model(const std::string& size) {
  std::error_code ec;
  bool real_vocab = std::filesystem::exists(vocab_dir() + "/gemma3/tokenizer.json", ec);
  std::string dir = cache_dir() + "/models";
  std::string path = fmt::format("{}/gemma3-{}-q8_0-dummy{}.gguf", dir, to_lower(size),
                                 real_vocab ? "" : "-synthvocab");
  if (std::filesystem::exists(path, ec)) return path;
  CHIMERA_RETURN_IF_ERROR(ensure_directory(dir));
  engine::SynthOptions options;
  options.arch = "gemma3";
  options.size = size;
  options.type = engine::SynthFileType::kQ8_0;
  options.vocab = real_vocab ? "gemma3" : "synthetic:32000";
  std::fprintf(stderr,
               "chimera: synthesizing a gemma3 %s model with dummy weights into %s (once)\n",
               size.c_str(), path.c_str());
  term::ProgressBar bar("synth", 1000);
  options.progress = [&bar](uint64_t done, uint64_t total) {
    bar.update(total ? static_cast<int64_t>(done * 1000 / total) : 1000);
  };
  auto plan = engine::synthesize_model(options, path);
  bar.finish();
  if (!plan.ok()) return plan.status();
  return path;
}

}  // namespace chimera::cli
