#include "util/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace chimera::log {
namespace {

Level level_from_env() {
  const char* v = std::getenv("CHIMERA_LOG");
  if (v == nullptr) return Level::kWarn;
  if (std::strcmp(v, "error") == 0) return Level::kError;
  if (std::strcmp(v, "info") == 0) return Level::kInfo;
  if (std::strcmp(v, "debug") == 0) return Level::kDebug;
  if (std::strcmp(v, "trace") == 0) return Level::kTrace;
  return Level::kWarn;
}

std::atomic<int>& level_storage() {
  static std::atomic<int> value{static_cast<int>(level_from_env())};
  return value;
}

std::mutex& write_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

Level level() { return static_cast<Level>(level_storage().load(std::memory_order_relaxed)); }
void set_level(Level l) { level_storage().store(static_cast<int>(l), std::memory_order_relaxed); }

void write(Level l, std::string_view message) {
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug", "trace"};
  std::lock_guard<std::mutex> lock(write_mutex());
  std::fprintf(stderr, "[%s] %.*s\n", kNames[static_cast<int>(l)], static_cast<int>(message.size()),
               message.data());
}

}  // namespace chimera::log
