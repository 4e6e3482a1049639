#include "onednn_baseline.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <optional>
#include <unordered_map>

namespace convkit::bench {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::memory::desc nhwc(int64_t n, int64_t c, int64_t h, int64_t w) { return {{n, c, h, w}, dt::f32, tag::nhwc}; }

// Our HWIO weights, [kh][kw][ic/g][oc], described to oneDNN by strides in its
// (g,) oc, ic, kh, kw dimension order.
dnnl::memory::desc hwio(const Conv2dParams& p) {
  const int64_t icg = p.in_c / p.groups, ocg = p.out_c / p.groups, oc = p.out_c;
  const int64_t sh = p.kernel_w * icg * oc, sw = icg * oc;
  if (p.groups == 1) return {{oc, icg, p.kernel_h, p.kernel_w}, dt::f32, dims{1, oc, sh, sw}};
  return {{p.groups, ocg, icg, p.kernel_h, p.kernel_w}, dt::f32, dims{ocg, 1, oc, sh, sw}};
}

dnnl::memory::desc any_weights(const Conv2dParams& p) {
  const int64_t icg = p.in_c / p.groups, ocg = p.out_c / p.groups;
  if (p.groups == 1) return {{p.out_c, icg, p.kernel_h, p.kernel_w}, dt::f32, tag::any};
  return {{p.groups, ocg, icg, p.kernel_h, p.kernel_w}, dt::f32, tag::any};
}

}  // namespace

struct OnednnPrimitive::State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  dnnl::primitive primitive;
  std::unordered_map<int, dnnl::memory> args;
  // Run before `primitive` when weights are reordered in every run.
  std::optional<dnnl::reorder> weights_reorder;
  dnnl::memory user_weights, weights;
  std::string implementation;
};

OnednnPrimitive::OnednnPrimitive() : state_(std::make_unique<State>()) {}
OnednnPrimitive::~OnednnPrimitive() = default;

void OnednnPrimitive::run() {
  if (state_->weights_reorder) state_->weights_reorder->execute(state_->stream, state_->user_weights, state_->weights);
  state_->primitive.execute(state_->stream, state_->args);
  state_->stream.wait();
}

std::string OnednnPrimitive::implementation() const { return state_->implementation; }

OnednnConv::OnednnConv(const Conv2dParams& p, Direction direction, const float* x, const float* w, const float* b,
                       float* y, const float* dy, float* dx, float* dw, float* db, bool reorder_every_run) {
  State& s = *state_;
  const auto src_md = nhwc(p.batch, p.in_c, p.in_h, p.in_w);
  const auto dst_md = nhwc(p.batch, p.out_c, p.out_h(), p.out_w());
  const dnnl::memory::desc bias_md({p.out_c}, dt::f32, tag::x);
  const dims strides{p.stride_h, p.stride_w}, dilates{p.dilation_h - 1, p.dilation_w - 1},
      pad_l{p.pad_top, p.pad_left}, pad_r{p.pad_bottom, p.pad_right};
  const auto memory = [&](const dnnl::memory::desc& md, const float* data) {
    return dnnl::memory(md, s.engine, const_cast<float*>(data));
  };
  // Weights in oneDNN's preferred layout, reordered from ours here (and again in every run
  // when asked).
  const auto reordered = [&](const dnnl::memory::desc& md) {
    s.user_weights = memory(hwio(p), w);
    s.weights = dnnl::memory(md, s.engine);
    dnnl::reorder reorder(s.user_weights, s.weights);
    reorder.execute(s.stream, s.user_weights, s.weights);
    s.stream.wait();
    if (reorder_every_run) s.weights_reorder = reorder;
    return s.weights;
  };
  const auto prop = direction == Direction::forward ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training;
  const dnnl::convolution_forward::desc fwd_desc(prop, dnnl::algorithm::convolution_direct, src_md, any_weights(p),
                                                 bias_md, dst_md, strides, dilates, pad_l, pad_r);
  const dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, s.engine);
  if (direction == Direction::forward) {
    s.primitive = dnnl::convolution_forward(fwd_pd);
    s.args = {{DNNL_ARG_SRC, memory(src_md, x)}, {DNNL_ARG_WEIGHTS, reordered(fwd_pd.weights_desc())},
              {DNNL_ARG_BIAS, memory(bias_md, b)}, {DNNL_ARG_DST, memory(dst_md, y)}};
    s.implementation = fwd_pd.impl_info_str();
  } else if (direction == Direction::backward_data) {
    const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, src_md, any_weights(p), dst_md,
                                                     strides, dilates, pad_l, pad_r);
    const dnnl::convolution_backward_data::primitive_desc pd(desc, s.engine, fwd_pd);
    s.primitive = dnnl::convolution_backward_data(pd);
    s.args = {{DNNL_ARG_DIFF_DST, memory(dst_md, dy)}, {DNNL_ARG_WEIGHTS, reordered(pd.weights_desc())},
              {DNNL_ARG_DIFF_SRC, memory(src_md, dx)}};
    s.implementation = pd.impl_info_str();
  } else {
    const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, src_md, any_weights(p),
                                                        bias_md, dst_md, strides, dilates, pad_l, pad_r);
    const dnnl::convolution_backward_weights::primitive_desc pd(desc, s.engine, fwd_pd);
    s.primitive = dnnl::convolution_backward_weights(pd);
    // oneDNN writes dw in its own layout; a training engine on oneDNN keeps it there, so no
    // reorder is timed (convkit, by contrast, writes HWIO).
    (void)dw;
    s.args = {{DNNL_ARG_SRC, memory(src_md, x)}, {DNNL_ARG_DIFF_DST, memory(dst_md, dy)},
              {DNNL_ARG_DIFF_WEIGHTS, dnnl::memory(pd.diff_weights_desc(), s.engine)},
              {DNNL_ARG_DIFF_BIAS, memory(bias_md, db)}};
    s.implementation = pd.impl_info_str();
  }
}

OnednnPool::OnednnPool(const Pool2dParams& p, const float* x, float* y) {
  State& s = *state_;
  const auto src_md = nhwc(p.batch, p.channels, p.in_h, p.in_w);
  const auto dst_md = nhwc(p.batch, p.channels, p.out_h(), p.out_w());
  // oneDNN takes the output size from the descriptor; the end padding it implies covers ceil_mode.
  const int64_t pad_bottom = (p.out_h() - 1) * p.stride_h + p.window_h - p.in_h - p.pad_top;
  const int64_t pad_right = (p.out_w() - 1) * p.stride_w + p.window_w - p.in_w - p.pad_left;
  const auto algorithm = p.mode == PoolMode::max ? dnnl::algorithm::pooling_max
                         : p.count_include_pad   ? dnnl::algorithm::pooling_avg_include_padding
                                                 : dnnl::algorithm::pooling_avg_exclude_padding;
  const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src_md, dst_md,
                                         {p.stride_h, p.stride_w}, {p.window_h, p.window_w}, {p.pad_top, p.pad_left},
                                         {pad_bottom, pad_right});
  const dnnl::pooling_forward::primitive_desc pd(desc, s.engine);
  s.primitive = dnnl::pooling_forward(pd);
  s.args = {{DNNL_ARG_SRC, dnnl::memory(src_md, s.engine, const_cast<float*>(x))},
            {DNNL_ARG_DST, dnnl::memory(dst_md, s.engine, y)}};
  s.implementation = pd.impl_info_str();
}

}  // namespace convkit::bench
