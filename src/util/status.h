// Errors are values: Status for operations without a result, Result<T> for those with one.
// Messages name the thing, the value and what to do (STYLE.md); exceptions never cross layers.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace chimera {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed or out of range
  kNotFound,         // a file, model, key or tensor does not exist
  kIoError,          // the OS failed a read/write/mmap
  kParseError,       // input bytes do not follow their format (GGUF, JSON, CSV, NDJSON, SSE)
  kUnsupported,      // valid input this build does not handle (tensor type, architecture)
  kOutOfRange,       // a value exceeds a limit (context length, size cap)
  kUnavailable,      // a server did not answer, refused, or closed the connection
  kTimeout,          // a deadline passed
  kCancelled,        // the caller asked to stop
  kRemoteError,      // a server answered with an error of its own
  kResourceExhausted,// no capacity left (KV cache, queue)
  kInternal,         // a bug: an invariant did not hold
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "context: message", for adding the file or request an error happened in.
  Status with_context(std::string_view context) const;
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.is_ok()) status_ = Status(ErrorCode::kInternal, "Result built from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace chimera

#define CHIMERA_CONCAT_INNER(a, b) a##b
#define CHIMERA_CONCAT(a, b) CHIMERA_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is an error.
#define CHIMERA_RETURN_IF_ERROR(expr)                    \
  do {                                                   \
    ::chimera::Status chimera_status_ = (expr);          \
    if (!chimera_status_.is_ok()) return chimera_status_; \
  } while (0)

// `CHIMERA_ASSIGN_OR_RETURN(auto x, make_x());` declares x from a Result or returns its error.
#define CHIMERA_ASSIGN_OR_RETURN(decl, expr)                                   \
  auto CHIMERA_CONCAT(chimera_result_, __LINE__) = (expr);                     \
  if (!CHIMERA_CONCAT(chimera_result_, __LINE__).ok())                         \
    return CHIMERA_CONCAT(chimera_result_, __LINE__).status();                 \
  decl = std::move(CHIMERA_CONCAT(chimera_result_, __LINE__)).value()
