#include "server/json_util.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <ctime>

#include "util/strings.h"

namespace chimera::server {
namespace {

// Deepest nesting of [ and { outside strings; stops counting once past the limit.
int nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

bool is_integral(double value) { return std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15; }

// Follows a document through nlohmann's SAX events to say where parsing stopped, as a field path
// ("options.temperature", "messages[2].content"): the DOM parser's errors give only an offset.
class PathTracker final : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    frames_.push_back({false, 0, {}});
    return true;
  }
  bool key(string_t& key) override {
    frames_.back().key = key;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override {
    frames_.push_back({true, 0, {}});
    return true;
  }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string& last_token, const nlohmann::detail::exception&) override {
    token_ = last_token;
    for (const Frame& f : frames_) {
      if (f.array) {
        path_ += fmt::format("[{}]", f.index);
      } else if (!f.key.empty()) {
        path_ += (path_.empty() ? "" : ".") + f.key;
      }
    }
    return false;
  }
  const std::string& path() const { return path_; }
  const std::string& token() const { return token_; }

 private:
  struct Frame {
    bool array;
    size_t index;
    std::string key;
  };
  bool value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  bool close() {
    frames_.pop_back();
    return value();
  }
  std::vector<Frame> frames_;
  std::string path_, token_;
};

}  // namespace

Result<Json> parse_json_object(std::string_view body) {
  if (trim(body).empty()) {
    return make_error(ErrorCode::kParseError, "the request body is empty; send a JSON object");
  }
  if (nesting_depth(body) > kMaxJsonDepth) {
    return make_error(ErrorCode::kParseError, "the request body nests JSON deeper than {} levels", kMaxJsonDepth);
  }
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::exception& e) {
    PathTracker tracker;
    Json::sax_parse(body, &tracker);
    const std::string where = tracker.path().empty() ? std::string() : fmt::format(" (at {})", tracker.path());
    if (e.id == 406) {  // out_of_range: a number beyond a double, such as 1e999
      return make_error(ErrorCode::kInvalidArgument, "{} is out of range: {} is larger than a 64-bit float can hold",
                        tracker.path().empty() ? std::string("a number") : tracker.path(), tracker.token());
    }
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    std::string what = e.what();
    size_t cut = what.find("] ");
    return make_error(ErrorCode::kParseError, "the request body is not valid JSON{}: {}", where,
                      cut == std::string::npos ? what : what.substr(cut + 2));
  }
  if (!parsed.is_object()) {
    return make_error(ErrorCode::kParseError, "the request body is {}; send a JSON object", json_type_name(parsed));
  }
  return parsed;
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            out += fmt::format("\\u{:04x}", c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A multi-byte character passes through only when it is complete and valid.
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len != 0 && i + len <= text.size() && is_valid_utf8(text.substr(i, len))) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out += '"';
}

int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_utc(int64_t unix_ns) {
  std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  int64_t fraction = unix_ns % 1'000'000'000;
  if (fraction < 0) {
    fraction += 1'000'000'000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
}

std::string rfc3339_utc_now() { return rfc3339_utc(unix_now_ns()); }

std::string json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

namespace {

// The value as it appeared, shortened, for error messages.
std::string shown(const Json& value) {
  std::string text = dump_json(value);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

const Json* field(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key, std::string_view where) {
  const Json* value = field(object, key);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be a string, not {} ({})", where, json_type_name(*value),
                      shown(*value));
  }
  return std::optional<std::string>(value->get<std::string>());
}

Result<std::optional<bool>> optional_bool(const Json& object, std::string_view key, std::string_view where) {
  const Json* value = field(object, key);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_boolean()) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be true or false, not {} ({})", where,
                      json_type_name(*value), shown(*value));
  }
  return std::optional<bool>(value->get<bool>());
}

Result<std::optional<int64_t>> optional_int(const Json& object, std::string_view key, std::string_view where) {
  const Json* value = field(object, key);
  if (value == nullptr) return std::optional<int64_t>();
  if (value->is_number_integer()) return std::optional<int64_t>(value->get<int64_t>());
  if (value->is_number_unsigned()) {
    uint64_t u = value->get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return std::optional<int64_t>(static_cast<int64_t>(u));
  }
  if (value->is_number_float() && is_integral(value->get<double>())) {
    return std::optional<int64_t>(static_cast<int64_t>(value->get<double>()));
  }
  return make_error(ErrorCode::kInvalidArgument, "{} must be an integer, not {} ({})", where,
                    value->is_number() ? "a fraction or an out-of-range number" : json_type_name(*value),
                    shown(*value));
}

Result<std::optional<double>> optional_number(const Json& object, std::string_view key, std::string_view where) {
  const Json* value = field(object, key);
  if (value == nullptr) return std::optional<double>();
  if (!value->is_number()) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be a number, not {} ({})", where, json_type_name(*value),
                      shown(*value));
  }
  return std::optional<double>(value->get<double>());
}

}  // namespace chimera::server
