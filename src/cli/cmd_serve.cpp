// chimera serve: Ollama- and OpenAI-compatible HTTP server over the embedded engine (server/server.h).
// SIGINT/SIGTERM drain: no new requests, in-flight ones finish (up to --drain-timeout), then exit 0;
// a second signal stops at once.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "cli/configured.h"
#include "server/generation.h"
#include "server/server.h"
#include "util/strings.h"

namespace chimera::cli {
namespace {

struct ServeFlags {
  server::ServerConfig config;
  std::string keep_alive = "5m";
  double max_body_mib = 8.0;
  double drain_timeout_s = 60.0;
  double request_timeout_s = 30.0;
  std::string cache_ram = "auto";
};

// --cache-ram: "auto", "off" or 0, or a size; a bare number is MiB, as llama-server's --cache-ram.
Result<int64_t> parse_cache_ram(std::string_view text) {
  const std::string lower = to_lower(std::string(trim(text)));
  if (lower == "auto") return int64_t{-1};
  if (lower == "off") return int64_t{0};
  size_t end = 0;
  while (end < lower.size() && (std::isdigit(static_cast<unsigned char>(lower[end])) || lower[end] == '.')) ++end;
  const auto number = parse_double(lower.substr(0, end));
  const std::string unit(trim(std::string_view(lower).substr(end)));
  const double scale = unit.empty() || unit == "mib" || unit == "m" ? 1024.0 * 1024
                       : unit == "gib" || unit == "g"               ? 1024.0 * 1024 * 1024
                       : unit == "mb"                               ? 1e6
                       : unit == "gb"                               ? 1e9
                                                                    : 0.0;
  if (!number || scale == 0.0 || *number * scale > 9.0e18) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--cache-ram '{}' is not a size: give MiB (4096), a size with a unit (512MiB, "
                      "8GiB, 2GB), auto or off (0)",
                      text);
  }
  return static_cast<int64_t>(*number * scale);
}

int run_serve(ServeFlags& flags) {
  auto keep_alive = server::parse_duration_ns(flags.keep_alive);
  if (!keep_alive.ok()) return report_error(keep_alive.status().with_context("--keep-alive"));
  flags.config.keep_alive_ns = *keep_alive;
  if (flags.max_body_mib <= 0 || flags.max_body_mib > 4096) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               fmt::format("--max-body-mib {} must be from 0 to 4096", flags.max_body_mib)));
  }
  flags.config.max_body_bytes = static_cast<size_t>(flags.max_body_mib * 1024 * 1024);
  if (!(flags.request_timeout_s >= 0.1) || flags.request_timeout_s > 86'400) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               fmt::format("--request-timeout {} must be from 0.1 to 86400 seconds",
                                           flags.request_timeout_s)));
  }
  flags.config.request_timeout_ms = static_cast<int64_t>(flags.request_timeout_s * 1000);
  auto cache_ram = parse_cache_ram(flags.cache_ram);
  if (!cache_ram.ok()) return report_error(cache_ram.status());
  flags.config.cache_ram_bytes = *cache_ram;
  if (flags.config.api_key.empty()) {
    if (const char* env = std::getenv("CHIMERA_API_KEY"); env != nullptr) flags.config.api_key = env;
  }

  // Signals are taken by sigwait() below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);

  auto created = server::Server::create(flags.config);
  if (!created.ok()) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return report_error(created.status());
  }
  std::unique_ptr<server::Server> srv = std::move(*created);
  Status started = srv->start();
  if (!started.is_ok()) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return report_error(started);
  }
  std::fprintf(stderr,
               "chimera serve: listening on %s (Ollama /api, OpenAI /v1, /metrics, /health; %d parallel, ctx %d, "
               "prompt cache %s%s)\n",
               srv->base_url().c_str(), flags.config.parallel, flags.config.ctx,
               flags.config.cache_ram_bytes < 0    ? "auto"
               : flags.config.cache_ram_bytes == 0 ? "off"
                                                   : format_bytes_binary(static_cast<uint64_t>(flags.config.cache_ram_bytes)).c_str(),
               flags.config.api_key.empty() ? "" : ", API key required");
  std::fflush(stderr);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "chimera serve: %s received: finishing in-flight requests (up to %.0f s); send it again to "
               "stop at once\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM", flags.drain_timeout_s);
  std::fflush(stderr);
  std::atomic<bool> drained{false};
  int cut = 0;
  std::thread drainer([&] {
    cut = srv->drain(std::chrono::milliseconds(static_cast<int64_t>(flags.drain_timeout_s * 1000)));
    drained.store(true);
  });
  while (!drained.load()) {
    timespec wait{0, 100'000'000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) {
      std::fprintf(stderr, "chimera serve: stopping now\n");
      srv->stop();
      break;
    }
  }
  drainer.join();
  srv.reset();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (cut > 0) std::fprintf(stderr, "chimera serve: %d requests were cut by the drain timeout\n", cut);
  std::fprintf(stderr, "chimera serve: stopped\n");
  return kExitOk;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* sub = app.add_subcommand("serve", "Ollama- and OpenAI-compatible HTTP server over the embedded engine");
  server::ServerConfig& c = flags->config;
  sub->add_option("-m,--model", c.models,
                  "model to serve: PATH.gguf, ollama:NAME:TAG, or NAME=either (repeat for several)")
      ->required();
  sub->add_option("--host", c.host, "address to bind (default loopback; 0.0.0.0 exposes the server)")
      ->capture_default_str();
  sub->add_option("--port", c.port, "port (0: any free port, printed at start)")->capture_default_str();
  sub->add_option("--parallel", c.parallel, "sequences decoded together per model")->capture_default_str();
  sub->add_option("--ctx", c.ctx, "default context per sequence, tokens (num_ctx)")->capture_default_str();
  default_from_config(sub->add_option("--threads", c.threads, "engine threads (0: physical cores)")
                          ->capture_default_str(),
                      c.threads, "threads");
  sub->add_option("--api-key", c.api_key,
                  "require Authorization: Bearer KEY on every request (default: $CHIMERA_API_KEY if set)");
  sub->add_option("--batch", c.batch, "most tokens per forward step")->capture_default_str();
  sub->add_option("--prefill-chunk", c.prefill_chunk,
                  "most prompt tokens per step while other sequences are decoding")
      ->capture_default_str();
  sub->add_option("--max-queue", c.max_queue, "requests that may wait for a slot; more get 503")
      ->capture_default_str();
  sub->add_option("--kv-cells", c.kv_cells, "KV admission budget in token positions (0: parallel x ctx)")
      ->capture_default_str();
  sub->add_option("--cache-ram", flags->cache_ram,
                  "prompt cache per model: K/V of finished requests kept by token prefix, so a request "
                  "that starts the same way computes only the rest. MiB (4096), a size (8GiB), off, or "
                  "auto: room for --parallel x --ctx positions, at most a quarter of memory")
      ->capture_default_str();
  sub->add_option("--keep-alive", flags->keep_alive,
                  "how long an idle model stays loaded (Ollama duration; -1: forever)")
      ->capture_default_str();
  sub->add_option("--max-body-mib", flags->max_body_mib, "largest request body, MiB")->capture_default_str();
  sub->add_option("--request-timeout", flags->request_timeout_s,
                  "seconds a request's headers and body may take to arrive, counted from its first "
                  "byte (slow clients get 408 and are closed)")
      ->capture_default_str();
  sub->add_option("--max-connections", c.max_connections,
                  "connections held at once; more are answered 503 (lowered to what ulimit -n "
                  "allows)")
      ->capture_default_str();
  sub->add_option("--max-connections-per-client", c.max_connections_per_client,
                  "connections held at once from one client address; more are answered 503")
      ->capture_default_str();
  sub->add_option("--drain-timeout", flags->drain_timeout_s,
                  "seconds SIGINT/SIGTERM waits for in-flight requests")
      ->capture_default_str();
  sub->callback([flags] { set_exit_code(run_serve(*flags)); });
}

}  // namespace chimera::cli
