#pragma once
// A strided copy the backends share: runs of floats (a pixel's channels, say) gathered into a
// dense buffer a tile then reads with no large strides between its pixels.
#include <cstdint>
#include <cstring>

namespace convkit::detail {

// Copies `count` runs of `valid` floats, `in_step` apart, to consecutive runs of `width`
// floats, each zero past `valid`, in fixed-size chunks the compiler inlines (a library call per
// run costs more than the short copy).
inline void gather_runs(const float* in, int64_t in_step, int64_t count, int64_t valid, int64_t width, float* out) {
  constexpr int64_t kChunk = 16;
  for (int64_t i = 0; i < count; ++i, in += in_step, out += width) {
    int64_t c = 0;
    for (; c + kChunk <= valid; c += kChunk) std::memcpy(out + c, in + c, kChunk * sizeof(float));
    for (; c < valid; ++c) out[c] = in[c];
    for (; c < width; ++c) out[c] = 0.0f;
  }
}

}  // namespace convkit::detail
