// The sampler thread and the mean/peak summary of its samples.
#include "lab/hwmon.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>

#include <fmt/format.h>

#include "util/clock.h"

namespace chimera::lab {
namespace {

double ticks_per_second() {
  static const double kTicks = [] {
    long t = sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<double>(t) : 100.0;
  }();
  return kTicks;
}

void add(PeakMean& pm, double value) {
  pm.peak = pm.n == 0 ? value : std::max(pm.peak, value);
  pm.mean += (value - pm.mean) / static_cast<double>(++pm.n);
}

}  // namespace

HardwareMonitor::HardwareMonitor(MonitorOptions options) : options_(options) {
  if (options_.gpu) {
    gpu_ = open_gpu_probe(&gpu_status_);
    if (gpu_) gpu_status_ = gpu_->method();
  } else {
    gpu_status_ = "not monitored (disabled)";
  }
  if (options_.server_pid) {
    server_pid_ = options_.server_pid;
    server_status_ = fmt::format("pid {}", *server_pid_);
  } else if (options_.server_port) {
    server_pid_ = find_listening_pid(*options_.server_port);
    server_status_ = server_pid_ ? fmt::format("pid {} (port {})", *server_pid_, *options_.server_port)
                                 : fmt::format("not monitored: no process of this user listens on "
                                               "port {} here (remote server or another user's)",
                                               *options_.server_port);
  } else {
    server_status_ = "no server process (in-process backend or remote server)";
  }
}

HardwareMonitor::~HardwareMonitor() { stop(); }

void HardwareMonitor::start() {
  if (thread_.joinable()) return;
  sample_now();  // primes the CPU counters so the thread's first sample has a CPU %
  std::lock_guard lock(mutex_);
  samples_.clear();
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void HardwareMonitor::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
  sample_now();  // the end state, so short runs still have a reading after the work
}

void HardwareMonitor::run(std::stop_token stop) {
  std::mutex wait_mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    std::unique_lock lock(wait_mutex);
    // Returns early when stop is requested (the predicate never becomes true by itself).
    wake.wait_for(lock, stop, std::chrono::milliseconds(options_.period_ms), [] { return false; });
    if (stop.stop_requested()) break;
    sample_now();
  }
}

std::optional<ProcessSample> HardwareMonitor::sample_process(int pid, ProcessCpuTicks& previous,
                                                             int64_t& previous_ns,
                                                             bool& has_previous) {
  auto memory = read_process_memory(pid);
  auto ticks = read_process_cpu_ticks(pid);
  if (!memory.ok() || !ticks.ok()) return std::nullopt;
  int64_t now = monotonic_ns();
  ProcessSample s;
  s.pid = pid == 0 ? static_cast<int>(getpid()) : pid;
  s.rss_bytes = memory->rss_bytes;
  s.peak_rss_bytes = memory->peak_rss_bytes;
  if (has_previous && now > previous_ns) {
    double used_s = static_cast<double>((ticks->user_ticks + ticks->system_ticks) -
                                        (previous.user_ticks + previous.system_ticks)) /
                    ticks_per_second();
    s.cpu_percent = 100.0 * used_s / ns_to_s(now - previous_ns);
  }
  previous = *ticks;
  previous_ns = now;
  has_previous = true;
  return s;
}

