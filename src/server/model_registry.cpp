#include "server/model_registry.h"

#include <fmt/format.h>

#include <filesystem>
#include <limits>

#include "engine/gguf/gguf.h"
#include "engine/model/model_store.h"
#include "server/generation.h"
#include "server/json_util.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::server {

namespace fs = std::filesystem;

struct ModelRegistry::Entry {
  ModelSource source;
  llm::Options defaults;
  std::mutex load_mutex;  // one load at a time per model; held without mutex_
  // Guarded by the registry's mutex_:
  std::shared_ptr<const engine::Model> model;
  std::unique_ptr<Scheduler> scheduler;
  std::optional<engine::ModelInfo> info;
  int leases = 0;
  int64_t expires_ns = std::numeric_limits<int64_t>::max();  // monotonic; max: never
  int64_t expires_unix_ns = 0;
  bool unload_requested = false;
  // The keep_alive the newest lease asked for: what /api/ps shows while a request holds the model
  // (its response can reach the client before the lease ends).
  int64_t leased_keep_alive_ns = 0;
};

std::string normalized_model_name(std::string_view name) {
  std::string n(trim(name));
  // A tag follows the last ':' after the last '/' (a host may carry a port).
  size_t slash = n.rfind('/');
  size_t colon = n.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) n += ":latest";
  return n;
}

Result<ModelSource> resolve_model_source(std::string_view argument) {
  ModelSource source;
  std::string_view spec = trim(argument);
  // NAME=SPEC, unless the whole argument is a file whose path holds '='. A NAME may hold '/' (the
  // names vLLM serves, "Qwen/Qwen2.5-1.5B-Instruct", are how clients call such a server).
  std::error_code exists_ec;
  if (size_t eq = spec.find('='); eq != std::string_view::npos &&
                                  !fs::is_regular_file(fs::path(std::string(spec)), exists_ec)) {
    source.name = std::string(trim(spec.substr(0, eq)));
    spec = trim(spec.substr(eq + 1));
    if (source.name.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "-m {}: the name before '=' is empty; use -m NAME=MODEL", argument);
    }
  }
  source.spec = std::string(spec);
  if (spec.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "-m: empty model; give a GGUF path or ollama:NAME:TAG");
  if (starts_with(spec, "ollama:")) {
    engine::ModelStore store;
    CHIMERA_ASSIGN_OR_RETURN(engine::ResolvedModel resolved, store.resolve(spec));
    if (source.name.empty()) source.name = resolved.name.display();
    source.path = resolved.gguf_path;
    source.digest = resolved.gguf_digest;
    source.template_text = resolved.template_text;
    source.params_json = resolved.params_json;
    source.system_text = resolved.system_text;
  } else {
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(std::string(spec)), ec)) {
      return make_error(ErrorCode::kNotFound,
                        "-m {}: no such file; give a path to a .gguf file or ollama:NAME:TAG",
                        spec);
    }
    source.path = std::string(spec);
    if (source.name.empty()) source.name = fs::path(source.path).stem().string();
  }
  // Only the header is read here; an unreadable file still fails at load, with its error.
  if (auto header = engine::GgufFile::open(source.path); header.ok()) {
    source.synthetic = header->get_bool("chimera.synthetic").value_or(false);
    source.general_name = std::string(header->get_string("general.name").value_or(""));
    source.architecture = std::string(header->get_string("general.architecture").value_or(""));
  }
  std::error_code ec;
  source.file_bytes = fs::file_size(source.path, ec);
  auto mtime = fs::last_write_time(source.path, ec);
  if (!ec) {
    auto system_time = std::chrono::file_clock::to_sys(mtime);
    source.modified_unix_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(system_time.time_since_epoch())
            .count();
  }
  return source;
}

ModelRegistry::Lease::Lease(Lease&& other) noexcept { *this = std::move(other); }

ModelRegistry::Lease& ModelRegistry::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    registry_ = std::exchange(other.registry_, nullptr);
    index_ = other.index_;
    model_ = std::move(other.model_);
    scheduler_ = std::exchange(other.scheduler_, nullptr);
    keep_alive_ns_ = other.keep_alive_ns_;
  }
  return *this;
}

ModelRegistry::Lease::~Lease() { release(); }

void ModelRegistry::Lease::release() {
  if (registry_ == nullptr) return;
  ModelRegistry* registry = std::exchange(registry_, nullptr);
  scheduler_ = nullptr;
  model_.reset();
  registry->release(index_, keep_alive_ns_);
}

