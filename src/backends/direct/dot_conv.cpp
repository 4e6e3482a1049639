// The dot form (dot_conv.hpp).
#include "backends/direct/dot_conv.hpp"

#include "threading.hpp"

namespace convkit::detail::direct {

// Output channels (forward input channels) one work item covers: as many whole channel tiles
// as keep their HWIO weights (every tap, every reduced channel) within 256 KB, so the pixel
// tiles of a thread's rows reread them from L2 rather than L3.
int64_t dot_channel_block(const DirectProblem& d, const DirectConvKernels& k) {
  constexpr int64_t kBudgetFloats = (256 * 1024) / sizeof(float);
  const int64_t per_channel = d.kernel_h * d.kernel_w * d.reduce_per_group;
  const int64_t tiles = std::max<int64_t>(1, kBudgetFloats / (per_channel * k.dot_max_channels));
  return std::min(tiles * k.dot_max_channels, d.out_per_group);
}

// Rows [line_begin, line_end) of image n, group g, channel block cblock of the problem d, in
// run_dot's layout. Blocking the reduction for cache measured slower on the layers this form
// runs (small images, whose whole working set sits in L2).
static void run_dot_lines(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* w,
                          const float* bias, float* y, Activation activation, int64_t n, int64_t g, int64_t cblock,
                          int64_t line_begin, int64_t line_end) {
  const int64_t c_begin = cblock * d.dot_block, channels = std::min(d.dot_block, d.out_per_group - c_begin);
  const int64_t max_pixels = k.dot_max_pixels, max_channels = k.dot_max_channels;
  const int64_t w_row = d.in_c, w_tap = d.out_per_group * d.in_c;
  const int64_t x_channel = g * d.reduce_per_group, y_channel = g * d.out_per_group + c_begin;
  DirectDotTile t{};
  t.reduce = d.reduce_per_group;
  t.w_channel_stride = w_row;
  t.activation = activation;
  for_each_rectangle(d, n, line_begin, line_end, Tiling{max_pixels, false}, [&](const Rectangle& r) {
    t.taps_h = r.rows.taps;
    t.taps_w = r.cols.taps;
    t.x_tap_h = r.rows.input_step * d.in_w * d.in_c;
    t.x_tap_w = r.cols.input_step * d.in_c;
    t.w_tap_h = r.rows.tap_step * d.kernel_w * w_tap;
    t.w_tap_w = r.cols.tap_step * w_tap;
    const float* w_first = w + (r.rows.first_tap * d.kernel_w + r.cols.first_tap) * w_tap + c_begin * w_row + x_channel;
    t.x_pixel_stride = r.x_pixel_step;
    t.y_pixel_stride = r.y_pixel_step;
    for_each_even_tile(r, [&](int64_t x_offset, int64_t y_offset, int64_t pixels) {
      t.pixels = pixels;
      t.x = r.reads_input ? x + x_channel + x_offset : x;
      float* y_tile = y + y_channel + y_offset;
      for (int64_t c = 0; c < channels; c += max_channels) {
        t.channels = std::min(max_channels, channels - c);
        t.w = w_first + c * w_row;
        t.bias = bias != nullptr ? bias + y_channel + c : nullptr;
        t.y = y_tile + c;
        k.dot_tile[pixels - 1][t.channels - 1](t);
      }
    });
  });
}

void run_dot(const DirectProblem& d, const DirectConvKernels& k, const float* x, const float* w, const float* bias,
             float* y, Activation activation, int threads) {
  const int64_t rows = d.out_h, cblocks = ceil_div(d.out_per_group, d.dot_block);
  const int64_t total = d.batch * d.groups * cblocks * rows;
  run_team(threads, [&](int thread, int team) {
    const Share share = share_of(total, thread, team);
    for (int64_t item = share.begin; item < share.end;) {
      const auto [n, g, cb, row] = line_item(item, rows, cblocks, d.groups);
      const int64_t row_end = std::min(rows, row + (share.end - item));
      run_dot_lines(d, k, x, w, bias, y, activation, n, g, cb, row, row_end);
      item += row_end - row;
    }
  });
}

void pack_dot_forward(const Conv2dParams& p, const DirectConvKernels& k, const float* w, float* packed) {
  const int64_t taps = p.kernel_h * p.kernel_w, R = p.in_c_per_group(), O = p.out_c_per_group();
  for (int64_t tap = 0; tap < taps; ++tap) {
    for (int64_t g = 0; g < p.groups; ++g) {
      // packed[tap][c][g*R + r] = HWIO[tap][r][g*O + c]
      k.transpose(w + tap * R * p.out_c + g * O, p.out_c, O, R, packed + tap * O * p.in_c + g * R, p.in_c);
    }
  }
}

}  // namespace convkit::detail::direct
