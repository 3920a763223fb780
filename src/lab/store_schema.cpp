// The results store's schema, one migration per version. Never edit a released migration: add the
// next one. Each runs inside the BEGIN IMMEDIATE transaction that also records its version.
#include "lab/store.h"

namespace chimera::lab {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "sessions, configurations, calls", R"sql(
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  command TEXT NOT NULL,
  args TEXT NOT NULL DEFAULT '',
  host TEXT, cpu TEXT, cpu_features TEXT, logical_cpus INTEGER, build TEXT,
  backend TEXT, model TEXT,
  started_unix_ms INTEGER NOT NULL,
  ended_unix_ms INTEGER,
  status TEXT NOT NULL DEFAULT 'running',
  header_json TEXT
);
CREATE TABLE configurations (
  id INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  backend TEXT NOT NULL,
  model TEXT NOT NULL,
  options TEXT NOT NULL
);
CREATE TABLE calls (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id),
  configuration_id INTEGER REFERENCES configurations(id),
  arm TEXT NOT NULL,
  seq INTEGER NOT NULL,
  pair_index INTEGER,
  prompt_index INTEGER,
  repetition INTEGER,
  warmup INTEGER NOT NULL DEFAULT 0,
  backend TEXT, model TEXT, endpoint TEXT,
  synthetic INTEGER NOT NULL DEFAULT 0,
  options_requested TEXT, options_applied TEXT,
  ok INTEGER NOT NULL,
  error_code TEXT, error TEXT,
  text TEXT, done_reason TEXT,
  token_count INTEGER, token_count_source TEXT, prompt_tokens INTEGER, chunk_count INTEGER,
  wall_start_unix_ms INTEGER,
  t_request_ns INTEGER, t_first_byte_ns INTEGER, t_first_token_ns INTEGER, t_done_ns INTEGER,
  chunk_times_ns TEXT, chunk_token_counts TEXT,
  load_ns INTEGER, prompt_eval_ns INTEGER, eval_ns INTEGER, total_ns INTEGER,
  prompt_eval_count INTEGER, eval_count INTEGER,
  model_load_paid INTEGER NOT NULL DEFAULT 0,
  prompt_truncated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_by_session ON calls(session_id, seq);
)sql"},
      {2, "hardware samples, load levels, run summaries, extra call fields", R"sql(
ALTER TABLE sessions ADD COLUMN summary_json TEXT;
ALTER TABLE calls ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 1;
ALTER TABLE calls ADD COLUMN rate_rps REAL;
ALTER TABLE calls ADD COLUMN scheduled_offset_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN extra_json TEXT;
CREATE TABLE hw_samples (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id),
  t_ns INTEGER NOT NULL,
  t_unix_ms INTEGER NOT NULL,
  scope TEXT NOT NULL,
  pid INTEGER,
  name TEXT,
  cpu_percent REAL,
  rss_bytes INTEGER,
  peak_rss_bytes INTEGER,
  memory_used_bytes INTEGER,
  memory_total_bytes INTEGER,
  util_percent REAL,
  power_w REAL,
  temperature_c REAL
);
CREATE INDEX hw_samples_by_session ON hw_samples(session_id, t_ns);
)sql"},
  };
  return kMigrations;
}

}  // namespace chimera::lab