const ModelSource& ModelRegistry::Lease::source() const {
  return registry_->models_[index_]->source;
}
const llm::Options& ModelRegistry::Lease::defaults() const {
  return registry_->models_[index_]->defaults;
}

ModelRegistry::ModelRegistry(std::vector<ModelSource> sources, RegistryOptions options,
                             Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  for (ModelSource& source : sources) {
    auto entry = std::make_unique<Entry>();
    entry->source = std::move(source);
    models_.push_back(std::move(entry));
  }
}

ModelRegistry::~ModelRegistry() { shutdown(); }

Status ModelRegistry::start() {
  for (auto& entry : models_) {
    if (entry->source.params_json) {
      auto parsed = parse_json_object(*entry->source.params_json);
      bool ignore_eos = false;
      std::vector<std::string> ignored;
      Status status = parsed.ok() ? parse_ollama_options(*parsed, "params", entry->defaults,
                                                         ignore_eos, ignored)
                                  : parsed.status();
      if (status.is_ok()) status = validate_options(entry->defaults);
      if (!status.is_ok()) {
        log::warn(
            "{}: its default parameters (Ollama params layer) are not usable and are ignored: {}",
            entry->source.name, status.message());
        entry->defaults = llm::Options();
      }
    }
    int64_t load_ns = 0;
    CHIMERA_ASSIGN_OR_RETURN(Lease lease,
                             acquire(static_cast<size_t>(&entry - models_.data()), load_ns));
    log::info("loaded {} from {} in {:.0f} ms", entry->source.name, entry->source.path,
              ns_to_ms(load_ns));
  }
  reaper_ = std::thread([this] { reap(); });
  return Status::ok();
}

std::optional<size_t> ModelRegistry::find(std::string_view name) const {
  const std::string wanted = normalized_model_name(name);
  for (size_t i = 0; i < models_.size(); ++i) {
    if (normalized_model_name(models_[i]->source.name) == wanted) return i;
  }
  return std::nullopt;
}

std::vector<std::string> ModelRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& entry : models_) out.push_back(entry->source.name);
  return out;
}

Status ModelRegistry::load_entry(Entry& entry) {
  CHIMERA_ASSIGN_OR_RETURN(auto model, engine::Model::load(entry.source.path));
  SchedulerOptions scheduler_options = options_.scheduler;
  scheduler_options.model_name = entry.source.name;
  CHIMERA_ASSIGN_OR_RETURN(auto scheduler, Scheduler::create(model, scheduler_options, metrics_));
  if (metrics_ != nullptr) metrics_->count_model_load(entry.source.name, "file");
  std::lock_guard<std::mutex> lock(mutex_);
  entry.info = model->info();
  entry.model = std::move(model);
  entry.scheduler = std::move(scheduler);
  return Status::ok();
}

Result<ModelRegistry::Lease> ModelRegistry::acquire(size_t index, int64_t& load_ns) {
  load_ns = 0;
  if (index >= models_.size())
    return make_error(ErrorCode::kInternal, "model index {} out of range", index);
  Entry& entry = *models_[index];
  std::lock_guard<std::mutex> load_lock(entry.load_mutex);
  bool loaded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return make_error(ErrorCode::kUnavailable, "the server is shutting down");
    loaded = entry.scheduler != nullptr;
  }
  if (!loaded) {
    Stopwatch watch;
    Status status = load_entry(entry);
    if (!status.is_ok())
      return status.with_context(
          fmt::format("loading model {} ({})", entry.source.name, entry.source.path));
    load_ns = watch.elapsed_ns();
  }
  Lease lease;
  std::lock_guard<std::mutex> lock(mutex_);
  ++entry.leases;
  entry.unload_requested = false;
  entry.leased_keep_alive_ns = options_.default_keep_alive_ns;
  lease.registry_ = this;
  lease.index_ = index;
  lease.model_ = entry.model;
  lease.scheduler_ = entry.scheduler.get();
  return lease;
}

void ModelRegistry::Lease::set_keep_alive_ns(int64_t ns) {
  keep_alive_ns_ = ns;
  if (registry_ == nullptr) return;
  std::lock_guard<std::mutex> lock(registry_->mutex_);
  registry_->models_[index_]->leased_keep_alive_ns = ns;
}

