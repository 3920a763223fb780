// Hardware monitor: a sampler thread (default 10 Hz) recording CPU % and memory for this process, the
// system and, when it runs on this machine, the model server's process; and NVIDIA GPU utilisation,
// memory, power and temperature through NVML (dlopen, no headers needed), else nvidia-smi, else a
// clear "not available". Everything is read from /proc: this VM exposes no hwmon/RAPL/cpufreq.
//
// CPU % of a process is per core, as top prints it (200 % = two cores busy); system CPU % is over all
// logical CPUs (100 % = every core busy).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/status.h"

namespace chimera::lab {

// ---- /proc readers (each a parser over text plus a reader of the real file) ----

struct ProcessCpuTicks {
  uint64_t user_ticks = 0, system_ticks = 0;  // utime, stime (clock ticks)
};
Result<ProcessCpuTicks> parse_proc_pid_stat(std::string_view text);
Result<ProcessCpuTicks> read_process_cpu_ticks(int pid);  // pid 0 = this process

struct ProcessMemory {
  uint64_t rss_bytes = 0;       // VmRSS
  uint64_t peak_rss_bytes = 0;  // VmHWM: the high-water mark since the process started
};
Result<ProcessMemory> parse_proc_pid_status(std::string_view text);
Result<ProcessMemory> read_process_memory(int pid);  // pid 0 = this process

struct SystemCpuTicks {
  uint64_t total = 0, idle = 0;  // idle includes iowait
};
Result<SystemCpuTicks> parse_proc_stat(std::string_view text);
Result<SystemCpuTicks> read_system_cpu_ticks();

struct SystemMemory {
  uint64_t total_bytes = 0, available_bytes = 0;
  uint64_t used_bytes() const { return total_bytes - available_bytes; }
};
Result<SystemMemory> parse_proc_meminfo(std::string_view text);
Result<SystemMemory> read_system_memory();

// Socket inodes in state LISTEN on `port` from /proc/net/tcp or tcp6 text.
std::vector<uint64_t> parse_listening_inodes(std::string_view proc_net_tcp, int port);
// The process listening on a TCP port on this machine, via /proc/net/tcp{,6} inode -> /proc/*/fd.
// nullopt when nothing listens or the owner's /proc/PID/fd is not readable by this user.
std::optional<int> find_listening_pid(int port);

// ---- GPU ----

struct GpuSample {
  int index = 0;
  std::string name;
  std::optional<double> util_percent;
  std::optional<uint64_t> memory_used_bytes, memory_total_bytes;
  std::optional<double> power_w, temperature_c;
};
// Parses `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,power.draw,
// temperature.gpu --format=csv,noheader,nounits`; "[N/A]" and "[Not Supported]" become unset.
std::vector<GpuSample> parse_nvidia_smi_csv(std::string_view text);

class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  virtual std::vector<GpuSample> sample() = 0;
  virtual std::string method() const = 0;  // "NVML (libnvidia-ml.so.1)", "nvidia-smi"
};
// NVML first, then nvidia-smi; nullptr with *why set ("not available: ...") when neither works.
std::unique_ptr<GpuProbe> open_gpu_probe(std::string* why);

// ---- Samples and the sampler ----

struct ProcessSample {
  int pid = 0;
  std::optional<double> cpu_percent;  // unset in the first sample (needs two readings)
  uint64_t rss_bytes = 0, peak_rss_bytes = 0;
};

struct HwSample {
  int64_t t_ns = 0;        // monotonic clock, comparable with CallRecord clocks
  int64_t t_unix_ms = 0;
  ProcessSample process;   // this process
  std::optional<double> system_cpu_percent;
  uint64_t memory_total_bytes = 0, memory_available_bytes = 0, memory_used_bytes = 0;
  std::optional<ProcessSample> server;  // the model server's process, when found on this machine
  std::vector<GpuSample> gpus;
};

struct PeakMean {
  size_t n = 0;
  double mean = 0, peak = 0;
};

struct HwSummary {
  size_t samples = 0;
  double duration_s = 0;
  PeakMean process_cpu_percent, process_rss_bytes;
  uint64_t process_peak_rss_bytes = 0;  // VmHWM at the last sample
  PeakMean system_cpu_percent, system_memory_used_bytes;
  uint64_t system_memory_total_bytes = 0;
  std::optional<int> server_pid;
  PeakMean server_cpu_percent, server_rss_bytes;
  uint64_t server_peak_rss_bytes = 0;
  struct Gpu {
    int index = 0;
    std::string name;
    PeakMean util_percent, memory_used_bytes, power_w, temperature_c;
    uint64_t memory_total_bytes = 0;
  };
  std::vector<Gpu> gpus;
  std::string gpu_status;     // the probe's method, or "not available: ..."
  std::string server_status;  // "pid 1234 (port 11434)", or why the server is not monitored
};

HwSummary summarize_samples(const std::vector<HwSample>& samples);

struct MonitorOptions {
  int period_ms = 100;              // 10 Hz
  std::optional<int> server_port;   // a local server to find by its listening port
  std::optional<int> server_pid;    // or its pid, when known
  bool gpu = true;
  int gpu_period_ms = 1000;         // nvidia-smi is a process per reading: sample it at 1 Hz
};

class HardwareMonitor {
 public:
  explicit HardwareMonitor(MonitorOptions options = {});
  ~HardwareMonitor();
  HardwareMonitor(const HardwareMonitor&) = delete;
  HardwareMonitor& operator=(const HardwareMonitor&) = delete;

  void start();
  void stop();  // joins the thread; idempotent
  // Takes one sample now (also used by the thread).
  HwSample sample_now();
  std::vector<HwSample> samples() const;
  // Samples with index >= first, for storing them incrementally.
  std::vector<HwSample> samples_since(size_t first) const;
  HwSummary summary() const;
  const std::string& gpu_status() const { return gpu_status_; }
  const std::string& server_status() const { return server_status_; }

 private:
  void run(std::stop_token stop);
  std::optional<ProcessSample> sample_process(int pid, ProcessCpuTicks& previous,
                                              int64_t& previous_ns, bool& has_previous);

  MonitorOptions options_;
  std::unique_ptr<GpuProbe> gpu_;
  std::string gpu_status_, server_status_;
  std::optional<int> server_pid_;
  // Previous readings for CPU % deltas.
  ProcessCpuTicks self_previous_{}, server_previous_{};
  int64_t self_previous_ns_ = 0, server_previous_ns_ = 0;
  bool self_has_previous_ = false, server_has_previous_ = false;
  SystemCpuTicks system_previous_{};
  bool system_has_previous_ = false;
  int64_t last_gpu_ns_ = 0;
  std::mutex sampling_mutex_;
  mutable std::mutex mutex_;
  std::vector<HwSample> samples_;
  std::jthread thread_;
};

}  // namespace chimera::lab
