// Hardware monitor: parsers on canned /proc and nvidia-smi text, and real /proc readings of this
// process (its RSS must grow when it touches 200 MB; its CPU % must rise when it spins).
#include "lab/hwmon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <ctime>

#include <atomic>
#include <cstring>
#include <vector>

#include "util/clock.h"

namespace chimera::lab {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

MonitorOptions fast_cpu_only(int period_ms) {
  MonitorOptions o;
  o.period_ms = period_ms;
  o.gpu = false;
  return o;
}

TEST(ProcParsers, PidStatWithAwkwardCommandName) {
  // proc(5): fields 14 and 15 are utime and stime. The command name may contain spaces and ')'.
  std::string text =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 3 0 100 "
      "1000000 250 18446744073709551615\n";
  auto ticks = parse_proc_pid_stat(text);
  ASSERT_TRUE(ticks.ok()) << ticks.status().message();
  EXPECT_EQ(ticks->user_ticks, 1234u);
  EXPECT_EQ(ticks->system_ticks, 567u);
  EXPECT_FALSE(parse_proc_pid_stat("garbage").ok());
}

TEST(ProcParsers, StatusMeminfoAndStat) {
  auto memory = parse_proc_pid_status("Name:\tchimera\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n");
  ASSERT_TRUE(memory.ok());
  EXPECT_EQ(memory->rss_bytes, 100 * kMiB);
  EXPECT_EQ(memory->peak_rss_bytes, 200 * kMiB);
  EXPECT_FALSE(parse_proc_pid_status("Name:\tkthreadd\n").ok());

  auto meminfo = parse_proc_meminfo(
      "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   12288000 kB\n");
  ASSERT_TRUE(meminfo.ok());
  EXPECT_EQ(meminfo->total_bytes, 24576000ull * 1024);
  EXPECT_EQ(meminfo->used_bytes(), 12288000ull * 1024);

  // user nice system idle iowait irq softirq steal guest guest_nice: total 1000, idle + iowait 850.
  auto cpu = parse_proc_stat("cpu  100 0 50 800 50 0 0 0 7 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->total, 1000u);
  EXPECT_EQ(cpu->idle, 850u);
}

TEST(ProcParsers, ListeningInodesOnAPort) {
  // Port 11434 = 0x2CAA. Only the LISTEN (0A) row counts, not the established (01) one.
  std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
      "inode\n"
      "   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
      "987654 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:2CAA 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 "
      "111111 1 0000000000000000 20 4 30 10 -1\n"
      "   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
      "222222 1 0000000000000000 100 0 0 10 0\n";
  auto inodes = parse_listening_inodes(text, 11434);
  ASSERT_EQ(inodes.size(), 1u);
  EXPECT_EQ(inodes[0], 987654u);
  EXPECT_TRUE(parse_listening_inodes(text, 8080).empty());
}

TEST(ProcReaders, FindsTheProcessListeningOnAPort) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  auto pid = find_listening_pid(port);
  close(fd);
  ASSERT_TRUE(pid.has_value());
  EXPECT_EQ(*pid, getpid());
  EXPECT_FALSE(find_listening_pid(port).has_value());  // closed: nobody listens any more
}

TEST(NvidiaSmi, ParsesCsvWithMissingFields) {
  std::string text =
      "0, NVIDIA H100 80GB HBM3, 37, 1024, 81559, 71.42, 33\n"
      "1, Tesla T4, [N/A], 0, 15360, [Not Supported], 40\n";
  auto gpus = parse_nvidia_smi_csv(text);
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_DOUBLE_EQ(*gpus[0].util_percent, 37);
  EXPECT_EQ(*gpus[0].memory_used_bytes, 1024 * kMiB);
  EXPECT_EQ(*gpus[0].memory_total_bytes, 81559 * kMiB);
  EXPECT_DOUBLE_EQ(*gpus[0].power_w, 71.42);
  EXPECT_DOUBLE_EQ(*gpus[0].temperature_c, 33);
  EXPECT_EQ(gpus[1].index, 1);
  EXPECT_FALSE(gpus[1].util_percent.has_value());
  EXPECT_FALSE(gpus[1].power_w.has_value());
  EXPECT_DOUBLE_EQ(*gpus[1].temperature_c, 40);
}

TEST(Gpu, ProbeEitherReadsAGpuOrSaysWhyNot) {
  std::string why;
  auto probe = open_gpu_probe(&why);
  if (probe == nullptr) {
    EXPECT_EQ(why.rfind("not available: ", 0), 0u) << why;
    return;
  }
  // A machine with a GPU: every GPU reports its memory size.
  auto gpus = probe->sample();
  ASSERT_FALSE(gpus.empty()) << probe->method();
  for (const GpuSample& g : gpus) {
    ASSERT_TRUE(g.memory_total_bytes.has_value()) << g.name;
    EXPECT_GT(*g.memory_total_bytes, 1024 * kMiB) << g.name;
  }
}

TEST(ProcReaders, RssGrowsWhenThisProcessTouches200MB) {
  auto before = read_process_memory(0);
  ASSERT_TRUE(before.ok()) << before.status().message();
  HardwareMonitor monitor(fast_cpu_only(20));
  monitor.start();
  std::vector<char> block(200 * kMiB);
  std::memset(block.data(), 1, block.size());  // touch every page so it becomes resident
  auto after = read_process_memory(0);
  monitor.stop();
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->rss_bytes, before->rss_bytes + 190 * kMiB);
  EXPECT_GE(after->peak_rss_bytes, after->rss_bytes);
  HwSummary summary = monitor.summary();
  EXPECT_GE(summary.samples, 2u);
  EXPECT_GE(summary.process_rss_bytes.peak, static_cast<double>(before->rss_bytes + 190 * kMiB));
  EXPECT_GE(summary.process_peak_rss_bytes, before->rss_bytes + 190 * kMiB);
  // System memory is read too: used is part of total, and total is at least our 200 MB.
  EXPECT_GT(summary.system_memory_total_bytes, 200 * kMiB);
  EXPECT_LE(summary.system_memory_used_bytes.peak,
            static_cast<double>(summary.system_memory_total_bytes));
  EXPECT_EQ(summary.gpu_status, "not monitored (disabled)");
  volatile char sink = block[block.size() / 2];
  (void)sink;
}

