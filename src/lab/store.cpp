#include "lab/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "lab/record_json.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/json_text.h"
#include "util/paths.h"

namespace chimera::lab {
namespace {

using nlohmann::json;

// SQLiteCpp reports errors by exception; they stop here and become Status values.
template <typename F>
auto guarded(const std::string& path, std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kIoError, "results store {}: {} failed: {}", path, what, e.what());
  }
}

template <typename T>
void bind_optional(SQLite::Statement& s, const char* name, const std::optional<T>& v) {
  if (v) {
    s.bind(name, *v);
  } else {
    s.bind(name);
  }
}

std::optional<int64_t> column_optional_int(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getInt64();
}
std::optional<double> column_optional_double(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getDouble();
}
std::string column_text(const SQLite::Column& c) { return c.isNull() ? "" : c.getString(); }

json parse_json_column(const SQLite::Column& c, json fallback) {
  if (c.isNull()) return fallback;
  json j = json::parse(c.getString(), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

constexpr const char* kSessionColumns =
    "s.id, s.command, s.args, s.host, s.cpu, s.cpu_features, s.logical_cpus, s.build, s.backend, "
    "s.model, s.started_unix_ms, s.ended_unix_ms, s.status, s.header_json, s.summary_json, "
    "(SELECT COUNT(*) FROM calls c WHERE c.session_id = s.id AND c.warmup = 0), "
    "(SELECT COUNT(*) FROM calls c WHERE c.session_id = s.id AND c.warmup = 0 AND c.ok = 0)";

SessionRow read_session(SQLite::Statement& q) {
  SessionRow row;
  row.id = q.getColumn(0).getInt64();
  row.info.command = column_text(q.getColumn(1));
  row.info.args = column_text(q.getColumn(2));
  row.info.host = column_text(q.getColumn(3));
  row.info.cpu = column_text(q.getColumn(4));
  row.info.cpu_features = column_text(q.getColumn(5));
  row.info.logical_cpus = column_optional_int(q.getColumn(6)).value_or(0);
  row.info.build = column_text(q.getColumn(7));
  row.info.backend = column_text(q.getColumn(8));
  row.info.model = column_text(q.getColumn(9));
  row.info.started_unix_ms = q.getColumn(10).getInt64();
  row.ended_unix_ms = column_optional_int(q.getColumn(11));
  row.status = column_text(q.getColumn(12));
  row.info.header_json = column_text(q.getColumn(13));
  row.summary_json = column_text(q.getColumn(14));
  row.calls = q.getColumn(15).getInt64();
  row.failed_calls = q.getColumn(16).getInt64();
  return row;
}

}  // namespace

ResultsStore::ResultsStore(std::string path, std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), db_(std::move(db)) {}

ResultsStore::~ResultsStore() = default;

std::string ResultsStore::default_path() { return data_dir() + "/results.db"; }

Result<std::unique_ptr<ResultsStore>> ResultsStore::open(const std::string& path) {
  return open_impl(path, kSchemaVersion);
}

Result<std::unique_ptr<ResultsStore>> ResultsStore::open_at_version(const std::string& path,
                                                                    int target_version) {
  if (target_version < 1 || target_version > kSchemaVersion) {
    return make_error(ErrorCode::kInvalidArgument, "schema version {} does not exist (1..{})",
                      target_version, kSchemaVersion);
  }
  return open_impl(path, target_version);
}

Result<std::unique_ptr<ResultsStore>> ResultsStore::open_impl(const std::string& path, int target) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) CHIMERA_RETURN_IF_ERROR(ensure_directory(parent.string()));
  // Switching a new file to WAL and the first migration take locks that SQLite may refuse at once
  // (SQLITE_BUSY without waiting, to avoid a deadlock) when several processes open the same new
  // file together; such an open is retried, with back-off, for as long as the busy timeout.
  const int64_t deadline = monotonic_ns() + int64_t{kBusyTimeoutMs} * 1'000'000;
  for (int attempt = 0;; ++attempt) {
    try {
      return open_once(path, target);
    } catch (const SQLite::Exception& e) {
      const bool busy =
          (e.getErrorCode() & 0xff) == SQLITE_BUSY || (e.getErrorCode() & 0xff) == SQLITE_LOCKED;
      if (!busy || monotonic_ns() > deadline) {
        return make_error(ErrorCode::kIoError, "results store {}: open failed: {}", path, e.what());
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min(5 << std::min(attempt, 5), 100)));
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kIoError, "results store {}: open failed: {}", path, e.what());
    }
  }
}

