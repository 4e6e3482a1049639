// Shape arithmetic and validation of Conv2dParams and Pool2dParams.
#include <cstdint>
#include <limits>
#include <string>

#include "convkit/params.hpp"
#include "bounded_geometry.hpp"

namespace convkit {
namespace {

using Wide = __int128;  // shape arithmetic on invalid (huge) fields must not overflow

Wide floor_div(Wide a, Wide b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
Wide ceil_div(Wide a, Wide b) { return -floor_div(-a, b); }

int64_t clamp_to_int64(Wide v) {
  constexpr Wide lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(v < lo ? lo : v > hi ? hi : v);
}

int64_t conv_out_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t dilation,
                      int64_t stride) {
  if (stride < 1) return 0;
  const Wide span = Wide(in) + pad_begin + pad_end - Wide(dilation) * (Wide(kernel) - 1) - 1;
  return clamp_to_int64(floor_div(span, stride) + 1);
}

int64_t pool_out_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t window, int64_t stride,
                      bool ceil_mode) {
  if (stride < 1) return 0;
  const Wide span = Wide(in) + pad_begin + pad_end - Wide(window);
  if (!ceil_mode) return clamp_to_int64(floor_div(span, stride) + 1);
  Wide out = ceil_div(span, stride) + 1;
  // PyTorch's rule: a last window that would start in the end padding is dropped.
  if (out >= 1 && (out - 1) * stride >= Wide(in) + pad_begin) --out;
  return clamp_to_int64(out);
}

[[noreturn]] void fail(const char* type, const char* field, int64_t value, const std::string& why) {
  throw Error(std::string("convkit: ") + type + "." + field + " = " + std::to_string(value) + " " + why);
}

void require_positive(const char* type, const char* field, int64_t value) {
  if (value < 1) fail(type, field, value, "must be >= 1");
}

void require_non_negative(const char* type, const char* field, int64_t value) {
  if (value < 0) fail(type, field, value, "must be >= 0");
}

struct Field {
  const char* name;
  int64_t value;
};

// A tensor of the product of `dims` floats must have a byte size that fits int64 (and so
// size_t). On overflow the message names the largest of the fields the dims derive from.
// Dims are Wide so that extents formed from several fields (a padded height) cannot overflow
// before they are checked.
void require_addressable(const char* type, const char* tensor, std::initializer_list<Wide> dims,
                         std::initializer_list<Field> fields) {
  constexpr Wide limit = std::numeric_limits<int64_t>::max() < std::numeric_limits<size_t>::max()
                             ? Wide(std::numeric_limits<int64_t>::max())
                             : Wide(std::numeric_limits<size_t>::max());
  Wide bytes = sizeof(float);
  for (Wide d : dims) {
    // Checked before multiplying: a padded extent times a byte count can pass even __int128.
    if (d > 0 && bytes > limit / d) {
      Field largest = *fields.begin();
      for (const Field& f : fields) largest = f.value > largest.value ? f : largest;
      fail(type, largest.name, largest.value, std::string("makes the ") + tensor + " tensor's byte size overflow int64");
    }
    bytes *= d;
  }
}

}  // namespace

int64_t Conv2dParams::out_h() const {
  return conv_out_size(in_h, pad_top, pad_bottom, kernel_h, dilation_h, stride_h);
}
int64_t Conv2dParams::out_w() const {
  return conv_out_size(in_w, pad_left, pad_right, kernel_w, dilation_w, stride_w);
}

double Conv2dParams::flops() const {
  return 2.0 * double(batch) * double(out_h()) * double(out_w()) * double(out_c) * double(kernel_h) *
         double(kernel_w) * double(in_c / (groups > 0 ? groups : 1));
}