TEST(ProcReaders, CpuPercentRisesWhileThisProcessSpins) {
  HardwareMonitor monitor(fast_cpu_only(50));
  monitor.start();
  // Spin one thread for 600 ms of wall time. On an idle core that is ~100 % of one core; on a
  // shared machine it is whatever share the scheduler gave, which the thread's own CPU clock says.
  timespec cpu_start{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start);
  const int64_t start = monotonic_ns();
  const int64_t end = start + 600'000'000;
  volatile uint64_t counter = 0;
  while (monotonic_ns() < end) counter = counter + 1;
  timespec cpu_end{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
  const double spun_percent =
      100.0 * ((cpu_end.tv_sec - cpu_start.tv_sec) * 1e9 + (cpu_end.tv_nsec - cpu_start.tv_nsec)) /
      static_cast<double>(monotonic_ns() - start);
  monitor.stop();
  HwSummary summary = monitor.summary();
  ASSERT_GT(summary.process_cpu_percent.n, 3u);
  // The monitor sees at least most of what the spinning thread got (its samples also cover the
  // start and stop, where the process is idle, so allow a margin).
  EXPECT_GT(summary.process_cpu_percent.mean, 0.6 * spun_percent) << "spun " << spun_percent << "%";
  EXPECT_LT(summary.process_cpu_percent.peak, 100.0 * 64);  // per-core percent, bounded by cores
  EXPECT_GT(summary.system_cpu_percent.n, 0u);
  EXPECT_GT(summary.system_cpu_percent.peak, 0.0);
}

TEST(Summary, MeansAndPeaksByHand) {
  std::vector<HwSample> samples(3);
  double cpu[] = {10, 30, 50};
  for (int i = 0; i < 3; ++i) {
    samples[i].t_ns = i * 100'000'000LL;
    samples[i].process.cpu_percent = cpu[i];
    samples[i].process.rss_bytes = (i + 1) * kMiB;
    samples[i].process.peak_rss_bytes = 5 * kMiB;
    GpuSample g;
    g.index = 0;
    g.util_percent = 20.0 * i;
    g.power_w = 100 + i;
    samples[i].gpus.push_back(g);
  }
  samples[0].process.cpu_percent.reset();  // the first sample has no CPU % yet
  HwSummary s = summarize_samples(samples);
  EXPECT_EQ(s.samples, 3u);
  EXPECT_DOUBLE_EQ(s.duration_s, 0.2);
  EXPECT_EQ(s.process_cpu_percent.n, 2u);
  EXPECT_DOUBLE_EQ(s.process_cpu_percent.mean, 40);
  EXPECT_DOUBLE_EQ(s.process_cpu_percent.peak, 50);
  EXPECT_DOUBLE_EQ(s.process_rss_bytes.peak, 3.0 * kMiB);
  ASSERT_EQ(s.gpus.size(), 1u);
  EXPECT_DOUBLE_EQ(s.gpus[0].util_percent.mean, 20);
  EXPECT_DOUBLE_EQ(s.gpus[0].power_w.peak, 102);
}

}  // namespace
}  // namespace chimera::lab