void ModelRegistry::release(size_t index, std::optional<int64_t> keep_alive_ns) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& entry = *models_[index];
    --entry.leases;
    const int64_t keep = keep_alive_ns.value_or(options_.default_keep_alive_ns);
    if (entry.unload_requested) {
      entry.expires_ns = monotonic_ns();
      entry.expires_unix_ns = unix_now_ns();
    } else if (keep < 0) {
      entry.expires_ns = std::numeric_limits<int64_t>::max();
      entry.expires_unix_ns = 0;
    } else {
      entry.expires_ns = monotonic_ns() + keep;
      entry.expires_unix_ns = unix_now_ns() + keep;
    }
  }
  cv_.notify_all();
}

void ModelRegistry::unload_when_idle(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& entry = *models_[index];
    entry.unload_requested = true;
    entry.expires_ns = monotonic_ns();
    entry.expires_unix_ns = unix_now_ns();
  }
  cv_.notify_all();
}

void ModelRegistry::reset_expiry_locked(Entry& entry) {
  entry.expires_ns = std::numeric_limits<int64_t>::max();
  entry.expires_unix_ns = 0;
  entry.unload_requested = false;
}

void ModelRegistry::reap() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    int64_t now = monotonic_ns();
    int64_t next = std::numeric_limits<int64_t>::max();
    std::vector<std::pair<std::unique_ptr<Scheduler>, std::shared_ptr<const engine::Model>>> doomed;
    for (auto& entry : models_) {
      if (entry->scheduler == nullptr || entry->leases > 0) continue;
      if (entry->expires_ns <= now && entry->scheduler->idle()) {
        log::info("unloading {} (keep_alive ran out)", entry->source.name);
        doomed.emplace_back(std::move(entry->scheduler), std::move(entry->model));
        reset_expiry_locked(*entry);
      } else {
        next = std::min(next, entry->expires_ns);
      }
    }
    if (!doomed.empty()) {
      lock.unlock();
      doomed.clear();  // joins the schedulers' threads and unmaps the weights
      lock.lock();
      continue;
    }
    if (next == std::numeric_limits<int64_t>::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(next - now, 1'000'000)));
    }
  }
}

ServedModelView ModelRegistry::view(size_t index) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Entry& entry = *models_[index];
  ServedModelView v;
  v.source = entry.source;
  v.info = entry.info;
  v.defaults = entry.defaults;
  v.loaded = entry.scheduler != nullptr;
  if (v.loaded) {
    SchedulerStats stats = entry.scheduler->stats();
    v.kv_bytes = stats.kv_bytes;
    v.n_ctx_per_seq = stats.n_ctx_per_seq;
    if (entry.leases == 0) {
      v.expires_unix_ns = entry.expires_unix_ns;
    } else {  // 0 = never, as release() will set it for a negative keep_alive
      v.expires_unix_ns =
          entry.leased_keep_alive_ns < 0 ? 0 : unix_now_ns() + entry.leased_keep_alive_ns;
    }
  }
  return v;
}

SchedulerGauges ModelRegistry::gauges() const {
  SchedulerGauges g;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& entry : models_) {
    if (entry->scheduler == nullptr) continue;
    SchedulerStats s = entry->scheduler->stats();
    g.queued += s.queued;
    g.active += s.active;
    g.kv_used_cells += s.kv_used_cells;
    g.kv_capacity_cells += s.kv_capacity_cells;
    g.kv_bytes += s.kv_bytes;
    g.prompt_cache_bytes += s.prompt_cache.bytes;
    g.prompt_cache_max_bytes += s.prompt_cache.max_bytes;
    g.prompt_cache_blocks += s.prompt_cache.blocks;
    ++g.models_loaded;
  }
  return g;
}

bool ModelRegistry::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& entry : models_) {
    if (entry->leases > 0) return false;
    if (entry->scheduler != nullptr && !entry->scheduler->idle()) return false;
  }
  return true;
}

void ModelRegistry::shutdown() {
  std::vector<std::pair<std::unique_ptr<Scheduler>, std::shared_ptr<const engine::Model>>> doomed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (auto& entry : models_) {
      if (entry->scheduler)
        doomed.emplace_back(std::move(entry->scheduler), std::move(entry->model));
    }
  }
  cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  for (auto& [scheduler, model] : doomed) scheduler->shutdown();  // ends whatever still runs
  doomed.clear();
}

}  // namespace chimera::server
