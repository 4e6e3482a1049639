#pragma once
// What Conv2d and Pool2d share: resolving the backend asked for and checking a call's arguments.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend.hpp"

namespace convkit::detail {

// What the caller asked for: Options.backend, with CONVKIT_BACKEND standing in for "auto".
struct BackendRequest {
  std::string name;   // a registered name, "auto" or "tune"
  std::string cause;  // where the name came from, for messages
};

inline BackendRequest backend_request(const Options& options) {
  if (options.backend == "auto") {
    const char* env = std::getenv("CONVKIT_BACKEND");
    if (env != nullptr && *env != '\0') return {env, "CONVKIT_BACKEND"};
  }
  return {options.backend, "Options.backend"};
}

// Options.math, or CONVKIT_MATH when set (for the whole process): "strict" or "fast", any other
// value a convkit::Error naming it.
inline Math math_request(const Options& options) {
  const char* env = std::getenv("CONVKIT_MATH");
  if (env == nullptr || *env == '\0') return options.math;
  const std::string value = env;
  for (Math math : {Math::strict, Math::fast}) {
    if (value == math_name(math)) return math;
  }
  throw Error("convkit: CONVKIT_MATH = \"" + value + "\" is not a Math (strict or fast)");
}

// The registry row a request names, or convkit::Error: an unknown name lists the known ones,
// a declining backend gives its reason (never a silent fallback).
template <class Backend, class Params>
const Backend& named_backend(const std::vector<Backend>& table, const Params& p, const BackendRequest& request,
                             const char* kind) {
  for (const Backend& b : table) {
    if (request.name != b.name) continue;
    const std::string reason = b.decline_reason(p);
    if (!reason.empty()) {
      throw Error("convkit: " + request.cause + " = \"" + request.name + "\" declines " + to_string(p) + ": " + reason);
    }
    return b;
  }
  std::string known;
  for (const Backend& b : table) known += std::string(b.name) + ", ";
  throw Error("convkit: " + request.cause + " = \"" + request.name + "\" is not a " + kind + " backend (known: " + known +
              "auto, tune)");
}

// The rows a convolution asked for by name runs: the named row for each direction it
// implements, the rows it names for the others (conv2d.cpp). convkit::Error when the name is
// unknown or a row declines the problem.
ConvChoice named_conv_choice(const std::vector<ConvBackend>& table, const Conv2dParams& p,
                             const BackendRequest& request);

// With CONVKIT_VERBOSE=1, one line per plan on stderr: the problem, the choice and its cause.
inline void log_choice(const char* kind, const std::string& problem, const std::string& choice, const std::string& why) {
  const char* verbose = std::getenv("CONVKIT_VERBOSE");
  if (verbose != nullptr && std::string(verbose) == "1") {
    std::fprintf(stderr, "convkit: %s %s -> %s (%s)\n", kind, problem.c_str(), choice.c_str(), why.c_str());
  }
}

inline void require_pointer(const void* ptr, const char* call, const char* argument) {
  if (ptr == nullptr) throw Error(std::string("convkit: ") + call + ": " + argument + " is null");
}

inline void require_threads(int threads) {
  if (threads < 0) throw Error("convkit: Options.threads = " + std::to_string(threads) + " must be >= 0");
}

}  // namespace convkit::detail
