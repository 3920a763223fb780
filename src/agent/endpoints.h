// The endpoints of a `chimera agents` run and how each call picks one:
//   pin                agent i always talks to endpoint i mod K (the prior system's dual-server
//                      setup: agent 0 on :11434, agent 1 on :11435)
//   round-robin        every call takes the next endpoint in turn, whatever agent sends it
//   least-outstanding  every call goes to the endpoint with the fewest requests in flight now
//                      (ties: the lowest index), as a load balancer in front of servers would
// Every endpoint counts its calls and in-flight requests, so the report can say where work went.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "llm/backend.h"
#include "util/status.h"

namespace chimera::agent {

enum class Assignment { kPin, kRoundRobin, kLeastOutstanding };
std::string_view assignment_name(Assignment assignment);
Result<Assignment> parse_assignment(std::string_view text);

struct EndpointStats {
  std::string spec;
  int64_t calls = 0, failed = 0;
  int64_t max_outstanding = 0;
};

class EndpointSet {
 public:
  // `specs` are the names the user gave (for reports); backends[i] serves specs[i].
  EndpointSet(std::vector<std::unique_ptr<llm::Backend>> backends, std::vector<std::string> specs);
  size_t size() const { return backends_.size(); }
  llm::Backend& backend(size_t i) { return *backends_[i]; }
  const std::string& spec(size_t i) const { return specs_[i]; }

  // The backend agent `agent_index` calls through: it routes each call by `assignment` and keeps
  // the counts. Valid while this set lives.
  std::unique_ptr<llm::Backend> agent_backend(size_t agent_index, Assignment assignment);
  std::vector<EndpointStats> stats() const;

  // Picks an endpoint for one call and counts it as outstanding until release(); exposed for tests.
  size_t acquire(size_t agent_index, Assignment assignment);
  void release(size_t endpoint, bool ok);

 private:
  std::vector<std::unique_ptr<llm::Backend>> backends_;
  std::vector<std::string> specs_;
  mutable std::mutex mutex_;
  std::vector<int64_t> outstanding_;
  std::vector<EndpointStats> stats_;
  uint64_t next_round_robin_ = 0;
};

}  // namespace chimera::agent