Result<std::unique_ptr<ResultsStore>> ResultsStore::open_once(const std::string& path, int target) {
  {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX,
        kBusyTimeoutMs);
    // WAL: readers never block the writer, and a killed writer leaves committed calls intact.
    std::string mode = db->execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal") {
      return make_error(ErrorCode::kIoError,
                        "results store {}: journal_mode is '{}', WAL could not be enabled (is the "
                        "file on a network filesystem?); use --db with a local path",
                        path, mode);
    }
    db->exec("PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    // Migrate under a write lock, re-reading the version inside it: two processes opening a new
    // file at the same moment must not both apply migration 1.
    db->exec("BEGIN IMMEDIATE");
    try {
      db->exec(
          "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
          "applied_unix_ms INTEGER NOT NULL, description TEXT)");
      int current = db->execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version").getInt();
      if (current > kSchemaVersion) {
        db->exec("ROLLBACK");
        return make_error(ErrorCode::kUnsupported,
                          "results store {} has schema version {}, newer than this build's {}; "
                          "upgrade chimera or use --db with another file",
                          path, current, kSchemaVersion);
      }
      for (const Migration& m : migrations()) {
        if (m.version <= current || m.version > target) continue;
        db->exec(m.sql);
        SQLite::Statement record(*db, "INSERT INTO schema_version VALUES (?, ?, ?)");
        record.bind(1, m.version);
        record.bind(2, unix_time_ms());
        record.bind(3, m.description);
        record.exec();
      }
      db->exec("COMMIT");
    } catch (...) {
      db->exec("ROLLBACK");
      throw;
    }
    return std::unique_ptr<ResultsStore>(new ResultsStore(path, std::move(db)));
  }
}

Result<int> ResultsStore::schema_version() {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading the schema version", [&]() -> Result<int> {
    return db_->execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version").getInt();
  });
}

Result<std::string> ResultsStore::journal_mode() {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading journal_mode", [&]() -> Result<std::string> {
    return db_->execAndGet("PRAGMA journal_mode").getString();
  });
}

Result<std::string> ResultsStore::integrity_check() {
  std::lock_guard lock(mutex_);
  return guarded(path_, "integrity_check", [&]() -> Result<std::string> {
    return db_->execAndGet("PRAGMA integrity_check").getString();
  });
}

Result<int64_t> ResultsStore::begin_session(const SessionInfo& info) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "starting a session", [&]() -> Result<int64_t> {
    SQLite::Statement q(
        *db_,
        "INSERT INTO sessions (command, args, host, cpu, cpu_features, logical_cpus, "
        "build, backend, model, started_unix_ms, header_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, info.command);
    q.bind(2, info.args);
    q.bind(3, info.host);
    q.bind(4, info.cpu);
    q.bind(5, info.cpu_features);
    q.bind(6, info.logical_cpus);
    q.bind(7, info.build);
    q.bind(8, info.backend);
    q.bind(9, info.model);
    q.bind(10, info.started_unix_ms != 0 ? info.started_unix_ms : unix_time_ms());
    q.bind(11, info.header_json);
    q.exec();
    return static_cast<int64_t>(db_->getLastInsertRowid());
  });
}

Status ResultsStore::end_session(int64_t session_id, std::string_view status,
                                 std::string_view summary_json) {
  std::lock_guard lock(mutex_);
  auto r = guarded(path_, "ending a session", [&]() -> Result<bool> {
    SQLite::Statement q(*db_,
                        "UPDATE sessions SET ended_unix_ms = ?, status = ?, summary_json = ? "
                        "WHERE id = ?");
    q.bind(1, unix_time_ms());
    q.bind(2, std::string(status));
    q.bind(3, std::string(summary_json));
    q.bind(4, session_id);
    return q.exec() == 1;
  });
  if (!r.ok()) return r.status();
  if (!*r)
    return make_error(ErrorCode::kNotFound, "results store {}: no session {}", path_, session_id);
  return Status::ok();
}

