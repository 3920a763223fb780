// JSON forms of llm::Options and llm::CallRecord, lossless both ways, for `--json` output and the
// results store. Options use Ollama's names and native JSON types; unset options are absent.
#pragma once

#include <nlohmann/json.hpp>

#include "llm/types.h"
#include "util/status.h"

namespace chimera::lab {

nlohmann::json options_to_json(const llm::Options& options);
Result<llm::Options> options_from_json(const nlohmann::json& json);

nlohmann::json call_record_to_json(const llm::CallRecord& record);
Result<llm::CallRecord> call_record_from_json(const nlohmann::json& json);

llm::TokenCountSource token_count_source_from_name(std::string_view name);
ErrorCode error_code_from_name(std::string_view name);

}  // namespace chimera::lab
