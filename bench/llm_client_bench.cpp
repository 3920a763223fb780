// What the HTTP backends cost on top of the server. Two goals (docs: llm task):
//  - the Ollama NDJSON path handles >= 200,000 streamed tokens per second on one core: parse each
//  line,
//    record its arrival clock, hand its text to the caller (BM_OllamaStreamDecode, tokens_per_s);
//  - the client adds < 1 ms to TTFT against a local server that answers at once
//    (BM_TtftOverheadLoopback: client_ttft_us vs raw_ttft_us, a bare socket doing the same
//    exchange).
// Run: build/<dir>/bench/llm_client_bench
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "llm/ollama_backend.h"
#include "llm/ollama_stream.h"
#include "llm/openai_stream.h"
#include "util/clock.h"

namespace {

using namespace chimera;
using namespace chimera::llm;

// A realistic streamed line, as docs/api.md shows them (about 100 bytes).
std::string ollama_line(int i) {
  return "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\","
         "\"response\":\" w" +
         std::to_string(i % 1000) + "\",\"done\":false}\n";
}

std::string ollama_final(int tokens) {
  return "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"response\":\"\","
         "\"done\":true,"
         "\"done_reason\":\"stop\",\"total_duration\":4935886791,\"load_duration\":534986708,"
         "\"prompt_eval_count\":26,\"prompt_eval_duration\":107345000,\"eval_count\":" +
         std::to_string(tokens) + ",\"eval_duration\":4289432000}\n";
}

// reads_per_token = true: every line arrives in its own read (a live stream, the worst case);
// false: 16 KiB reads holding many lines (a fast server, or a client that fell behind).
void BM_OllamaStreamDecode(benchmark::State& state) {
  const bool read_per_line = state.range(0) == 1;
  constexpr int kTokens = 4096;
  std::vector<std::string> reads;
  std::string all;
  for (int i = 0; i < kTokens; ++i) all += ollama_line(i);
  all += ollama_final(kTokens);
  if (read_per_line) {
    size_t at = 0;
    while (at < all.size()) {
      size_t end = all.find('\n', at) + 1;
      reads.push_back(all.substr(at, end - at));
      at = end;
    }
  } else {
    for (size_t at = 0; at < all.size(); at += 16384) reads.push_back(all.substr(at, 16384));
  }
  size_t text_bytes = 0;
  OnText on_text = [&](std::string_view text) {
    text_bytes += text.size();
    return true;
  };
  for (auto _ : state) {
    CallRecord record;
    OllamaStreamDecoder decoder(record, on_text);
    decoder.recorder().reserve(kTokens);
    for (const std::string& bytes : reads) {
      // The HTTP client stamps every read with the monotonic clock; so does this loop.
      if (!decoder.feed(bytes, monotonic_ns()).is_ok()) state.SkipWithError("decode failed");
    }
    if (!decoder.finish(monotonic_ns()).is_ok() || record.chunk_count != kTokens) {
      state.SkipWithError("stream incomplete");
    }
    benchmark::DoNotOptimize(record.text.data());
  }
  state.SetItemsProcessed(state.iterations() * kTokens);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(all.size()));
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kTokens), benchmark::Counter::kIsRate);
  state.SetLabel(read_per_line ? "one read per line" : "16 KiB reads");
}
BENCHMARK(BM_OllamaStreamDecode)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

