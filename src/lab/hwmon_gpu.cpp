// NVIDIA GPU readings: NVML through dlopen with hand-declared prototypes (no NVML headers exist on
// these machines), else the nvidia-smi CSV query, else "not available".
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "lab/hwmon.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

// ---- NVML: the few entry points we use, declared from NVML's public API reference ----
using NvmlReturn = int;  // nvmlReturn_t; 0 = NVML_SUCCESS
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlUtilization {
  unsigned int gpu;     // percent of time a kernel ran over the last sample period
  unsigned int memory;  // percent of time memory was read or written
};
struct NvmlMemory {
  unsigned long long total, free, used;  // bytes
};
constexpr int kNvmlTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr unsigned int kNvmlNameLength = 96;

struct NvmlApi {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  NvmlReturn (*device_count)(unsigned int*);
  NvmlReturn (*device_by_index)(unsigned int, NvmlDevice*);
  NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*);
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*);
  NvmlReturn (*power_mw)(NvmlDevice, unsigned int*);
  NvmlReturn (*temperature)(NvmlDevice, int, unsigned int*);
  NvmlReturn (*name)(NvmlDevice, char*, unsigned int);
};

template <typename F>
bool load_symbol(void* library, const char* symbol, F& out) {
  void* address = dlsym(library, symbol);
  out = reinterpret_cast<F>(address);
  return address != nullptr;
}

class NvmlProbe : public GpuProbe {
 public:
  static std::unique_ptr<NvmlProbe> open(std::string* why) {
    void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      *why = "no libnvidia-ml.so.1 (NVIDIA driver not installed)";
      return nullptr;
    }
    NvmlApi api{};
    bool ok = load_symbol(library, "nvmlInit_v2", api.init) &&
              load_symbol(library, "nvmlShutdown", api.shutdown) &&
              load_symbol(library, "nvmlDeviceGetCount_v2", api.device_count) &&
              load_symbol(library, "nvmlDeviceGetHandleByIndex_v2", api.device_by_index) &&
              load_symbol(library, "nvmlDeviceGetUtilizationRates", api.utilization) &&
              load_symbol(library, "nvmlDeviceGetMemoryInfo", api.memory) &&
              load_symbol(library, "nvmlDeviceGetPowerUsage", api.power_mw) &&
              load_symbol(library, "nvmlDeviceGetTemperature", api.temperature) &&
              load_symbol(library, "nvmlDeviceGetName", api.name);
    if (!ok) {
      *why = "libnvidia-ml.so.1 lacks an expected NVML entry point";
      dlclose(library);
      return nullptr;
    }
    if (NvmlReturn rc = api.init(); rc != 0) {
      *why = fmt::format("nvmlInit_v2 failed (NVML error {})", rc);
      dlclose(library);
      return nullptr;
    }
    unsigned int count = 0;
    if (api.device_count(&count) != 0 || count == 0) {
      *why = "NVML found no GPU";
      api.shutdown();
      dlclose(library);
      return nullptr;
    }
    auto probe = std::unique_ptr<NvmlProbe>(new NvmlProbe(library, api));
    for (unsigned int i = 0; i < count; ++i) {
      NvmlDevice device = nullptr;
      if (api.device_by_index(i, &device) != 0) continue;
      char name[kNvmlNameLength] = {};
      std::string device_name = api.name(device, name, kNvmlNameLength) == 0 ? name : "";
      probe->devices_.push_back({static_cast<int>(i), device, device_name});
    }
    return probe;
  }

  ~NvmlProbe() override {
    api_.shutdown();
    dlclose(library_);
  }

  std::vector<GpuSample> sample() override {
    std::vector<GpuSample> out;
    for (const Device& d : devices_) {
      GpuSample s;
      s.index = d.index;
      s.name = d.name;
      NvmlUtilization util{};
      if (api_.utilization(d.handle, &util) == 0) s.util_percent = util.gpu;
      NvmlMemory memory{};
      if (api_.memory(d.handle, &memory) == 0) {
        s.memory_used_bytes = memory.used;
        s.memory_total_bytes = memory.total;
      }
      unsigned int milliwatts = 0;
      if (api_.power_mw(d.handle, &milliwatts) == 0) s.power_w = milliwatts / 1000.0;
      unsigned int celsius = 0;
      if (api_.temperature(d.handle, kNvmlTemperatureGpu, &celsius) == 0) s.temperature_c = celsius;
      out.push_back(std::move(s));
    }
    return out;
  }

  std::string method() const override { return "NVML (libnvidia-ml.so.1)"; }

 private:
  struct Device {
    int index;
    NvmlDevice handle;
    std::string name;
  };
  NvmlProbe(void* library, NvmlApi api) : library_(library), api_(api) {}
  void* library_;
  NvmlApi api_;
  std::vector<Device> devices_;
};

