// The direct backend's micro-kernels on their own (XNNPACK style), on one thread: GFLOP/s and
// the share of the one-thread FMA peak per tile shape, with the weights a tile streams resident
// in L1 or in L2. A layer that runs below its tile's rate here loses the rest in the driver
// (borders, blocking, threads, memory); a tile that runs below peak here is limited by its own
// loads per FMA. Names: direct/<isa>/<pixels>x<vectors>/<l1|l2>, dot/<isa>/<pixels>x<channels>/<l1|l2>,
// depthwise/<isa>/<channels>c/<taps_h>x<taps_w>/s<stride>/<rows>x<pixels>px (operands in L1),
// outer/<isa>/<rows>x<channels>/<pixels>px (the weight gradient's outer products),
// transpose/<isa>/<channels>x<reduce> (backward data's packing from HWIO).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_data.hpp"
#include "fma_peak.hpp"
#include "isa.hpp"
#include "kernels/depthwise_conv.hpp"
#include "kernels/direct_conv.hpp"
#include "kernels/outer_product.hpp"

namespace convkit::bench {
namespace {

using detail::DirectConvKernels;
using detail::Isa;

// The reduction a tile runs per call, and so where its operands stay between calls.
struct Residency {
  const char* name;
  int64_t taps, reduce;
};
// Direct tiles: 64 channels of one tap (16 KB of weights at 4 vectors of 16 floats), or 512
// channels of 3 taps (384 KB at 4x16), as forward streams a block's weights from L2 on
// ResNet's 512-channel layers.
constexpr Residency kDirectResidencies[] = {{"l1", 1, 64}, {"l2", 3, 512}};
// Dot tiles: 512 channels of one tap (18 KB of inputs and weights at 5x4), or of 9 taps (about
// 100 KB), as backward data reads them on ResNet's 7x7 stage.
constexpr Residency kDotResidencies[] = {{"l1", 1, 512}, {"l2", 9, 512}};

// Each benchmark's rate and its share of the one-thread peak of its instruction set.
void set_rate(benchmark::State& state, Isa isa, double flops_per_call) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_call * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(detail::isa_name(isa)) + ", 1-thread peak " +
                 std::to_string(static_cast<int>(fma_peak_gflops(isa, 1) + 0.5)) + " GFLOP/s");
}

void direct_tile(benchmark::State& state, Isa isa, int pixels, int vectors, Residency r) {
  const DirectConvKernels& k = detail::kernels<DirectConvKernels>(isa);
  const int64_t width = int64_t(vectors) * k.lanes, x_pixel = 512;
  const Buffer x = random_floats(pixels * x_pixel + r.taps * x_pixel + r.reduce, 1);
  const Buffer w = random_floats(r.taps * r.reduce * width, 2);
  Buffer y(static_cast<size_t>(pixels * width));
  detail::DirectConvTile t{};
  t.x = x.data(), t.w = w.data(), t.y = y.data();
  t.pixels = pixels;
  t.x_pixel_stride = x_pixel, t.y_pixel_stride = width;
  t.taps_h = 1, t.taps_w = r.taps;
  t.x_tap_w = x_pixel, t.w_tap_w = r.reduce * width;
  t.reduce = r.reduce, t.x_reduce_stride = 1, t.w_reduce_stride = width;
  t.out_channels = width;
  const detail::DirectConvTileFn tile = k.tile[vectors - 1][pixels - 1];
  for (auto _ : state) {
    tile(t);
    benchmark::ClobberMemory();
  }
  set_rate(state, isa, 2.0 * double(pixels * width * r.taps * r.reduce));
}

// Backward data's dot form on HWIO as ResNet's 7x7 stage lays it out: channels 512 floats
// apart, taps a whole 512x512 matrix apart (only the tile's channels are touched).
void dot_tile(benchmark::State& state, Isa isa, int pixels, int channels, Residency r) {
  const DirectConvKernels& k = detail::kernels<DirectConvKernels>(isa);
  const int64_t stride = 512, w_tap = stride * stride;
  const Buffer x = random_floats((pixels + r.taps) * stride, 1);
  const Buffer w = random_floats((r.taps - 1) * w_tap + channels * stride, 2);
  Buffer y(static_cast<size_t>(pixels * channels));
  detail::DirectDotTile t{};
  t.x = x.data(), t.w = w.data(), t.y = y.data();
  t.pixels = pixels, t.channels = channels;
  t.x_pixel_stride = stride, t.y_pixel_stride = channels, t.w_channel_stride = stride;
  t.taps_h = 1, t.taps_w = r.taps;
  t.x_tap_w = stride, t.w_tap_w = w_tap;
  t.reduce = r.reduce;
  const detail::DirectDotTileFn tile = k.dot_tile[pixels - 1][channels - 1];
  for (auto _ : state) {
    tile(t);
    benchmark::ClobberMemory();
  }
  set_rate(state, isa, 2.0 * double(pixels * channels * r.taps * r.reduce));
}

