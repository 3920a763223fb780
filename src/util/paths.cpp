#include "util/paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "util/config.h"

namespace chimera {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace

std::string home_dir() {
  std::string home = env_or_empty("HOME");
  if (!home.empty()) return home;
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/tmp";
}

std::string cache_dir() {
  if (auto v = env_or_empty("CHIMERA_CACHE_DIR"); !v.empty()) return v;
  if (auto v = env_or_empty("XDG_CACHE_HOME"); !v.empty()) return v + "/chimera";
  return home_dir() + "/.cache/chimera";
}

std::string data_dir() {
  if (auto v = env_or_empty("CHIMERA_DATA_DIR"); !v.empty()) return v;
  if (auto v = env_or_empty("XDG_DATA_HOME"); !v.empty()) return v + "/chimera";
  return home_dir() + "/.local/share/chimera";
}

std::string ollama_models_dir() {
  if (auto v = configured("ollama_models")) return *v;
  return home_dir() + "/.ollama/models";
}

std::string share_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (auto v = env_or_empty("CHIMERA_SHARE_DIR"); !v.empty()) return v;
  // CHIMERA_SHARE_FROM_BIN: the install layout's data folder relative to its binary folder
  // ("../share/chimera" for the usual bin/ and share/), so a relocated prefix still works.
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path() / CHIMERA_SHARE_FROM_BIN;
    if (fs::is_directory(installed / "profiles", ec)) return installed.lexically_normal().string();
  }
#ifdef CHIMERA_SOURCE_DIR_FOR_DATA
  if (fs::is_directory(fs::path(CHIMERA_SOURCE_DIR_FOR_DATA) / "profiles", ec)) {
    return CHIMERA_SOURCE_DIR_FOR_DATA;
  }
#endif
  return "";
}

std::string default_data_folder() {
  std::string share = share_dir();
  return share.empty() ? "examples/data" : share + "/examples/data";
}

std::string config_dir() {
  return std::filesystem::path(config_file_path()).parent_path().string();
}

std::string vocab_dir() {
  if (auto v = env_or_empty("CHIMERA_VOCAB_DIR"); !v.empty()) return v;
#ifdef CHIMERA_SOURCE_DIR_FOR_DATA
  std::string in_checkout = std::string(CHIMERA_SOURCE_DIR_FOR_DATA) + "/.data/vocab";
  std::error_code ec;
  if (std::filesystem::is_directory(in_checkout, ec)) return in_checkout;
#endif
  return cache_dir() + "/vocab";
}

Status ensure_directory(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return make_error(ErrorCode::kIoError, "{}: cannot create directory: {}", path, ec.message());
  return Status::ok();
}

}  // namespace chimera
