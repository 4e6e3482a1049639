// Reference pooling, following docs/design.md's pooling semantics literally: padding never wins a
// max, a NaN makes the max NaN, the first maximum in row-major window order takes the
// gradient, and the average divides by the clipped window (count_include_pad) or by its
// in-bounds part. Sums are in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/naive/naive.hpp"

namespace convkit::detail {
namespace {

// One output position's window: the in-bounds rows [h_begin, h_end) and columns [w_begin,
// w_end) of the input, and the divisor an average over it uses.
struct Window {
  int64_t h_begin, h_end, w_begin, w_end;
  double divisor;
};

Window window_at(const Pool2dParams& p, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_top, w0 = ow * p.stride_w - p.pad_left;
  Window win;
  win.h_begin = std::max<int64_t>(h0, 0);
  win.h_end = std::min(h0 + p.window_h, p.in_h);
  win.w_begin = std::max<int64_t>(w0, 0);
  win.w_end = std::min(w0 + p.window_w, p.in_w);
  if (p.count_include_pad) {
    win.divisor = double(std::min(h0 + p.window_h, p.in_h + p.pad_bottom) - h0) *
                  double(std::min(w0 + p.window_w, p.in_w + p.pad_right) - w0);
  } else {
    win.divisor = double(win.h_end - win.h_begin) * double(win.w_end - win.w_begin);
  }
  return win;
}

// Offset (in units of channels-strided pixels) of the window's first maximum in the plane
// starting at `plane`, whose pixels are `stride` floats apart.
int64_t first_max_pixel(const float* plane, int64_t in_w, int64_t stride, const Window& win) {
  int64_t best = win.h_begin * in_w + win.w_begin;
  float m = plane[best * stride];
  for (int64_t h = win.h_begin; h < win.h_end; ++h) {
    for (int64_t w = win.w_begin; w < win.w_end; ++w) {
      if (std::isnan(m)) return best;
      const float v = plane[(h * in_w + w) * stride];
      if (v > m || std::isnan(v)) {
        m = v;
        best = h * in_w + w;
      }
    }
  }
  return best;
}

class NaivePool final : public PoolImpl {
 public:
  explicit NaivePool(const Pool2dParams& p) : p_(p) {}

  void forward(const float* x, float* y, int threads) const override {
    const Pool2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), C = p.channels;
#pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          const Window win = window_at(p, oh, ow);
          for (int64_t c = 0; c < C; ++c) {
            const float* plane = x + n * p.in_h * p.in_w * C + c;
            float& out = y[((n * OH + oh) * OW + ow) * C + c];
            if (p.mode == PoolMode::max) {
              out = plane[first_max_pixel(plane, p.in_w, C, win) * C];
            } else {
              double s = 0.0;
              for (int64_t h = win.h_begin; h < win.h_end; ++h) {
                for (int64_t w = win.w_begin; w < win.w_end; ++w) s += plane[(h * p.in_w + w) * C];
              }
              out = static_cast<float>(s / win.divisor);
            }
          }
        }
      }
    }
  }

  // Windows overlap, so each thread owns whole (n, c) planes of dx.
  void backward(const float* x, const float* dy, float* dx, int threads) const override {
    const Pool2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), C = p.channels;
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> grad(static_cast<size_t>(p.in_h * p.in_w));
#pragma omp for collapse(2) schedule(static)
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t c = 0; c < C; ++c) {
          const float* plane = x + n * p.in_h * p.in_w * C + c;
          std::fill(grad.begin(), grad.end(), 0.0);
          for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) {
              const Window win = window_at(p, oh, ow);
              const double g = dy[((n * OH + oh) * OW + ow) * C + c];
              if (p.mode == PoolMode::max) {
                grad[first_max_pixel(plane, p.in_w, C, win)] += g;
              } else {
                for (int64_t h = win.h_begin; h < win.h_end; ++h) {
                  for (int64_t w = win.w_begin; w < win.w_end; ++w) grad[h * p.in_w + w] += g / win.divisor;
                }
              }
            }
          }
          float* dplane = dx + n * p.in_h * p.in_w * C + c;
          for (int64_t i = 0; i < p.in_h * p.in_w; ++i) dplane[i * C] = static_cast<float>(grad[i]);
        }
      }
    }
  }

 private:
  Pool2dParams p_;
};

}  // namespace

std::unique_ptr<PoolImpl> make_naive_pool(const Pool2dParams& p, const PlanContext&) {
  return std::make_unique<NaivePool>(p);
}

}  // namespace convkit::detail