void Conv2dParams::validate() const {
  const char* t = "Conv2dParams";
  require_positive(t, "batch", batch);
  require_positive(t, "in_h", in_h);
  require_positive(t, "in_w", in_w);
  require_positive(t, "in_c", in_c);
  require_positive(t, "out_c", out_c);
  require_positive(t, "kernel_h", kernel_h);
  require_positive(t, "kernel_w", kernel_w);
  require_positive(t, "stride_h", stride_h);
  require_positive(t, "stride_w", stride_w);
  require_positive(t, "dilation_h", dilation_h);
  require_positive(t, "dilation_w", dilation_w);
  require_positive(t, "groups", groups);
  require_non_negative(t, "pad_top", pad_top);
  require_non_negative(t, "pad_bottom", pad_bottom);
  require_non_negative(t, "pad_left", pad_left);
  require_non_negative(t, "pad_right", pad_right);
  if (in_c % groups != 0) fail(t, "groups", groups, "must divide in_c = " + std::to_string(in_c));
  if (out_c % groups != 0) fail(t, "groups", groups, "must divide out_c = " + std::to_string(out_c));
  if (out_h() < 1) {
    fail(t, "kernel_h", kernel_h,
         "with dilation_h = " + std::to_string(dilation_h) + " spans more than the padded input height (in_h = " +
             std::to_string(in_h) + ", pad_top = " + std::to_string(pad_top) +
             ", pad_bottom = " + std::to_string(pad_bottom) + "): out_h would be < 1");
  }
  if (out_w() < 1) {
    fail(t, "kernel_w", kernel_w,
         "with dilation_w = " + std::to_string(dilation_w) + " spans more than the padded input width (in_w = " +
             std::to_string(in_w) + ", pad_left = " + std::to_string(pad_left) +
             ", pad_right = " + std::to_string(pad_right) + "): out_w would be < 1");
  }
  const Field n{"batch", batch}, ih{"in_h", in_h}, iw{"in_w", in_w}, ic{"in_c", in_c}, oc{"out_c", out_c};
  const Field pt{"pad_top", pad_top}, pb{"pad_bottom", pad_bottom}, pl{"pad_left", pad_left}, pr{"pad_right", pad_right};
  require_addressable(t, "input", {batch, in_h, in_w, in_c}, {n, ih, iw, ic});
  require_addressable(t, "weight", {kernel_h, kernel_w, in_c / groups, out_c},
                      {{"kernel_h", kernel_h}, {"kernel_w", kernel_w}, ic, oc});
  // Padded extents are formed by some kernels; keep them representable too.
  require_addressable(t, "padded input", {batch, Wide(in_h) + pad_top + pad_bottom, Wide(in_w) + pad_left + pad_right, in_c},
                      {n, ih, iw, ic, pt, pb, pl, pr});
  require_addressable(t, "output", {batch, out_h(), out_w(), out_c}, {n, ih, iw, oc, pt, pb, pl, pr});
}

bool Conv2dParams::operator==(const Conv2dParams& o) const {
  return batch == o.batch && in_h == o.in_h && in_w == o.in_w && in_c == o.in_c && out_c == o.out_c &&
         kernel_h == o.kernel_h && kernel_w == o.kernel_w && stride_h == o.stride_h &&
         stride_w == o.stride_w && pad_top == o.pad_top && pad_bottom == o.pad_bottom &&
         pad_left == o.pad_left && pad_right == o.pad_right && dilation_h == o.dilation_h &&
         dilation_w == o.dilation_w && groups == o.groups;
}

int64_t Pool2dParams::out_h() const {
  return pool_out_size(in_h, pad_top, pad_bottom, window_h, stride_h, ceil_mode);
}
int64_t Pool2dParams::out_w() const {
  return pool_out_size(in_w, pad_left, pad_right, window_w, stride_w, ceil_mode);
}

