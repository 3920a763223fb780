// Validates JSON texts against a JSON Schema with Python's `jsonschema` (the reference
// implementation, Draft 2020-12 unless the schema says otherwise, formats checked), so that the
// tests of constrained decoding never judge the grammar compiler with its own reading of the
// schema. Header-only: the engine and server suites both use it.
#pragma once

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace chimera::testing {

struct SchemaCheck {
  bool available = false;          // python3 with jsonschema was found
  std::string unavailable_reason;  // why not, for GTEST_SKIP
  // One entry per instance: empty when it parsed and validated, else the reason.
  std::vector<std::string> errors;
};

inline SchemaCheck check_against_schema(const std::string& schema_json,
                                        const std::vector<std::string>& instances) {
  SchemaCheck result;
  TempDir dir;
  {
    std::ofstream(dir.file("schema.json")) << schema_json;
    std::ofstream(dir.file("instances.json"))
        << nlohmann::json(instances).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::ofstream(dir.file("check.py")) << R"PY(
import json, sys
try:
    import jsonschema
except ImportError:
    print("UNAVAILABLE python3 has no jsonschema module (apt-get install python3-jsonschema)")
    sys.exit(0)
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
for text in json.load(open(sys.argv[2])):
    try:
        value = json.loads(text)
    except Exception as e:
        print("ERROR not JSON: %s" % e)
        continue
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    print("ERROR " + "; ".join("%s at %s" % (e.message, list(e.path)) for e in errors) if errors else "OK")
)PY";
  }
  const std::string command = "python3 " + dir.file("check.py") + " " + dir.file("schema.json") +
                              " " + dir.file("instances.json") + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    result.unavailable_reason = "python3 could not be started";
    return result;
  }
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe.get())) output.append(buffer, n);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    lines.push_back(output.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty() || lines[0].rfind("UNAVAILABLE", 0) == 0 ||
      lines[0].find("not found") != std::string::npos) {
    result.unavailable_reason = lines.empty() ? "python3 printed nothing" : lines[0];
    return result;
  }
  result.available = true;
  for (const std::string& line : lines) {
    if (line == "OK") {
      result.errors.emplace_back();
    } else if (line.rfind("ERROR ", 0) == 0) {
      result.errors.push_back(line.substr(6));
    } else {
      result.errors.push_back("unexpected validator output: " +
                              line);  // a traceback: the schema itself
    }
  }
  while (result.errors.size() < instances.size())
    result.errors.emplace_back("no verdict from the validator");
  return result;
}

}  // namespace chimera::testing
