// Internal to the server layer: the state the endpoint handlers share, the generation path both API
// dialects use (validate -> model lease -> prompt tokens -> scheduler -> chunked response), and the
// handler registration functions of ollama_api.cpp and openai_api.cpp.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/tokenizer/reply_splitter.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/sequence.h"
#include "server/server.h"
#include "util/status.h"

namespace chimera::server {

struct ServerState {
  ServerConfig config;
  Metrics metrics;
  std::unique_ptr<ModelRegistry> registry;
  GenerationDefaults defaults;
  std::atomic<bool> draining{false};
  std::mutex jobs_mutex;
  std::condition_variable jobs_cv;
  int jobs_in_flight = 0;  // guarded by jobs_mutex
};

// An HTTP status for a Status: bad input 400, unknown model 404, over the cap 413, busy 503...
int http_status_for(const Status& status);

// A generation accepted by a scheduler. Owned by the HTTP response; its destructor cancels the
// sequence if it has not ended (the client went away), releases the model lease (keep_alive) and
// tells drain() one fewer request is in flight.
struct Job {
  Job(ServerState& state, ModelRegistry::Lease lease);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  ServerState& state;
  ModelRegistry::Lease lease;
  std::shared_ptr<SequenceStream> stream;
  std::string model_name;        // as the client named it, echoed in responses
  int64_t received_ns = 0;       // monotonic
  int64_t load_ns = 0;           // model load paid by this request
  PreparedSequence prepared;     // prompt tokens, num_ctx in force, truncation
  engine::Think think = engine::Think::kDefault;
  bool templated = false;  // the prompt went through the chat template (not raw, not ids)
};

// How one API dialect writes a generation: pieces of text as they come (streaming), the final
// object(s), and an error raised after the response started.
class ResponseFormat {
 public:
  virtual ~ResponseFormat() = default;
  virtual std::string content_type(bool stream) const = 0;
  virtual void begin(std::string& out) { (void)out; }
  virtual void text(std::string_view piece, std::string& out) = 0;
  virtual void done(const Job& job, const SequenceOutcome& outcome, std::string& out) = 0;
  virtual void error(const Status& status, std::string& out) = 0;
};

// What splits the job's reply into reasoning and answer (engine/tokenizer/reasoning.h): gpt-oss's
// channels, Qwen 3's <think> block; null for a model without a thinking mode, with think off on
// Qwen 3, and for prompts that skipped the chat template (raw text, token ids), whose replies
// are passed on as generated.
std::unique_ptr<engine::ReplySplitter> reply_splitter(const Job& job);

// Validates nothing: `request` was parsed by the dialect. Finds the model (kNotFound), refuses while
// draining (kUnavailable), takes a lease (loading if needed), renders the prompt, fits num_ctx and
// submits. `load_only` requests (Ollama, empty prompt) never get here.
Result<std::shared_ptr<Job>> start_generation(ServerState& state, const GenerationRequest& request,
                                              int64_t received_ns);

// Streams (or, when !stream, collects) the job's output through `format` in a chunked response.
// The connection is checked while waiting, so a client that leaves cancels its sequence at once.
void respond_with_job(httplib::Response& res, std::shared_ptr<Job> job, std::shared_ptr<ResponseFormat> format,
                      bool stream);

void send_json(httplib::Response& res, int status, const Json& body);
// {"error": "message"} (Ollama's shape).
void send_ollama_error(httplib::Response& res, int status, const std::string& message);
// {"error": {"message", "type", "param", "code"}} (OpenAI's shape).
void send_openai_error(httplib::Response& res, int status, const std::string& message,
                       std::string_view code = {});

// The ignored option names as a response header (X-Chimera-Ignored-Options), when any.
void note_ignored_options(httplib::Response& res, const std::vector<std::string>& ignored);

// A POST body handler: gets the body already read (and capped at config.max_body_bytes).
using BodyHandler = std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;
void post_with_body(httplib::Server& http, ServerState& state, const std::string& path, bool openai_errors,
                    BodyHandler handler);

void register_ollama_api(httplib::Server& http, ServerState& state);
void register_openai_api(httplib::Server& http, ServerState& state);

}  // namespace chimera::server