// ---- nvidia-smi ----

constexpr const char* kNvidiaSmiQuery =
    "nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,power.draw,"
    "temperature.gpu --format=csv,noheader,nounits 2>/dev/null";

bool executable_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (const std::string& dir : split(path, ':')) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

Result<std::string> run_nvidia_smi() {
  FILE* pipe = popen(kNvidiaSmiQuery, "r");
  if (pipe == nullptr) return make_error(ErrorCode::kUnavailable, "cannot start nvidia-smi");
  std::string out;
  char buffer[1024];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  int status = pclose(pipe);
  if (status != 0) return make_error(ErrorCode::kUnavailable, "nvidia-smi exited with {}", status);
  return out;
}

class NvidiaSmiProbe : public GpuProbe {
 public:
  std::vector<GpuSample> sample() override {
    auto text = run_nvidia_smi();
    return text.ok() ? parse_nvidia_smi_csv(*text) : std::vector<GpuSample>{};
  }
  std::string method() const override { return "nvidia-smi"; }
};

std::optional<double> csv_number(std::string_view field) {
  return parse_double(trim(field));  // "[N/A]", "[Not Supported]" do not parse: unset
}

}  // namespace

std::vector<GpuSample> parse_nvidia_smi_csv(std::string_view text) {
  std::vector<GpuSample> out;
  for (const std::string& raw_line : split(text, '\n')) {
    std::string_view line = trim(raw_line);
    if (line.empty()) continue;
    std::vector<std::string> fields = split(line, ',');
    if (fields.size() < 7) continue;
    auto index = parse_int(trim(fields[0]));
    if (!index) continue;
    GpuSample s;
    s.index = static_cast<int>(*index);
    s.name = std::string(trim(fields[1]));
    s.util_percent = csv_number(fields[2]);
    constexpr double kMiB = 1024.0 * 1024.0;  // nounits memory is in MiB
    if (auto used = csv_number(fields[3])) s.memory_used_bytes = static_cast<uint64_t>(*used * kMiB);
    if (auto total = csv_number(fields[4])) {
      s.memory_total_bytes = static_cast<uint64_t>(*total * kMiB);
    }
    s.power_w = csv_number(fields[5]);
    s.temperature_c = csv_number(fields[6]);
    out.push_back(std::move(s));
  }
  return out;
}

std::unique_ptr<GpuProbe> open_gpu_probe(std::string* why) {
  std::string nvml_why;
  if (auto nvml = NvmlProbe::open(&nvml_why)) return nvml;
  if (executable_on_path("nvidia-smi")) {
    auto probe = std::make_unique<NvidiaSmiProbe>();
    if (!probe->sample().empty()) return probe;
    *why = fmt::format("not available: {}; nvidia-smi reported no GPU", nvml_why);
    return nullptr;
  }
  *why = fmt::format("not available: {}; no nvidia-smi on PATH", nvml_why);
  return nullptr;
}

}  // namespace chimera::lab
