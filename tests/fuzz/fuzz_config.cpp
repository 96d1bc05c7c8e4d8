// libFuzzer harness for the run configuration: a JSON config file (the
// input up to its first NUL byte) and `--set key=value` overrides (the
// lines after it). Bad input must be refused with std::invalid_argument; a
// config that validates must survive to_json -> apply -> to_json unchanged.
#include <stdexcept>

#include "app/config.h"

using namespace hc;
using json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string file = input.substr(0, nul);
  RunConfig c;
  try {
    const json j = json::parse(file, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    if (j.is_discarded()) return 0;  // load_config refuses it with "not valid JSON"
    c.apply(j, "fuzz-config");
    if (nul != std::string::npos) {
      size_t at = nul + 1;
      while (at <= input.size()) {
        const size_t end = std::min(input.find('\n', at), input.size());
        c.apply_override(input.substr(at, end - at));
        at = end + 1;
      }
    }
    c.validate();
  } catch (const std::invalid_argument&) {
    return 0;
  }
  RunConfig back;
  back.apply(c.to_json(), "round trip");
  back.validate();
  if (back.to_json() != c.to_json()) __builtin_trap();
  return 0;
}