// The OpenAI SSE path, for comparison (no goal of its own).
void BM_OpenAIStreamDecode(benchmark::State& state) {
  constexpr int kTokens = 4096;
  std::vector<std::string> reads;
  for (int i = 0; i < kTokens; ++i) {
    reads.push_back(
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w" +
        std::to_string(i % 1000) + "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  }
  reads.push_back(
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4096}}\n\n");
  reads.push_back("data: [DONE]\n\n");
  for (auto _ : state) {
    CallRecord record;
    OpenAIStreamDecoder decoder(record, /*chat=*/true, /*per_chunk_usage=*/false, {});
    decoder.recorder().reserve(kTokens);
    for (const std::string& bytes : reads) {
      if (!decoder.feed(bytes, monotonic_ns()).is_ok()) state.SkipWithError("decode failed");
    }
    if (!decoder.finish(monotonic_ns()).is_ok()) state.SkipWithError("stream incomplete");
    benchmark::DoNotOptimize(record.text.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kTokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OpenAIStreamDecode)->Unit(benchmark::kMicrosecond);

// A local server that answers at once: the first token line right after the headers.
class ImmediateServer {
 public:
  ImmediateServer() {
    server_.set_keep_alive_max_count(1
                                     << 30);  // both clients keep one connection for the whole run
    // As Go (Ollama) and uvicorn (vLLM) do: without it the body waits ~40 ms for a delayed ACK.
    server_.set_tcp_nodelay(true);
    server_.Post("/api/show", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          R"({"parameters":"num_ctx 4096","details":{"family":"llama"},"model_info":{}})",
          "application/json");
    });
    server_.Get("/api/ps", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest"}]})",
                      "application/json");
    });
    server_.Post("/api/generate", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
        std::string first = ollama_line(1), last = ollama_final(1);
        sink.write(first.data(), first.size());
        sink.write(last.data(), last.size());
        sink.done();
        return true;
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~ImmediateServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// The least a client can do: one kept-alive socket, a prebuilt request, wait for the first token
// line.
class RawClient {
 public:
  explicit RawClient(int port) : port_(port) {}
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Returns the ns from sending the request to the first token's bytes, or -1.
  int64_t ttft_ns(const std::string& body) {
    if (fd_ < 0 && !connect_now()) return -1;
    std::string request =
        "POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    int64_t start = monotonic_ns();
    if (::send(fd_, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size()))
      return -1;
    std::string got;
    int64_t first_token = -1;
    char buffer[8192];
    // Read to the end of the chunked body ("0\r\n\r\n") so the connection stays in step.
    while (got.find("\r\n0\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return -1;
      got.append(buffer, static_cast<size_t>(n));
      if (first_token < 0 && got.find("\"response\"") != std::string::npos)
        first_token = monotonic_ns();
    }
    return first_token - start;
  }

 private:
  bool connect_now() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  int port_;
  int fd_ = -1;
};

double percentile(std::vector<int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return static_cast<double>(values[index]);
}

// Alternates a client call and a raw-socket call to the same server, so both see the same machine
// state; the difference of their TTFTs is what the client adds.
void BM_TtftOverheadLoopback(benchmark::State& state) {
  ImmediateServer server;
  OllamaBackendConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(server.port());
  config.model = "llama3.2";
  OllamaBackend backend(config);
  RawClient raw(server.port());
  Request request;
  request.prompt = "Why is the sky blue?";
  const std::string raw_body =
      R"({"model":"llama3.2","prompt":"Why is the sky blue?","stream":true})";
  std::vector<int64_t> client_ns, raw_ns, e2e_ns;
  for (int warm = 0; warm < 5; ++warm) {  // connections open, /api/show cached
    backend.generate(request);
    raw.ttft_ns(raw_body);
  }
  for (auto _ : state) {
    CallRecord record = backend.generate(request);
    int64_t raw_ttft = raw.ttft_ns(raw_body);
    if (!record.ok || raw_ttft < 0) {
      state.SkipWithError(record.ok ? "raw client failed" : record.error.c_str());
      break;
    }
    client_ns.push_back(record.t_first_token_ns - record.t_request_ns);
    e2e_ns.push_back(record.t_done_ns - record.t_request_ns);
    raw_ns.push_back(raw_ttft);
  }
  double client_p50 = percentile(client_ns, 0.5), raw_p50 = percentile(raw_ns, 0.5);
  state.counters["client_ttft_us_p50"] = client_p50 / 1e3;
  state.counters["client_ttft_us_p99"] = percentile(client_ns, 0.99) / 1e3;
  state.counters["raw_ttft_us_p50"] = raw_p50 / 1e3;
  state.counters["overhead_us_p50"] = (client_p50 - raw_p50) / 1e3;
  state.counters["client_e2e_us_p50"] = percentile(e2e_ns, 0.5) / 1e3;
}
BENCHMARK(BM_TtftOverheadLoopback)->Iterations(2000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