// One depthwise tile as the drivers call it on a row of a 3-wide kernel: forward (3x3 taps,
// stride 1 or 2, one row or the two-row path) and backward data's stride-2 phases (1 or 2
// kernel rows of 1 or 2 taps, dy read at stride 1, dx written every other pixel). Rows of 32
// pixels, so the operands stay in L1.
struct DepthwiseShape {
  int64_t channels, rows, taps_h, taps_w, x_stride, y_stride;  // strides in pixels (and rows)
};
constexpr DepthwiseShape kDepthwiseShapes[] = {{32, 1, 3, 3, 1, 1}, {32, 2, 3, 3, 1, 1}, {96, 1, 3, 3, 2, 1},
                                               {96, 2, 3, 3, 2, 1}, {96, 1, 1, 1, 1, 2}, {96, 1, 1, 2, 1, 2},
                                               {96, 1, 2, 1, 1, 2}, {96, 1, 2, 2, 1, 2}};

void depthwise_tile(benchmark::State& state, Isa isa, int pixels, DepthwiseShape s) {
  const detail::DepthwiseConvKernels& k = detail::kernels<detail::DepthwiseConvKernels>(isa);
  const int64_t row = 32 * s.channels;
  const int64_t input_rows = (s.rows - 1) * s.x_stride + s.taps_h;
  const Buffer x = random_floats(input_rows * row + (pixels * s.x_stride + s.taps_w) * s.channels, 1);
  const Buffer w = random_floats(9 * s.channels, 2);
  Buffer y(static_cast<size_t>(s.rows * pixels * s.y_stride * s.channels));
  detail::DepthwiseConvTile t{};
  t.x = x.data(), t.w = w.data(), t.y = y.data();
  t.rows = s.rows, t.pixels = pixels;
  t.x_row_stride = s.x_stride * row, t.y_row_stride = pixels * s.y_stride * s.channels;
  t.x_pixel_stride = s.x_stride * s.channels, t.y_pixel_stride = s.y_stride * s.channels;
  t.taps_h = s.taps_h, t.taps_w = s.taps_w;
  t.x_tap_h = row, t.x_tap_w = s.channels, t.w_tap_h = 3 * s.channels, t.w_tap_w = s.channels;
  t.channels = s.channels;
  const auto tile = k.tile[pixels - 1];
  for (auto _ : state) {
    tile(t);
    benchmark::ClobberMemory();
  }
  set_rate(state, isa, 2.0 * double(s.rows * pixels * s.channels * s.taps_h * s.taps_w));
}

// The weight gradient's outer products as squeeze-excitation layers and a 4x4 map run them:
// dw rows (input channels) by output channels over a few pixels, the panels as the driver lays
// them out; mostly a rate of writing dw, so its bytes per second are reported too.
struct OuterShape {
  int64_t rows, channels, pixels;
};
constexpr OuterShape kOuterShapes[] = {{48, 1152, 1}, {1152, 48, 1}, {672, 28, 1}, {256, 256, 16}};

