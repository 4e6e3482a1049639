// Reference convolution: loops that mirror the formula, accumulated in double, never tuned.
// Every output element is summed by one thread in a fixed order, so results are bitwise
// reproducible for any thread count.
#include <cstring>
#include <vector>

#include "backends/naive/naive.hpp"

namespace convkit::detail {
namespace {

class NaiveConv final : public ConvForward, public ConvBackwardData, public ConvBackwardWeights {
 public:
  NaiveConv(const Conv2dParams& p, const PlanContext& ctx) : ConvBackwardData(p), p_(p), activation_(ctx.activation) {}

  size_t packed_weights_size() const override { return static_cast<size_t>(p_.weight_elements()); }
  void pack_weights(const float* w, float* packed) const override {
    std::memcpy(packed, w, packed_weights_size() * sizeof(float));
  }
  void forward(const float* x, const float* w, const float* b, float* y, int threads) const override {
    forward_packed(x, w, b, y, threads);  // reads HWIO as it is
  }

  // y[n,oh,ow,oc] = b[oc] + sum_{kh,kw,ci} x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, g*ICG+ci] * w[kh,kw,ci,oc]
  void forward_packed(const float* x, const float* w, const float* b, float* y, int threads) const override {
    const Conv2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> acc(static_cast<size_t>(p.out_c));
#pragma omp for collapse(2) schedule(static)
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t oh = 0; oh < OH; ++oh) {
          for (int64_t ow = 0; ow < OW; ++ow) {
            for (int64_t oc = 0; oc < p.out_c; ++oc) acc[oc] = b != nullptr ? b[oc] : 0.0;
            for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
              const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
              if (ih < 0 || ih >= p.in_h) continue;
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
                if (iw < 0 || iw >= p.in_w) continue;
                const float* xp = x + ((n * p.in_h + ih) * p.in_w + iw) * p.in_c;
                const float* wp = w + (kh * p.kernel_w + kw) * ICG * p.out_c;
                for (int64_t g = 0; g < p.groups; ++g) {
                  for (int64_t ci = 0; ci < ICG; ++ci) {
                    const double xv = xp[g * ICG + ci];
                    const float* wr = wp + ci * p.out_c + g * OCG;
                    double* a = acc.data() + g * OCG;
                    for (int64_t oc = 0; oc < OCG; ++oc) a[oc] += xv * wr[oc];
                  }
                }
              }
            }
            float* yp = y + ((n * OH + oh) * OW + ow) * p.out_c;
            for (int64_t oc = 0; oc < p.out_c; ++oc) {
              const float v = static_cast<float>(acc[oc]);
              yp[oc] = activation_ == Activation::relu && v < 0.0f ? 0.0f : v;
            }
          }
        }
      }
    }
  }

  // dx[n,ih,iw,c] = sum over the taps (kh,kw) that output (oh,ow) reads (ih,iw) with, of
  //                 sum_oc dy[n,oh,ow,oc] * w[kh,kw,ci,oc]   (gathered, so each dx has one writer)
  void backward_data(const float* dy, const float* w, float* dx, int threads) const override {
    const Conv2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> acc(static_cast<size_t>(p.in_c));
#pragma omp for collapse(2) schedule(static)
      for (int64_t n = 0; n < p.batch; ++n) {
        for (int64_t ih = 0; ih < p.in_h; ++ih) {
          for (int64_t iw = 0; iw < p.in_w; ++iw) {
            for (double& a : acc) a = 0.0;
            for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
              const int64_t th = ih + p.pad_top - kh * p.dilation_h;  // = oh * stride_h
              if (th < 0 || th % p.stride_h != 0 || th / p.stride_h >= OH) continue;
              const int64_t oh = th / p.stride_h;
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t tw = iw + p.pad_left - kw * p.dilation_w;
                if (tw < 0 || tw % p.stride_w != 0 || tw / p.stride_w >= OW) continue;
                const int64_t ow = tw / p.stride_w;
                const float* dyp = dy + ((n * OH + oh) * OW + ow) * p.out_c;
                const float* wp = w + (kh * p.kernel_w + kw) * ICG * p.out_c;
                for (int64_t g = 0; g < p.groups; ++g) {
                  for (int64_t ci = 0; ci < ICG; ++ci) {
                    const float* wr = wp + ci * p.out_c + g * OCG;
                    const float* dyg = dyp + g * OCG;
                    double s = 0.0;
                    for (int64_t oc = 0; oc < OCG; ++oc) s += double(dyg[oc]) * wr[oc];
                    acc[g * ICG + ci] += s;
                  }
                }
              }
            }
            float* dxp = dx + ((n * p.in_h + ih) * p.in_w + iw) * p.in_c;
            for (int64_t c = 0; c < p.in_c; ++c) dxp[c] = static_cast<float>(acc[c]);
          }
        }
      }
    }
  }

  // dw[kh,kw,ci,oc] = sum_{n,oh,ow} x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, g*ICG+ci] * dy[n,oh,ow,oc]
  // db[oc] = sum_{n,oh,ow} dy[n,oh,ow,oc]. Each thread owns whole rows (kh,kw,c) of dw.
  void backward_weights(const float* x, const float* dy, float* dw, float* db, int threads) const override {
    const Conv2dParams& p = p_;
    const int64_t OH = p.out_h(), OW = p.out_w(), ICG = p.in_c_per_group(), OCG = p.out_c_per_group();
    const int64_t rows = p.kernel_h * p.kernel_w * p.in_c;
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> acc(static_cast<size_t>(OCG));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t c = r % p.in_c, kw = (r / p.in_c) % p.kernel_w, kh = r / (p.in_c * p.kernel_w);
        const int64_t g = c / ICG, ci = c % ICG;
        for (double& a : acc) a = 0.0;
        for (int64_t n = 0; n < p.batch; ++n) {
          for (int64_t oh = 0; oh < OH; ++oh) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
            if (ih < 0 || ih >= p.in_h) continue;
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
              if (iw < 0 || iw >= p.in_w) continue;
              const double xv = x[((n * p.in_h + ih) * p.in_w + iw) * p.in_c + c];
              const float* dyp = dy + ((n * OH + oh) * OW + ow) * p.out_c + g * OCG;
              for (int64_t oc = 0; oc < OCG; ++oc) acc[oc] += xv * dyp[oc];
            }
          }
        }
        float* dwp = dw + ((kh * p.kernel_w + kw) * ICG + ci) * p.out_c + g * OCG;
        for (int64_t oc = 0; oc < OCG; ++oc) dwp[oc] = static_cast<float>(acc[oc]);
      }
      if (db != nullptr) {
#pragma omp for schedule(static)
        for (int64_t oc = 0; oc < p.out_c; ++oc) {
          double s = 0.0;
          for (int64_t i = 0; i < p.batch * OH * OW; ++i) s += dy[i * p.out_c + oc];
          db[oc] = static_cast<float>(s);
        }
      }
    }
  }

 private:
  Conv2dParams p_;
  Activation activation_;
};

}  // namespace

ConvImpls make_naive_conv(const Conv2dParams& p, const PlanContext& ctx) {
  return conv_impls(std::make_shared<const NaiveConv>(p, ctx));
}

}  // namespace convkit::detail