void Pool2dParams::validate() const {
  const char* t = "Pool2dParams";
  require_positive(t, "batch", batch);
  require_positive(t, "in_h", in_h);
  require_positive(t, "in_w", in_w);
  require_positive(t, "channels", channels);
  require_positive(t, "window_h", window_h);
  require_positive(t, "window_w", window_w);
  require_positive(t, "stride_h", stride_h);
  require_positive(t, "stride_w", stride_w);
  require_non_negative(t, "pad_top", pad_top);
  require_non_negative(t, "pad_bottom", pad_bottom);
  require_non_negative(t, "pad_left", pad_left);
  require_non_negative(t, "pad_right", pad_right);
  // At most half the window, so that no window lies wholly in padding (PyTorch's rule).
  const auto half = [&](const char* field, int64_t pad, const char* window_field, int64_t window) {
    if (pad > window / 2) {
      fail(t, field, pad, std::string("must be at most half of ") + window_field + " = " + std::to_string(window));
    }
  };
  half("pad_top", pad_top, "window_h", window_h);
  half("pad_bottom", pad_bottom, "window_h", window_h);
  half("pad_left", pad_left, "window_w", window_w);
  half("pad_right", pad_right, "window_w", window_w);
  if (out_h() < 1) {
    fail(t, "window_h", window_h,
         "is larger than the padded input height (in_h = " + std::to_string(in_h) + ", pad_top = " +
             std::to_string(pad_top) + ", pad_bottom = " + std::to_string(pad_bottom) + "): out_h would be < 1");
  }
  if (out_w() < 1) {
    fail(t, "window_w", window_w,
         "is larger than the padded input width (in_w = " + std::to_string(in_w) + ", pad_left = " +
             std::to_string(pad_left) + ", pad_right = " + std::to_string(pad_right) + "): out_w would be < 1");
  }
  const Field n{"batch", batch}, ih{"in_h", in_h}, iw{"in_w", in_w}, c{"channels", channels};
  require_addressable(t, "input", {batch, in_h, in_w, channels}, {n, ih, iw, c});
  require_addressable(t, "output", {batch, out_h(), out_w(), channels}, {n, ih, iw, c});
}

bool Pool2dParams::operator==(const Pool2dParams& o) const {
  return batch == o.batch && in_h == o.in_h && in_w == o.in_w && channels == o.channels &&
         window_h == o.window_h && window_w == o.window_w && stride_h == o.stride_h &&
         stride_w == o.stride_w && pad_top == o.pad_top && pad_bottom == o.pad_bottom &&
         pad_left == o.pad_left && pad_right == o.pad_right && mode == o.mode &&
         count_include_pad == o.count_include_pad && ceil_mode == o.ceil_mode;
}

namespace detail {
namespace {
// A stride (or a ceil_mode pooling window) past the padded extent gives the single output the
// extent itself gives. Wide: pooling pads may each be half an int64-sized window.
int64_t bounded_to_extent(int64_t value, int64_t in, int64_t pad_begin, int64_t pad_end) {
  const Wide extent = Wide(in) + pad_begin + pad_end;
  return value > extent ? static_cast<int64_t>(extent) : value;
}
}  // namespace

Conv2dParams bounded_geometry(Conv2dParams p) {
  p.stride_h = bounded_to_extent(p.stride_h, p.in_h, p.pad_top, p.pad_bottom);
  p.stride_w = bounded_to_extent(p.stride_w, p.in_w, p.pad_left, p.pad_right);
  if (p.kernel_h == 1) p.dilation_h = 1;
  if (p.kernel_w == 1) p.dilation_w = 1;
  return p;
}

Pool2dParams bounded_geometry(Pool2dParams p) {
  p.window_h = bounded_to_extent(p.window_h, p.in_h, p.pad_top, p.pad_bottom);
  p.window_w = bounded_to_extent(p.window_w, p.in_w, p.pad_left, p.pad_right);
  p.stride_h = bounded_to_extent(p.stride_h, p.in_h, p.pad_top, p.pad_bottom);
  p.stride_w = bounded_to_extent(p.stride_w, p.in_w, p.pad_left, p.pad_right);
  return p;
}

}  // namespace detail
}  // namespace convkit
