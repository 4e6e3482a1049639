#pragma once
// What Conv2d and Pool2d share: choosing a backend and checking a call's arguments.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend.hpp"

namespace convkit::detail {

// Resolves Options.backend (and CONVKIT_BACKEND for "auto") to a registry row, or throws
// convkit::Error: an unknown name lists the known ones, a declining backend gives its reason.
// With CONVKIT_VERBOSE=1 the choice and its cause go to stderr, one line per plan.
// "tune" asks tune_choice, "auto" asks auto_choice.
template <class Backend, class Params, class AutoChoice, class TuneChoice>
const Backend& choose_backend(const std::vector<Backend>& table, const Params& p, const Options& options,
                              AutoChoice auto_choice, TuneChoice tune_choice, const char* kind) {
  std::string name = options.backend, cause = "Options.backend";
  if (name == "auto") {
    const char* env = std::getenv("CONVKIT_BACKEND");
    if (env != nullptr && *env != '\0') name = env, cause = "CONVKIT_BACKEND";
  }
  const Backend* chosen = nullptr;
  if (name == "auto" || name == "tune") {
    chosen = name == "auto" ? &auto_choice(p) : &tune_choice(p);
    cause = name;
  } else {
    for (const Backend& b : table) {
      if (name == b.name) chosen = &b;
    }
    if (chosen == nullptr) {
      std::string known;
      for (const Backend& b : table) known += std::string(b.name) + ", ";
      throw Error("convkit: " + cause + " = \"" + name + "\" is not a " + kind + " backend (known: " + known + "auto, tune)");
    }
    const std::string reason = chosen->decline_reason(p);
    if (!reason.empty()) {
      throw Error("convkit: " + cause + " = \"" + name + "\" declines " + to_string(p) + ": " + reason);
    }
  }
  const char* verbose = std::getenv("CONVKIT_VERBOSE");
  if (verbose != nullptr && std::string(verbose) == "1") {
    std::fprintf(stderr, "convkit: %s %s -> %s (%s)\n", kind, to_string(p).c_str(), chosen->name, cause.c_str());
  }
  return *chosen;
}

inline void require_pointer(const void* ptr, const char* call, const char* argument) {
  if (ptr == nullptr) throw Error(std::string("convkit: ") + call + ": " + argument + " is null");
}

inline void require_threads(int threads) {
  if (threads < 0) throw Error("convkit: Options.threads = " + std::to_string(threads) + " must be >= 0");
}

}  // namespace convkit::detail