Result<int64_t> ResultsStore::configuration_id(const std::string& backend, const std::string& model,
                                               const llm::Options& options) {
  std::string canonical = json_text(options_to_json(options));  // object keys are sorted
  std::string hash = hex64(fnv1a64(backend + '\n' + model + '\n' + canonical));
  std::lock_guard lock(mutex_);
  return guarded(path_, "recording a configuration", [&]() -> Result<int64_t> {
    SQLite::Statement insert(*db_,
                             "INSERT OR IGNORE INTO configurations (hash, backend, model, options) "
                             "VALUES (?, ?, ?, ?)");
    insert.bind(1, hash);
    insert.bind(2, backend);
    insert.bind(3, model);
    insert.bind(4, canonical);
    insert.exec();
    SQLite::Statement q(*db_, "SELECT id FROM configurations WHERE hash = ?");
    q.bind(1, hash);
    if (!q.executeStep())
      return make_error(ErrorCode::kInternal, "configuration {} vanished", hash);
    return q.getColumn(0).getInt64();
  });
}

Result<int64_t> ResultsStore::add_call(int64_t session_id, int64_t configuration_id,
                                       const CallMeta& meta, const llm::CallRecord& r) {
  // Columns hold valid UTF-8 (what every SQLite reader expects); text a server sent that was not
  // UTF-8 keeps its exact bytes in extra_json as base64 (record_json.h), so nothing is lost.
  json full = call_record_to_json(r);
  json extra = {{"option_sources", full["option_sources"]},
                {"warnings", full["warnings"]},
                {"thinking", full["thinking"]},
                {"transport", full["transport"]}};
  // Fields without a column of their own ride in extra_json (no schema change).
  if (r.server.queue_ns) extra["server_queue_ns"] = *r.server.queue_ns;
  for (const char* key : {"text_bytes_base64", "thinking_bytes_base64"}) {
    if (full.contains(key)) extra[key] = full[key];
  }
  if (full["server"].contains("rejected")) extra["server_rejected"] = full["server"]["rejected"];
  std::lock_guard lock(mutex_);
  return guarded(path_, "saving a call", [&]() -> Result<int64_t> {
    SQLite::Statement q(
        *db_,
        "INSERT INTO calls (session_id, configuration_id, arm, seq, pair_index, prompt_index, "
        "repetition, warmup, concurrency, rate_rps, scheduled_offset_ns, backend, model, endpoint, "
        "synthetic, options_requested, options_applied, ok, error_code, error, text, done_reason, "
        "token_count, token_count_source, prompt_tokens, chunk_count, wall_start_unix_ms, "
        "t_request_ns, t_first_byte_ns, t_first_token_ns, t_done_ns, chunk_times_ns, "
        "chunk_token_counts, load_ns, prompt_eval_ns, eval_ns, total_ns, prompt_eval_count, "
        "eval_count, model_load_paid, prompt_truncated, extra_json) VALUES (:session, :config, "
        ":arm, :seq, :pair, :prompt, :rep, :warmup, :concurrency, :rate, :offset, :backend, "
        ":model, "
        ":endpoint, :synthetic, :requested, :applied, :ok, :code, :error, :text, :done_reason, "
        ":tokens, :token_source, :prompt_tokens, :chunks, :wall, :t_request, :t_first_byte, "
        ":t_first_token, :t_done, :chunk_times, :chunk_tokens, :load, :prompt_eval, :eval, "
        ":total, :prompt_eval_count, :eval_count, :load_paid, :truncated, :extra)");
    q.bind(":session", session_id);
    if (configuration_id > 0) {
      q.bind(":config", configuration_id);
    } else {
      q.bind(":config");  // unknown configuration
    }
    q.bind(":arm", meta.arm);
    q.bind(":seq", meta.seq);
    q.bind(":pair", meta.pair_index);
    q.bind(":prompt", meta.prompt_index);
    q.bind(":rep", meta.repetition);
    q.bind(":warmup", meta.warmup ? 1 : 0);
    q.bind(":concurrency", meta.concurrency);
    bind_optional(q, ":rate", meta.rate_rps);
    q.bind(":offset", meta.scheduled_offset_ns);
    q.bind(":backend", r.backend);
    q.bind(":model", r.model);
    q.bind(":endpoint", r.endpoint);
    q.bind(":synthetic", r.synthetic_model ? 1 : 0);
    q.bind(":requested", json_text(full["options_requested"]));
    q.bind(":applied", json_text(full["options_applied"]));
    q.bind(":ok", r.ok ? 1 : 0);
    q.bind(":code", std::string(error_code_name(r.error_code)));
    q.bind(":error", full["error"].get<std::string>());
    q.bind(":text", full["text"].get<std::string>());
    q.bind(":done_reason", full["done_reason"].get<std::string>());
    q.bind(":tokens", r.token_count);
    q.bind(":token_source", std::string(llm::token_count_source_name(r.token_count_source)));
    bind_optional(q, ":prompt_tokens", r.prompt_tokens);
    q.bind(":chunks", r.chunk_count);
    q.bind(":wall", r.wall_start_unix_ms);
    q.bind(":t_request", r.t_request_ns);
    q.bind(":t_first_byte", r.t_first_byte_ns);
    q.bind(":t_first_token", r.t_first_token_ns);
    q.bind(":t_done", r.t_done_ns);
    q.bind(":chunk_times", json_text(full["chunk_times_ns"]));
    q.bind(":chunk_tokens", json_text(full["chunk_token_counts"]));
    bind_optional(q, ":load", r.server.load_ns);
    bind_optional(q, ":prompt_eval", r.server.prompt_eval_ns);
    bind_optional(q, ":eval", r.server.eval_ns);
    bind_optional(q, ":total", r.server.total_ns);
    bind_optional(q, ":prompt_eval_count", r.server.prompt_eval_count);
    bind_optional(q, ":eval_count", r.server.eval_count);
    q.bind(":load_paid", r.model_load_paid ? 1 : 0);
    q.bind(":truncated", r.prompt_truncated ? 1 : 0);
    q.bind(":extra", json_text(extra));
    q.exec();  // autocommit: durable before we return
    return static_cast<int64_t>(db_->getLastInsertRowid());
  });
}

