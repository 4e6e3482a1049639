#pragma once
// The test oracle: the convolution's definition evaluated in double in scatter form — every
// (output pixel, tap, input channel, output channel) term added to y, dx and dw at once.
// Its loop order differs from every backend's, naive's gather loops included, so agreement is
// evidence, not a copy agreeing with itself.
#include <cstdint>
#include <vector>

#include "convkit/params.hpp"

namespace convkit::test {

struct OracleResult {
  std::vector<double> y, dx, dw, db;
};

// y = conv(x, w) + b; dx, dw, db are the gradients for output gradient dy.
// b and dy may be null (then taken as zero).
inline OracleResult oracle(const Conv2dParams& p, const float* x, const float* w, const float* b, const float* dy) {
  const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c / p.groups, OCG = p.out_c / p.groups;
  OracleResult r;
  r.y.assign(static_cast<size_t>(p.batch * OH * OW * p.out_c), 0.0);
  r.dx.assign(static_cast<size_t>(p.input_elements()), 0.0);
  r.dw.assign(static_cast<size_t>(p.weight_elements()), 0.0);
  r.db.assign(static_cast<size_t>(p.out_c), 0.0);
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t yi = ((n * OH + oh) * OW + ow) * p.out_c;
        for (int64_t oc = 0; oc < p.out_c; ++oc) {
          if (b != nullptr) r.y[yi + oc] += b[oc];
          if (dy != nullptr) r.db[oc] += dy[yi + oc];
        }
        for (int64_t kh = 0; kh < p.kernel_h; ++kh)
          for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
            const int64_t ih = oh * p.stride_h + kh * p.dilation_h - p.pad_top;
            const int64_t iw = ow * p.stride_w + kw * p.dilation_w - p.pad_left;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            for (int64_t oc = 0; oc < p.out_c; ++oc) {
              const int64_t g = oc / OCG;
              for (int64_t ci = 0; ci < ICG; ++ci) {
                const int64_t xi = ((n * p.in_h + ih) * p.in_w + iw) * p.in_c + g * ICG + ci;
                const int64_t wi = ((kh * p.kernel_w + kw) * ICG + ci) * p.out_c + oc;
                r.y[yi + oc] += double(x[xi]) * w[wi];
                if (dy != nullptr) {
                  r.dx[xi] += double(dy[yi + oc]) * w[wi];
                  r.dw[wi] += double(dy[yi + oc]) * x[xi];
                }
              }
            }
          }
      }
  return r;
}

inline std::vector<float> rounded(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace convkit::test
