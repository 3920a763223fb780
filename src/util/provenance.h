// Every figure printed or written carries where it came from (ARCHITECTURE.md, "Metrics vocabulary").
#pragma once

#include <optional>
#include <string_view>

namespace chimera {

enum class Provenance {
  kMeasured,   // observed by this run
  kDerived,    // computed from measured figures
  kExpected,   // a target or someone else's number
  kSynthetic,  // measured on a model with dummy weights: timings real, text meaningless
};

constexpr std::string_view provenance_name(Provenance p) {
  switch (p) {
    case Provenance::kMeasured: return "measured";
    case Provenance::kDerived: return "derived";
    case Provenance::kExpected: return "expected";
    case Provenance::kSynthetic: return "synthetic";
  }
  return "unknown";
}

inline std::optional<Provenance> provenance_from_name(std::string_view name) {
  for (Provenance p : {Provenance::kMeasured, Provenance::kDerived, Provenance::kExpected,
                       Provenance::kSynthetic}) {
    if (provenance_name(p) == name) return p;
  }
  return std::nullopt;
}

}  // namespace chimera