Status ResultsStore::add_hw_samples(int64_t session_id, const std::vector<HwSample>& samples) {
  std::lock_guard lock(mutex_);
  auto r = guarded(path_, "saving hardware samples", [&]() -> Result<bool> {
    SQLite::Transaction transaction(*db_);
    SQLite::Statement q(*db_,
                        "INSERT INTO hw_samples (session_id, t_ns, t_unix_ms, scope, pid, name, "
                        "cpu_percent, rss_bytes, peak_rss_bytes, memory_used_bytes, "
                        "memory_total_bytes, util_percent, power_w, temperature_c) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    auto row = [&](const HwSample& s, const std::string& scope, std::optional<int64_t> pid,
                   const std::string& name, std::optional<double> cpu, std::optional<int64_t> rss,
                   std::optional<int64_t> peak, std::optional<int64_t> used,
                   std::optional<int64_t> total, std::optional<double> util,
                   std::optional<double> power, std::optional<double> temperature) {
      q.reset();
      q.bind(1, session_id);
      q.bind(2, s.t_ns);
      q.bind(3, s.t_unix_ms);
      q.bind(4, scope);
      pid ? q.bind(5, *pid) : q.bind(5);
      q.bind(6, name);
      cpu ? q.bind(7, *cpu) : q.bind(7);
      rss ? q.bind(8, *rss) : q.bind(8);
      peak ? q.bind(9, *peak) : q.bind(9);
      used ? q.bind(10, *used) : q.bind(10);
      total ? q.bind(11, *total) : q.bind(11);
      util ? q.bind(12, *util) : q.bind(12);
      power ? q.bind(13, *power) : q.bind(13);
      temperature ? q.bind(14, *temperature) : q.bind(14);
      q.exec();
    };
    auto i64 = [](uint64_t v) { return std::optional<int64_t>(static_cast<int64_t>(v)); };
    for (const HwSample& s : samples) {
      row(s, "process", s.process.pid, "", s.process.cpu_percent, i64(s.process.rss_bytes),
          i64(s.process.peak_rss_bytes), {}, {}, {}, {}, {});
      row(s, "system", {}, "", s.system_cpu_percent, {}, {}, i64(s.memory_used_bytes),
          i64(s.memory_total_bytes), {}, {}, {});
      if (s.server) {
        row(s, "server", s.server->pid, "", s.server->cpu_percent, i64(s.server->rss_bytes),
            i64(s.server->peak_rss_bytes), {}, {}, {}, {}, {});
      }
      for (const GpuSample& g : s.gpus) {
        std::optional<int64_t> used, total;
        if (g.memory_used_bytes) used = static_cast<int64_t>(*g.memory_used_bytes);
        if (g.memory_total_bytes) total = static_cast<int64_t>(*g.memory_total_bytes);
        row(s, "gpu" + std::to_string(g.index), {}, g.name, {}, {}, {}, used, total, g.util_percent,
            g.power_w, g.temperature_c);
      }
    }
    transaction.commit();
    return true;
  });
  return r.ok() ? Status::ok() : r.status();
}

