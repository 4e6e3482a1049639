#pragma once
// The convolution calls the benchmark programs time, named once: convkit-layer-bench registers
// them as conv_<name>, convkit-bench takes the name with --dir, convkit-network-bench with
// --direction.
#include "bench_data.hpp"
#include "convkit/convkit.hpp"

namespace convkit::bench {

// Weights are either packed once outside the timed loop on both sides (oneDNN's reordered once
// to its layout), or given as HWIO to every call (oneDNN's reordered from HWIO in every run): a
// frozen network, or a training step's fresh weights.
struct ConvSeries {
  const char* name;
  Direction direction;
  bool packed_once;
};
inline constexpr ConvSeries kConvSeries[] = {
    {"fwd", Direction::forward, true},
    {"bwd_d", Direction::backward_data, false},
    {"bwd_d_packed", Direction::backward_data, true},
    {"bwd_w", Direction::backward_weights, false},  // takes no weights
};

// Every tensor a convolution touches, filled once per benchmark.
struct ConvData {
  explicit ConvData(const Conv2dParams& p)
      : x(random_floats(p.input_elements(), 1)), w(random_floats(p.weight_elements(), 2)),
        b(random_floats(p.out_c, 3)), dy(random_floats(p.output_elements(), 4)),
        y(static_cast<size_t>(p.output_elements())), dx(x.size()), dw(w.size()), db(b.size()) {}
  Buffer x, w, b, dy, y, dx, dw, db;
};

// What the timed loop holds on to: the series' packed weights, made outside it.
inline PackedWeights prepare(const Conv2d& conv, const ConvSeries& series, const ConvData& d) {
  return series.packed_once ? conv.pack_weights(d.w.data(), series.direction) : PackedWeights();
}

// One timed call; `packed` comes from prepare().
inline void run(const Conv2d& conv, const ConvSeries& series, ConvData& d, const PackedWeights& packed) {
  switch (series.direction) {
    case Direction::forward: conv.forward(d.x.data(), packed, d.b.data(), d.y.data()); break;
    case Direction::backward_data:
      if (series.packed_once) {
        conv.backward_data(d.dy.data(), packed, d.dx.data());
      } else {
        conv.backward_data(d.dy.data(), d.w.data(), d.dx.data());
      }
      break;
    case Direction::backward_weights: conv.backward_weights(d.x.data(), d.dy.data(), d.dw.data(), d.db.data()); break;
  }
}

}  // namespace convkit::bench