HwSample HardwareMonitor::sample_now() {
  std::lock_guard sampling(sampling_mutex_);  // the CPU deltas keep state between readings
  HwSample s;
  s.t_ns = monotonic_ns();
  s.t_unix_ms = unix_time_ms();
  if (auto self = sample_process(0, self_previous_, self_previous_ns_, self_has_previous_)) {
    s.process = *self;
  }
  if (auto cpu = read_system_cpu_ticks(); cpu.ok()) {
    if (system_has_previous_ && cpu->total > system_previous_.total) {
      double total = static_cast<double>(cpu->total - system_previous_.total);
      double idle = static_cast<double>(cpu->idle - system_previous_.idle);
      s.system_cpu_percent = std::clamp(100.0 * (1.0 - idle / total), 0.0, 100.0);
    }
    system_previous_ = *cpu;
    system_has_previous_ = true;
  }
  if (auto memory = read_system_memory(); memory.ok()) {
    s.memory_total_bytes = memory->total_bytes;
    s.memory_available_bytes = memory->available_bytes;
    s.memory_used_bytes = memory->used_bytes();
  }
  if (server_pid_) {
    s.server = sample_process(*server_pid_, server_previous_, server_previous_ns_,
                              server_has_previous_);
  }
  // NVML is cheap and read every time; nvidia-smi (a process per reading) at gpu_period_ms. A sample
  // carries GPU readings only when they were taken then, so means are not weighted by repeats.
  bool slow_probe = gpu_ && gpu_->method() == "nvidia-smi";
  if (gpu_ && (!slow_probe || last_gpu_ns_ == 0 ||
               s.t_ns - last_gpu_ns_ >= options_.gpu_period_ms * 1'000'000LL)) {
    s.gpus = gpu_->sample();
    last_gpu_ns_ = s.t_ns;
  }
  std::lock_guard lock(mutex_);
  samples_.push_back(s);
  return s;
}

std::vector<HwSample> HardwareMonitor::samples() const {
  std::lock_guard lock(mutex_);
  return samples_;
}

std::vector<HwSample> HardwareMonitor::samples_since(size_t first) const {
  std::lock_guard lock(mutex_);
  if (first >= samples_.size()) return {};
  return std::vector<HwSample>(samples_.begin() + static_cast<std::ptrdiff_t>(first), samples_.end());
}

HwSummary HardwareMonitor::summary() const {
  HwSummary summary = summarize_samples(samples());
  summary.gpu_status = gpu_status_;
  summary.server_status = server_status_;
  return summary;
}

HwSummary summarize_samples(const std::vector<HwSample>& samples) {
  HwSummary out;
  out.samples = samples.size();
  if (samples.empty()) return out;
  out.duration_s = ns_to_s(samples.back().t_ns - samples.front().t_ns);
  for (const HwSample& s : samples) {
    if (s.process.cpu_percent) add(out.process_cpu_percent, *s.process.cpu_percent);
    add(out.process_rss_bytes, static_cast<double>(s.process.rss_bytes));
    out.process_peak_rss_bytes = std::max(out.process_peak_rss_bytes, s.process.peak_rss_bytes);
    if (s.system_cpu_percent) add(out.system_cpu_percent, *s.system_cpu_percent);
    add(out.system_memory_used_bytes, static_cast<double>(s.memory_used_bytes));
    out.system_memory_total_bytes = s.memory_total_bytes;
    if (s.server) {
      out.server_pid = s.server->pid;
      if (s.server->cpu_percent) add(out.server_cpu_percent, *s.server->cpu_percent);
      add(out.server_rss_bytes, static_cast<double>(s.server->rss_bytes));
      out.server_peak_rss_bytes = std::max(out.server_peak_rss_bytes, s.server->peak_rss_bytes);
    }
    for (const GpuSample& g : s.gpus) {
      auto it = std::find_if(out.gpus.begin(), out.gpus.end(),
                             [&](const HwSummary::Gpu& x) { return x.index == g.index; });
      if (it == out.gpus.end()) {
        out.gpus.push_back({});
        it = out.gpus.end() - 1;
        it->index = g.index;
        it->name = g.name;
      }
      if (g.util_percent) add(it->util_percent, *g.util_percent);
      if (g.memory_used_bytes) add(it->memory_used_bytes, static_cast<double>(*g.memory_used_bytes));
      if (g.memory_total_bytes) it->memory_total_bytes = *g.memory_total_bytes;
      if (g.power_w) add(it->power_w, *g.power_w);
      if (g.temperature_c) add(it->temperature_c, *g.temperature_c);
    }
  }
  return out;
}

}  // namespace chimera::lab
