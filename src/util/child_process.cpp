#include "util/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace chimera {
namespace {

constexpr size_t kOutputCap = 64 * 1024;

}  // namespace

ChildProcess::ChildProcess(int pid, int stderr_fd) : pid_(pid), stderr_fd_(stderr_fd) {
  reader_ = std::thread([this] {
    char buffer[4096];
    for (;;) {
      ssize_t n = ::read(stderr_fd_, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the child closed its end (exited)
      std::lock_guard lock(mutex_);
      output_.append(buffer, static_cast<size_t>(n));
      if (output_.size() > kOutputCap) output_.erase(0, output_.size() - kOutputCap);
    }
  });
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const std::vector<std::string>& argv,
                                                          const std::string& stdout_path) {
  if (argv.empty()) return make_error(ErrorCode::kInvalidArgument, "no program to start");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kIoError, "starting {}: pipe: {}", argv[0], std::strerror(errno));
  }
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int out_fd = -1;
  if (!stdout_path.empty()) {
    out_fd = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      int e = errno;
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      if (null_fd >= 0) ::close(null_fd);
      return make_error(ErrorCode::kIoError, "starting {}: cannot write its output to {}: {}", argv[0],
                        stdout_path, std::strerror(e));
    }
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    if (null_fd >= 0) ::close(null_fd);
    if (out_fd >= 0) ::close(out_fd);
    return make_error(ErrorCode::kIoError, "starting {}: fork: {}", argv[0], std::strerror(e));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
    }
    if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);  // sockets and files of the parent stay there
    ::execv(args[0], args.data());
    const char message[] = "exec failed\n";
    ssize_t ignored = ::write(STDERR_FILENO, message, sizeof(message) - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists before the child gets to run
  ::close(pipe_fds[1]);
  if (null_fd >= 0) ::close(null_fd);
  if (out_fd >= 0) ::close(out_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, pipe_fds[0]));
}

ChildProcess::~ChildProcess() {
  stop();
  if (reader_.joinable()) reader_.join();
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

void ChildProcess::reap(bool block) {
  if (reaped_) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    wait_status_ = status;
  }
}

bool ChildProcess::running() {
  reap(false);
  return !reaped_;
}

std::string ChildProcess::exit_status() {
  if (running()) return "running";
  if (WIFEXITED(wait_status_)) return fmt::format("exited with code {}", WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(wait_status_),
                       ::strsignal(WTERMSIG(wait_status_)));
  }
  return "ended";
}

bool ChildProcess::wait_succeeded() {
  if (!reaped_) {
    // Wait for the exit without reaping, so its pid (and process group id) cannot be reused yet;
    // then stop anything left in its group, which could hold the stderr pipe open; then reap.
    siginfo_t info{};
    int r;
    do {
      r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    ::kill(-pid_, SIGKILL);
    reap(true);
  }
  // All it wrote to stderr is read before output() is asked for it: the reader ends at the pipe's end.
  if (reader_.joinable()) reader_.join();
  return reaped_ && WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0;
}

std::string ChildProcess::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(-pid_, SIGTERM);  // its whole process group: anything it started goes too
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return;
    // Polling waitpid is the portable way to wait with a deadline for one child.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill_now();
}

void ChildProcess::kill_now() {
  if (!running()) return;
  ::kill(-pid_, SIGKILL);
  reap(true);
}

}  // namespace chimera