void outer_rows(benchmark::State& state, Isa isa, OuterShape s) {
  const detail::OuterProductKernels& k = detail::kernels<detail::OuterProductKernels>(isa);
  const int64_t x_stride = s.rows + 16, dy_stride = s.channels + 16;
  const Buffer x = random_floats(s.pixels * x_stride, 1);
  const Buffer dy = random_floats(s.pixels * dy_stride, 2);
  Buffer y(static_cast<size_t>(s.rows * s.channels));
  detail::OuterProductRows t{};
  t.x = x.data(), t.dy = dy.data(), t.y = y.data();
  t.pixels = s.pixels, t.rows = s.rows, t.channels = s.channels;
  t.x_pixel_stride = x_stride, t.dy_pixel_stride = dy_stride, t.y_row_stride = s.channels;
  for (auto _ : state) {
    k.rows(t);
    benchmark::ClobberMemory();
  }
  set_rate(state, isa, 2.0 * double(s.rows * s.channels * s.pixels));
  state.counters["dw GB/s"] = benchmark::Counter(double(s.rows * s.channels) * sizeof(float) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Backward data's packing from HWIO, which every call pays: a block of `channels` forward input
// channels transposed out of HWIO rows of `reduce` forward output channels, both matrices in
// L2 (256 KB each at 64 x 1024); bytes written per second.
struct TransposeShape {
  int64_t channels, reduce;
};
constexpr TransposeShape kTransposeShapes[] = {{64, 1024}, {64, 960}, {32, 512}, {24, 960}};

void transpose_block(benchmark::State& state, Isa isa, TransposeShape s) {
  const DirectConvKernels& k = detail::kernels<DirectConvKernels>(isa);
  const Buffer hwio = random_floats(s.channels * s.reduce, 1);
  Buffer packed(static_cast<size_t>(s.reduce * s.channels));
  for (auto _ : state) {
    k.transpose(hwio.data(), s.reduce, s.reduce, s.channels, packed.data(), s.channels);
    benchmark::ClobberMemory();
  }
  state.SetLabel(detail::isa_name(isa));
  state.counters["GB/s"] = benchmark::Counter(double(s.channels * s.reduce) * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Per vector count, the pixel counts rows are cut into (EvenTiles: half the widest tile up to
// the widest) and, for the preferred count, one pixel: the register allocation differs from one
// pixel count to the next (docs/results/decisions.md, "direct kernel: one allocation region");
// the widest dot tile and its one-pixel and one-channel edges.
void register_all() {
  for (Isa isa : detail::kAllIsas) {
    if (isa > detail::cpu_isa()) continue;
    const DirectConvKernels& k = detail::kernels<DirectConvKernels>(isa);
    const std::string arch = detail::isa_name(isa);
    for (const Residency& r : kDirectResidencies) {
      for (int vectors = 1; vectors <= detail::kMaxTileVectors; ++vectors) {
        const int widest = k.max_pixels[vectors - 1];
        for (int pixels = 1; pixels <= widest; ++pixels) {
          if (2 * pixels < widest && !(pixels == 1 && vectors == k.preferred_vectors)) continue;
          const std::string name =
              "direct/" + arch + "/" + std::to_string(pixels) + "x" + std::to_string(vectors) + "/" + r.name;
          benchmark::RegisterBenchmark(name.c_str(), direct_tile, isa, pixels, vectors, r);
        }
      }
    }
    for (const Residency& r : kDotResidencies) {
      const int dot_p = k.dot_max_pixels, dot_c = k.dot_max_channels;
      const std::vector<std::pair<int, int>> dot_shapes = {{dot_p, dot_c}, {1, dot_c}, {dot_p, 1}};
      for (const auto& [pixels, channels] : dot_shapes) {
        const std::string name =
            "dot/" + arch + "/" + std::to_string(pixels) + "x" + std::to_string(channels) + "/" + r.name;
        benchmark::RegisterBenchmark(name.c_str(), dot_tile, isa, pixels, channels, r);
      }
    }
    const detail::DepthwiseConvKernels& dk = detail::kernels<detail::DepthwiseConvKernels>(isa);
    for (const DepthwiseShape& s : kDepthwiseShapes) {
      // Two-row tiles at the widths the driver gives them.
      const int widest = s.rows == 2 && dk.pair_pixels > 0 ? dk.pair_pixels : detail::kMaxDepthwisePixels;
      for (int pixels : {1, widest}) {
        const std::string name = "depthwise/" + arch + "/" + std::to_string(s.channels) + "c/" +
                                 std::to_string(s.taps_h) + "x" + std::to_string(s.taps_w) + "/s" +
                                 std::to_string(s.x_stride) + "/" + std::to_string(s.rows) + "x" +
                                 std::to_string(pixels) + "px";
        benchmark::RegisterBenchmark(name.c_str(), depthwise_tile, isa, pixels, s);
      }
    }
    for (const OuterShape& s : kOuterShapes) {
      const std::string name = "outer/" + arch + "/" + std::to_string(s.rows) + "x" + std::to_string(s.channels) +
                               "/" + std::to_string(s.pixels) + "px";
      benchmark::RegisterBenchmark(name.c_str(), outer_rows, isa, s);
    }
    for (const TransposeShape& s : kTransposeShapes) {
      const std::string name = "transpose/" + arch + "/" + std::to_string(s.channels) + "x" + std::to_string(s.reduce);
      benchmark::RegisterBenchmark(name.c_str(), transpose_block, isa, s);
    }
  }
}

// Registered before main, as the BENCHMARK macros do.
const bool registered = (register_all(), true);

}  // namespace
}  // namespace convkit::bench

BENCHMARK_MAIN();
