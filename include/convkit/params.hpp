#pragma once
// Problem descriptions: what a convolution or a pooling computes, independent of how.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace convkit {

// Every invalid argument is reported with this type; the message names the field and its value.
struct Error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Conv2dParams {
  int64_t batch = 1, in_h = 0, in_w = 0, in_c = 0, out_c = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1, groups = 1;

  int64_t out_h() const;
  int64_t out_w() const;
  // 2 * batch*out_h*out_w*out_c * kernel_h*kernel_w*in_c/groups: one multiply and one add per tap.
  double flops() const;
  // Throws convkit::Error naming the first bad field and its value.
  void validate() const;

  int64_t in_c_per_group() const { return in_c / groups; }
  int64_t out_c_per_group() const { return out_c / groups; }
  // Element counts of the five tensors, for callers sizing buffers.
  int64_t input_elements() const { return batch * in_h * in_w * in_c; }
  int64_t output_elements() const { return batch * out_h() * out_w() * out_c; }
  int64_t weight_elements() const { return kernel_h * kernel_w * in_c_per_group() * out_c; }

  bool operator==(const Conv2dParams&) const;
  bool operator!=(const Conv2dParams& o) const { return !(*this == o); }
};

enum class PoolMode { max, average };

struct Pool2dParams {
  int64_t batch = 1, in_h = 0, in_w = 0, channels = 0;
  int64_t window_h = 1, window_w = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  PoolMode mode = PoolMode::max;
  // average: divide by the window clipped to the padded input (true) or by its in-bounds part.
  bool count_include_pad = false;
  // Round the output size up, dropping a last window that would start in the end padding.
  bool ceil_mode = false;

  int64_t out_h() const;
  int64_t out_w() const;
  void validate() const;

  int64_t input_elements() const { return batch * in_h * in_w * channels; }
  int64_t output_elements() const { return batch * out_h() * out_w() * channels; }

  bool operator==(const Pool2dParams&) const;
  bool operator!=(const Pool2dParams& o) const { return !(*this == o); }
};

// The canonical problem strings shared by tests, failure messages, logs and benchmarks:
//   mb1_ic64ih56iw56_oc64_kh3kw3_sh1sw1_pt1pb1pl1pr1_dh1dw1_g1
//   mb1_c64ih112iw112_max_kh3kw3_sh2sw2_pt1pb1pl1pr1[_incl][_ceil]   (avg for average)
// to_string prints every field; the parsers accept fields in any order, separators optional,
// defaults left out, `ph`/`pw` for both pads of a dimension, and like benchdnn take a missing
// width from the height (iw from ih, kw from kh, sw from sh, dw from dh).
std::string to_string(const Conv2dParams&);
std::string to_string(const Pool2dParams&);
Conv2dParams parse_conv2d(std::string_view problem);  // throws convkit::Error saying what it could not parse
Pool2dParams parse_pool2d(std::string_view problem);

}  // namespace convkit