Result<std::vector<SessionRow>> ResultsStore::list_sessions(int64_t limit) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "listing sessions", [&]() -> Result<std::vector<SessionRow>> {
    SQLite::Statement q(*db_, std::string("SELECT ") + kSessionColumns +
                                  " FROM sessions s ORDER BY s.id DESC LIMIT ?");
    q.bind(1, limit);
    std::vector<SessionRow> rows;
    while (q.executeStep()) rows.push_back(read_session(q));
    return rows;
  });
}

Result<SessionRow> ResultsStore::session(int64_t session_id) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading a session", [&]() -> Result<SessionRow> {
    SQLite::Statement q(
        *db_, std::string("SELECT ") + kSessionColumns + " FROM sessions s WHERE s.id = ?");
    q.bind(1, session_id);
    if (!q.executeStep()) {
      return make_error(ErrorCode::kNotFound,
                        "results store {}: no session {}; `chimera results list` shows the ids",
                        path_, session_id);
    }
    return read_session(q);
  });
}

Result<ConfigurationRow> ResultsStore::configuration(int64_t configuration_id) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading a configuration", [&]() -> Result<ConfigurationRow> {
    SQLite::Statement q(*db_,
                        "SELECT id, hash, backend, model, options FROM configurations "
                        "WHERE id = ?");
    q.bind(1, configuration_id);
    if (!q.executeStep()) {
      return make_error(ErrorCode::kNotFound, "results store {}: no configuration {}", path_,
                        configuration_id);
    }
    return ConfigurationRow{q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                            q.getColumn(2).getString(), q.getColumn(3).getString(),
                            q.getColumn(4).getString()};
  });
}

