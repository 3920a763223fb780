// /proc readers for the hardware monitor. Each file has a parser over its text (tested with canned
// text) and a reader of the live file.
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "lab/hwmon.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

std::string proc_path(int pid, std::string_view leaf) {
  return pid == 0 ? fmt::format("/proc/self/{}", leaf) : fmt::format("/proc/{}/{}", pid, leaf);
}

// /proc files report size 0, so read them with plain stdio rather than the mmap-based helpers.
Result<std::string> read_proc_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return make_error(ErrorCode::kIoError, "{}: cannot open ({})", path, std::strerror(errno));
  }
  std::string text;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  std::fclose(f);
  return text;
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  auto v = parse_int(trim(text));
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

// "VmRSS:\t  12345 kB" -> bytes.
std::optional<uint64_t> kib_field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (starts_with(line, key) && line.size() > key.size() && line[key.size()] == ':') {
      std::string_view value = trim(line.substr(key.size() + 1));
      size_t space = value.find(' ');
      auto number = parse_u64(value.substr(0, space));
      if (!number) return std::nullopt;
      return *number * 1024;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<ProcessCpuTicks> parse_proc_pid_stat(std::string_view text) {
  // The command name (field 2) is in parentheses and may itself contain spaces or ')': fields
  // after it start at the last ')'. utime and stime are fields 14 and 15.
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) {
    return make_error(ErrorCode::kParseError, "/proc/PID/stat: no ')' after the command name");
  }
  std::vector<std::string> fields = split(trim(text.substr(close + 1)), ' ');
  // fields[0] is field 3 (state), so field k is fields[k - 3].
  if (fields.size() < 13) {
    return make_error(ErrorCode::kParseError, "/proc/PID/stat: {} fields after the name, need 13",
                      fields.size());
  }
  auto utime = parse_u64(fields[14 - 3]), stime = parse_u64(fields[15 - 3]);
  if (!utime || !stime) {
    return make_error(ErrorCode::kParseError, "/proc/PID/stat: utime '{}' / stime '{}' not numbers",
                      fields[14 - 3], fields[15 - 3]);
  }
  return ProcessCpuTicks{*utime, *stime};
}

Result<ProcessCpuTicks> read_process_cpu_ticks(int pid) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_proc_file(proc_path(pid, "stat")));
  return parse_proc_pid_stat(text);
}

Result<ProcessMemory> parse_proc_pid_status(std::string_view text) {
  auto rss = kib_field(text, "VmRSS"), peak = kib_field(text, "VmHWM");
  if (!rss || !peak) {
    return make_error(ErrorCode::kParseError,
                      "/proc/PID/status: VmRSS or VmHWM missing (a kernel thread or zombie?)");
  }
  return ProcessMemory{*rss, *peak};
}

Result<ProcessMemory> read_process_memory(int pid) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_proc_file(proc_path(pid, "status")));
  return parse_proc_pid_status(text);
}

Result<SystemCpuTicks> parse_proc_stat(std::string_view text) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time is already
  // inside user/nice, so it is not added again.
  if (!starts_with(text, "cpu ")) {
    return make_error(ErrorCode::kParseError, "/proc/stat: first line does not start with 'cpu '");
  }
  std::string_view line = text.substr(0, text.find('\n'));
  std::vector<uint64_t> values;
  for (const std::string& field : split(line.substr(4), ' ')) {
    if (field.empty()) continue;
    auto v = parse_u64(field);
    if (!v) return make_error(ErrorCode::kParseError, "/proc/stat: '{}' is not a number", field);
    values.push_back(*v);
  }
  if (values.size() < 4) {
    return make_error(ErrorCode::kParseError, "/proc/stat: {} cpu fields, need at least 4",
                      values.size());
  }
  SystemCpuTicks t;
  for (size_t i = 0; i < values.size() && i < 8; ++i) t.total += values[i];
  t.idle = values[3] + (values.size() > 4 ? values[4] : 0);
  return t;
}

Result<SystemCpuTicks> read_system_cpu_ticks() {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_proc_file("/proc/stat"));
  return parse_proc_stat(text);
}

Result<SystemMemory> parse_proc_meminfo(std::string_view text) {
  auto total = kib_field(text, "MemTotal"), available = kib_field(text, "MemAvailable");
  if (!total || !available) {
    return make_error(ErrorCode::kParseError, "/proc/meminfo: MemTotal or MemAvailable missing");
  }
  return SystemMemory{*total, *available};
}

Result<SystemMemory> read_system_memory() {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_proc_file("/proc/meminfo"));
  return parse_proc_meminfo(text);
}

std::vector<uint64_t> parse_listening_inodes(std::string_view text, int port) {
  // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
  // "   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 123456 ..."
  // The port is the hex after ':' in local_address; state 0A is LISTEN.
  std::vector<uint64_t> inodes;
  size_t pos = text.find('\n');  // skip the header
  while (pos != std::string_view::npos && pos < text.size()) {
    size_t end = text.find('\n', pos + 1);
    std::string_view line = text.substr(pos + 1, end == std::string_view::npos ? end : end - pos - 1);
    pos = end;
    std::vector<std::string> fields;
    for (std::string& f : split(trim(line), ' ')) {
      if (!f.empty()) fields.push_back(std::move(f));
    }
    if (fields.size() < 10 || fields[3] != "0A") continue;
    size_t colon = fields[1].rfind(':');
    if (colon == std::string::npos) continue;
    long local_port = std::strtol(fields[1].c_str() + colon + 1, nullptr, 16);
    if (local_port != port) continue;
    if (auto inode = parse_u64(fields[9]); inode && *inode != 0) inodes.push_back(*inode);
  }
  return inodes;
}

std::optional<int> find_listening_pid(int port) {
  std::vector<uint64_t> inodes;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = read_proc_file(path);
    if (!text.ok()) continue;
    for (uint64_t inode : parse_listening_inodes(*text, port)) inodes.push_back(inode);
  }
  if (inodes.empty()) return std::nullopt;
  std::vector<std::string> targets;
  for (uint64_t inode : inodes) targets.push_back(fmt::format("socket:[{}]", inode));
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::optional<int> found;
  while (dirent* entry = readdir(proc)) {
    auto pid = parse_int(entry->d_name);
    if (!pid) continue;
    std::string fd_dir = fmt::format("/proc/{}/fd", *pid);
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;  // another user's process: not readable without privileges
    while (dirent* fd = readdir(fds)) {
      char link[256];
      std::string path = fd_dir + "/" + fd->d_name;
      ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      std::string_view target(link, static_cast<size_t>(n));
      for (const std::string& t : targets) {
        if (target == t) found = static_cast<int>(*pid);
      }
      if (found) break;
    }
    closedir(fds);
    if (found) break;
  }
  closedir(proc);
  return found;
}

}  // namespace chimera::lab
