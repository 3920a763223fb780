// The generation path both dialects share, and the small HTTP helpers around it.
#include <fmt/format.h>

#include <chrono>

#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/reasoning.h"
#include "server/api.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::server {
namespace {

// How long the response waits for text before checking that the client is still there.
constexpr std::chrono::milliseconds kConnectionCheckInterval{50};

}  // namespace

int http_status_for(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kParseError:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kUnsupported:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kTimeout:
      return 504;
    default:
      return 500;
  }
}

Job::Job(ServerState& s, ModelRegistry::Lease l) : state(s), lease(std::move(l)) {
  std::lock_guard<std::mutex> lock(state.jobs_mutex);
  ++state.jobs_in_flight;
}

Job::~Job() {
  if (stream && !stream->ended()) stream->cancel();
  lease = ModelRegistry::Lease();  // keep_alive starts now
  {
    std::lock_guard<std::mutex> lock(state.jobs_mutex);
    --state.jobs_in_flight;
  }
  state.jobs_cv.notify_all();
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json; charset=utf-8");
}

void send_ollama_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, Json{{"error", message}});
}

void send_openai_error(httplib::Response& res, int status, const std::string& message,
                       std::string_view code) {
  std::string type = status == 401   ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 503 ? "server_busy"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  Json error = {{"message", message},
                {"type", type},
                {"param", nullptr},
                {"code", code.empty() ? Json(nullptr) : Json(std::string(code))}};
  send_json(res, status, Json{{"error", error}});
}

void note_ignored_options(httplib::Response& res, const std::vector<std::string>& ignored) {
  if (!ignored.empty()) res.set_header("X-Chimera-Ignored-Options", join(ignored, ","));
}

void post_with_body(httplib::Server& http, ServerState& state, const std::string& path,
                    bool openai_errors, BodyHandler handler) {
  http.Post(path, [&state, openai_errors, handler = std::move(handler)](
                      const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) {
    std::string body;
    bool too_large = false;
    const size_t cap = state.config.max_body_bytes;
    bool read = reader([&](const char* data, size_t length) {
      if (body.size() + length > cap) {  // chunked bodies have no Content-Length to refuse up front
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (too_large || res.status == 413) {
      std::string message =
          fmt::format("the request body is larger than the server's limit of {} bytes", cap);
      res.set_header("Connection", "close");
      if (openai_errors) {
        send_openai_error(res, 413, message);
      } else {
        send_ollama_error(res, 413, message);
      }
      return;
    }
    if (!read) {
      res.set_header("Connection", "close");
      std::string message = "the request body could not be read (the connection broke mid-body)";
      if (openai_errors) {
        send_openai_error(res, 400, message);
      } else {
        send_ollama_error(res, 400, message);
      }
      return;
    }
    res.status = 200;
    handler(req, res, body);
  });
}

Result<std::shared_ptr<Job>> start_generation(ServerState& state, const GenerationRequest& request,
                                              int64_t received_ns) {
  if (state.draining.load()) {
    state.metrics.count_rejected("draining");
    return make_error(ErrorCode::kUnavailable,
                      "the server is shutting down and takes no new requests");
  }
  std::optional<size_t> index = state.registry->find(request.model);
  if (!index) {
    return make_error(ErrorCode::kNotFound, "model '{}' not found; this server has: {}",
                      request.model, join(state.registry->names(), ", "));
  }
  // Before loading: a thinking mode the model does not have is the request's error.
  CHIMERA_RETURN_IF_ERROR(
      check_request_think(request, state.registry->view(*index).source.architecture));
  int64_t load_ns = 0;
  CHIMERA_ASSIGN_OR_RETURN(ModelRegistry::Lease lease, state.registry->acquire(*index, load_ns));
  if (request.keep_alive_ns) lease.set_keep_alive_ns(*request.keep_alive_ns);
  auto job = std::make_shared<Job>(state, std::move(lease));
  job->model_name = request.model;
  job->received_ns = received_ns;
  job->load_ns = load_ns;
  job->think = request.think;
  job->templated = request.prompt_tokens.empty() && (request.chat || !request.raw);
  const engine::Model& model = job->lease.model();
  // Built once per model, here rather than on the scheduler thread, which would stall every
  // sequence while it runs.
  if (request.grammar) model.grammar_vocabulary();
  CHIMERA_ASSIGN_OR_RETURN(
      std::vector<int32_t> prompt,
      build_prompt_tokens(model, request, job->lease.source().system_text.value_or(std::string())));
  CHIMERA_ASSIGN_OR_RETURN(
      job->prepared, prepare_sequence(model, request, std::move(prompt), job->lease.defaults(),
                                      state.defaults, received_ns));
  auto stream = job->lease.scheduler().submit(job->prepared.request);
  if (!stream.ok()) {
    if (stream.status().code() == ErrorCode::kResourceExhausted)
      state.metrics.count_rejected("queue_full");
    return stream.status();
  }
  job->stream = std::move(*stream);
  return job;
}

std::unique_ptr<engine::ReplySplitter> reply_splitter(const Job& job) {
  if (!job.templated) return nullptr;
  return engine::reply_splitter_for(job.lease.model().chat_family(), job.think);
}

void respond_with_job(httplib::Response& res, std::shared_ptr<Job> job,
                      std::shared_ptr<ResponseFormat> format, bool stream) {
  res.status = 200;
  const std::string content_type = format->content_type(stream);
  auto started = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      content_type,
      [job, format, stream, started](size_t /*offset*/, httplib::DataSink& sink) -> bool {
        std::string out;
        if (!*started) {
          *started = true;
          if (stream) format->begin(out);
        }
        std::vector<std::string> pieces;
        const bool ended = job->stream->wait(pieces, kConnectionCheckInterval);
        if (stream) {
          for (const std::string& piece : pieces) format->text(piece, out);
        }
        if (ended) {
          const SequenceOutcome& outcome = job->stream->outcome();
          if (outcome.status.is_ok()) {
            format->done(*job, outcome, out);
          } else {
            format->error(outcome.status, out);
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          job->stream->cancel();
          return false;
        }
        if (ended) {
          sink.done();
          return true;
        }
        if (out.empty() && !sink.is_writable()) {  // the client closed the connection
          job->stream->cancel();
          return false;
        }
        return true;
      },
      [job](bool success) {
        if (!success) job->stream->cancel();
      });
}

}  // namespace chimera::server