Result<std::vector<StoredCall>> ResultsStore::calls(int64_t session_id) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading calls", [&]() -> Result<std::vector<StoredCall>> {
    SQLite::Statement q(
        *db_,
        "SELECT id, configuration_id, arm, seq, pair_index, prompt_index, repetition, warmup, "
        "concurrency, rate_rps, scheduled_offset_ns, backend, model, endpoint, synthetic, "
        "options_requested, options_applied, ok, error_code, error, text, done_reason, "
        "token_count, "
        "token_count_source, prompt_tokens, chunk_count, wall_start_unix_ms, t_request_ns, "
        "t_first_byte_ns, t_first_token_ns, t_done_ns, chunk_times_ns, chunk_token_counts, "
        "load_ns, "
        "prompt_eval_ns, eval_ns, total_ns, prompt_eval_count, eval_count, model_load_paid, "
        "prompt_truncated, extra_json FROM calls WHERE session_id = ? ORDER BY seq, id");
    q.bind(1, session_id);
    std::vector<StoredCall> out;
    while (q.executeStep()) {
      StoredCall c;
      int i = 0;
      auto col = [&]() { return q.getColumn(i++); };
      c.id = col().getInt64();
      c.configuration_id = column_optional_int(col()).value_or(0);
      CallMeta& m = c.call.meta;
      m.arm = column_text(col());
      m.seq = col().getInt64();
      m.pair_index = column_optional_int(col()).value_or(-1);
      m.prompt_index = column_optional_int(col()).value_or(0);
      m.repetition = column_optional_int(col()).value_or(0);
      m.warmup = col().getInt() != 0;
      m.concurrency = col().getInt64();
      m.rate_rps = column_optional_double(col());
      m.scheduled_offset_ns = col().getInt64();
      // The record goes through its JSON form, so store and --json share one definition.
      json j;
      j["backend"] = column_text(col());
      j["model"] = column_text(col());
      j["endpoint"] = column_text(col());
      j["synthetic_model"] = col().getInt() != 0;
      j["options_requested"] = parse_json_column(col(), json::object());
      j["options_applied"] = parse_json_column(col(), json::object());
      j["ok"] = col().getInt() != 0;
      j["error_code"] = column_text(col());
      j["error"] = column_text(col());
      j["text"] = column_text(col());
      j["done_reason"] = column_text(col());
      j["token_count"] = column_optional_int(col()).value_or(0);
      j["token_count_source"] = column_text(col());
      if (auto v = column_optional_int(col())) j["prompt_tokens"] = *v;
      j["chunk_count"] = column_optional_int(col()).value_or(0);
      j["wall_start_unix_ms"] = column_optional_int(col()).value_or(0);
      j["t_request_ns"] = column_optional_int(col()).value_or(0);
      j["t_first_byte_ns"] = column_optional_int(col()).value_or(0);
      j["t_first_token_ns"] = column_optional_int(col()).value_or(0);
      j["t_done_ns"] = column_optional_int(col()).value_or(0);
      j["chunk_times_ns"] = parse_json_column(col(), json::array());
      j["chunk_token_counts"] = parse_json_column(col(), json::array());
      json server = json::object();
      for (const char* key : {"load_ns", "prompt_eval_ns", "eval_ns", "total_ns",
                              "prompt_eval_count", "eval_count"}) {
        if (auto v = column_optional_int(col())) server[key] = *v;
      }
      j["server"] = server;
      j["model_load_paid"] = col().getInt() != 0;
      j["prompt_truncated"] = col().getInt() != 0;
      json extra = parse_json_column(col(), json::object());
      for (auto& [key, value] : extra.items()) j[key] = value;
      if (j.contains("server_queue_ns")) j["server"]["queue_ns"] = j["server_queue_ns"];
      if (j.contains("server_rejected")) j["server"]["rejected"] = j["server_rejected"];
      CHIMERA_ASSIGN_OR_RETURN(c.call.record, call_record_from_json(j));
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<std::vector<HwSample>> ResultsStore::hw_samples(int64_t session_id) {
  std::lock_guard lock(mutex_);
  return guarded(path_, "reading hardware samples", [&]() -> Result<std::vector<HwSample>> {
    SQLite::Statement q(*db_,
                        "SELECT t_ns, t_unix_ms, scope, pid, name, cpu_percent, rss_bytes, "
                        "peak_rss_bytes, memory_used_bytes, memory_total_bytes, util_percent, "
                        "power_w, temperature_c FROM hw_samples WHERE session_id = ? "
                        "ORDER BY t_ns, id");
    q.bind(1, session_id);
    std::vector<HwSample> out;
    while (q.executeStep()) {
      int64_t t_ns = q.getColumn(0).getInt64();
      if (out.empty() || out.back().t_ns != t_ns) {
        out.emplace_back();
        out.back().t_ns = t_ns;
        out.back().t_unix_ms = q.getColumn(1).getInt64();
      }
      HwSample& s = out.back();
      std::string scope = q.getColumn(2).getString();
      auto u64 = [&](int index) {
        return static_cast<uint64_t>(column_optional_int(q.getColumn(index)).value_or(0));
      };
      if (scope == "process" || scope == "server") {
        ProcessSample p;
        p.pid = static_cast<int>(column_optional_int(q.getColumn(3)).value_or(0));
        p.cpu_percent = column_optional_double(q.getColumn(5));
        p.rss_bytes = u64(6);
        p.peak_rss_bytes = u64(7);
        if (scope == "process") {
          s.process = p;
        } else {
          s.server = p;
        }
      } else if (scope == "system") {
        s.system_cpu_percent = column_optional_double(q.getColumn(5));
        s.memory_used_bytes = u64(8);
        s.memory_total_bytes = u64(9);
        s.memory_available_bytes = s.memory_total_bytes - s.memory_used_bytes;
      } else if (scope.rfind("gpu", 0) == 0) {
        GpuSample g;
        g.index = std::atoi(scope.c_str() + 3);
        g.name = column_text(q.getColumn(4));
        if (auto v = column_optional_int(q.getColumn(8))) g.memory_used_bytes = *v;
        if (auto v = column_optional_int(q.getColumn(9))) g.memory_total_bytes = *v;
        g.util_percent = column_optional_double(q.getColumn(10));
        g.power_w = column_optional_double(q.getColumn(11));
        g.temperature_c = column_optional_double(q.getColumn(12));
        s.gpus.push_back(std::move(g));
      }
    }
    return out;
  });
}

}  // namespace chimera::lab
