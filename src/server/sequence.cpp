#include "server/sequence.h"

namespace chimera::server {

bool SequenceStream::wait(std::vector<std::string>& pieces, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !pieces_.empty() || ended_; });
  while (!pieces_.empty()) {
    pieces.push_back(std::move(pieces_.front()));
    pieces_.pop_front();
  }
  return ended_;
}

bool SequenceStream::ended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

void SequenceStream::cancel() {
  // Under the lock, so the listener (which wakes the scheduler) is never called after finish():
  // the scheduler may be gone by then. Lock order: stream, then scheduler; never the reverse.
  std::lock_guard<std::mutex> lock(mutex_);
  if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
  if (!ended_ && cancel_listener_) cancel_listener_();
}

void SequenceStream::push(std::string text) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return;
    pieces_.push_back(std::move(text));
  }
  cv_.notify_one();
}

void SequenceStream::finish(SequenceOutcome outcome) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return;
    outcome_ = std::move(outcome);
    ended_ = true;
    cancel_listener_ = nullptr;
  }
  cv_.notify_one();
}

}  // namespace chimera::server
