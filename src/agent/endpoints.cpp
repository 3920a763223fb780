#include "agent/endpoints.h"

#include <fmt/format.h>

#include <algorithm>

namespace chimera::agent {
namespace {

// One agent's view of the set: each call is routed, counted, and the record says which endpoint
// served it (CallRecord::backend is that endpoint's name).
class RoutedBackend : public llm::Backend {
 public:
  RoutedBackend(EndpointSet& set, size_t agent_index, Assignment assignment)
      : set_(set), agent_(agent_index), assignment_(assignment) {}

  std::string name() const override {
    if (assignment_ == Assignment::kPin) return set_.backend(agent_ % set_.size()).name();
    return fmt::format("{} endpoints ({})", set_.size(), assignment_name(assignment_));
  }
  llm::BackendCapabilities capabilities() const override { return first().capabilities(); }
  llm::CallRecord generate(const llm::Request& request, const llm::OnText& on_text) override {
    size_t i = set_.acquire(agent_, assignment_);
    llm::CallRecord record = set_.backend(i).generate(request, on_text);
    set_.release(i, record.ok);
    return record;
  }
  Result<std::vector<llm::ModelEntry>> list_models() override { return first().list_models(); }
  Result<llm::ModelDescription> describe(const std::string& model) override {
    return first().describe(model);
  }
  std::optional<int64_t> count_prompt_tokens(const llm::Request& request) override {
    return first().count_prompt_tokens(request);
  }
  Result<std::string> version() override { return first().version(); }

 private:
  // Questions about the model go to the agent's pinned endpoint (or the first): every endpoint
  // serves the same model.
  llm::Backend& first() const {
    return set_.backend(assignment_ == Assignment::kPin ? agent_ % set_.size() : 0);
  }

  EndpointSet& set_;
  size_t agent_;
  Assignment assignment_;
};

}  // namespace

std::string_view assignment_name(Assignment assignment) {
  switch (assignment) {
    case Assignment::kPin:
      return "pin";
    case Assignment::kRoundRobin:
      return "round-robin";
    case Assignment::kLeastOutstanding:
      return "least-outstanding";
  }
  return "unknown";
}

Result<Assignment> parse_assignment(std::string_view text) {
  for (Assignment a : {Assignment::kPin, Assignment::kRoundRobin, Assignment::kLeastOutstanding}) {
    if (text == assignment_name(a)) return a;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "--assign '{}' is not known; use pin (agent i -> endpoint i), round-robin or "
                    "least-outstanding",
                    text);
}

EndpointSet::EndpointSet(std::vector<std::unique_ptr<llm::Backend>> backends,
                         std::vector<std::string> specs)
    : backends_(std::move(backends)), specs_(std::move(specs)) {
  specs_.resize(backends_.size());
  outstanding_.assign(backends_.size(), 0);
  for (size_t i = 0; i < backends_.size(); ++i) {
    stats_.push_back({specs_[i].empty() ? backends_[i]->name() : specs_[i], 0, 0, 0});
  }
}

std::unique_ptr<llm::Backend> EndpointSet::agent_backend(size_t agent_index,
                                                         Assignment assignment) {
  return std::make_unique<RoutedBackend>(*this, agent_index, assignment);
}

size_t EndpointSet::acquire(size_t agent_index, Assignment assignment) {
  std::lock_guard lock(mutex_);
  size_t i = 0;
  switch (assignment) {
    case Assignment::kPin:
      i = agent_index % backends_.size();
      break;
    case Assignment::kRoundRobin:
      i = static_cast<size_t>(next_round_robin_++ % backends_.size());
      break;
    case Assignment::kLeastOutstanding:
      i = static_cast<size_t>(std::min_element(outstanding_.begin(), outstanding_.end()) -
                              outstanding_.begin());
      break;
  }
  ++outstanding_[i];
  ++stats_[i].calls;
  stats_[i].max_outstanding = std::max(stats_[i].max_outstanding, outstanding_[i]);
  return i;
}

void EndpointSet::release(size_t endpoint, bool ok) {
  std::lock_guard lock(mutex_);
  --outstanding_[endpoint];
  if (!ok) ++stats_[endpoint].failed;
}

std::vector<EndpointStats> EndpointSet::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace chimera::agent
