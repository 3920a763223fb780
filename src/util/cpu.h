// What this processor can do, read from CPUID and /proc at run time (never assumed at build time).
#pragma once

#include <cstdint>
#include <string>

namespace chimera {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx_vnni = false;
  bool amx_int8 = false;  // detected and reported only: AMX is not used (it crashes on these VMs)
  bool os_saves_zmm = false;  // XCR0 says the OS saves AVX-512 state

  bool has_avx2_path() const { return avx2 && fma && f16c; }
  bool has_avx512_path() const {
    return avx512f && avx512bw && avx512vl && avx512dq && os_saves_zmm && has_avx2_path();
  }
};

const CpuFeatures& cpu_features();
// "Intel(R) Xeon(R) Processor @ 2.50GHz"
std::string cpu_model_name();
// Physical cores (unique core ids per package), falling back to logical CPUs.
int physical_core_count();
int logical_cpu_count();
// Physical memory of the machine (sysconf), 0 when unknown.
int64_t physical_memory_bytes();
// "AVX2 FMA F16C AVX512F AVX512BW AVX512VL AVX512_VNNI" for self-describing rows.
std::string cpu_feature_string();

}  // namespace chimera
