// convkit._convkit: the compiled half of the Python module (python/convkit/__init__.py re-exports
// it). NumPy arrays in NHWC/HWIO layout go straight to the C++ plans: C-contiguous float32 arrays
// are used in place, anything else is converted once; the GIL is released while kernels run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convkit/convkit.hpp"

namespace py = pybind11;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Shape = std::vector<int64_t>;

std::string shape_text(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

[[noreturn]] void bad_argument(const std::string& where, const std::string& what) {
  throw py::value_error(where + ": " + what);
}

// `obj` as a C-contiguous float32 array: the same array when it already is one, else a converted copy.
FloatArray float32_array(const py::handle& obj, const std::string& where, const char* name) {
  FloatArray array = FloatArray::ensure(obj);
  if (!array) bad_argument(where, std::string(name) + " cannot be converted to a float32 array");
  return array;
}

FloatArray float32_array(const py::handle& obj, const std::string& where, const char* name, size_t rank,
                         const char* layout) {
  FloatArray array = float32_array(obj, where, name);
  if (static_cast<size_t>(array.ndim()) != rank) {
    bad_argument(where, std::string(name) + " must be a " + std::to_string(rank) + "-D " + layout + " array; got shape " +
                            shape_text(shape_of(array)));
  }
  return array;
}

void require_shape(const py::array& a, const Shape& expected, const std::string& where, const char* name,
                   const char* layout) {
  if (shape_of(a) != expected) {
    bad_argument(where, std::string(name) + " must have shape " + shape_text(expected) + " " + layout + "; got " +
                            shape_text(shape_of(a)));
  }
}

// A caller's output array: written in place, so it must already be exactly what the kernel writes.
FloatArray output_array(const py::object& out, const Shape& shape, const std::string& where) {
  if (out.is_none()) return FloatArray(shape);
  if (!py::isinstance<py::array>(out)) bad_argument(where, "out must be a numpy array");
  const auto array = out.cast<py::array>();
  if (!array.dtype().is(py::dtype::of<float>()) || !(array.flags() & py::array::c_style) || !array.writeable()) {
    bad_argument(where, "out must be a writable C-contiguous float32 array");
  }
  require_shape(array, shape, where, "out", "");
  return out.cast<FloatArray>();
}

// An integer (anything with __index__, numpy's included) or a sequence of them.
std::vector<int64_t> integers_of(const py::object& value, const char* name) {
  // numpy arrays have __index__ too (for one element): take every sequence element by element.
  if (PyIndex_Check(value.ptr()) && !PySequence_Check(value.ptr())) return {py::int_(value).cast<int64_t>()};
  try {
    std::vector<int64_t> values;
    for (const auto& item : py::iter(value)) {
      if (!PyIndex_Check(item.ptr())) throw py::cast_error();
      values.push_back(py::int_(py::reinterpret_borrow<py::object>(item)).cast<int64_t>());
    }
    return values;
  } catch (const py::error_already_set&) {
  } catch (const py::cast_error&) {
  }
  throw py::value_error(std::string(name) + " must be an int or a sequence of ints; got " +
                        py::repr(value).cast<std::string>());
}

// An int or a pair (height, width) -> {h, w}.
std::array<int64_t, 2> pair_of(const py::object& value, const char* name) {
  const auto values = integers_of(value, name);
  if (values.size() == 1) return {values[0], values[0]};
  if (values.size() != 2) {
    throw py::value_error(std::string(name) + " must be an int or a pair (height, width); got " +
                          std::to_string(values.size()) + " values");
  }
  return {values[0], values[1]};
}

// An int, a pair (height, width) or four values (top, bottom, left, right).
std::array<int64_t, 4> padding_of(const py::object& value) {
  const auto values = integers_of(value, "padding");
  if (values.size() == 1) return {values[0], values[0], values[0], values[0]};
  if (values.size() == 2) return {values[0], values[0], values[1], values[1]};
  if (values.size() == 4) return {values[0], values[1], values[2], values[3]};
  throw py::value_error("padding must be an int, a pair (height, width) or (top, bottom, left, right); got " +
                        std::to_string(values.size()) + " values");
}

// The smallest input extent along one axis that gives every window its full span (at least 1).
int64_t spanned_extent(int64_t kernel, int64_t dilation) {
  int64_t span = 0;
  if (kernel < 1 || dilation < 1 || __builtin_mul_overflow(kernel - 1, dilation, &span)) return 1;
  return span + 1;
}

convkit::Options options_of(const std::string& backend, int threads, const py::object& activation,
                            const std::string& math) {
  convkit::Options options;
  options.backend = backend;
  options.threads = threads;
  if (activation.is_none()) {
    options.activation = convkit::Activation::none;
  } else if (py::isinstance<py::str>(activation) && activation.cast<std::string>() == "relu") {
    options.activation = convkit::Activation::relu;
  } else {
    throw py::value_error("activation must be None or \"relu\"; got " + py::repr(activation).cast<std::string>());
  }
  if (math != "strict" && math != "fast") throw py::value_error("math must be \"strict\" or \"fast\"; got \"" + math + "\"");
  options.math = math == "fast" ? convkit::Math::fast : convkit::Math::strict;
  return options;
}

const char* direction_name(convkit::Direction d) {
  switch (d) {
    case convkit::Direction::forward: return "forward";
    case convkit::Direction::backward_data: return "backward_data";
    case convkit::Direction::backward_weights: return "backward_weights";
  }
  return "";
}

// One plan per input shape, made the first time the shape is seen; remembers the last forward's
// input shape, whose plan `.backend` reports. A call holds its plan by shared_ptr while the GIL
// is released, so another thread's clear_plans() cannot pull it away mid-run.
template <class Plan>
class PlanCache {
 public:
  template <class MakeParams>
  std::shared_ptr<const Plan> get(const Shape& input_shape, const MakeParams& params_for, const convkit::Options& options) {
    auto found = plans_.find(input_shape);
    if (found == plans_.end()) {
      found = plans_.emplace(input_shape, std::make_shared<const Plan>(params_for(input_shape), options)).first;
    }
    return found->second;
  }
  void remember_forward(const Shape& input_shape) { last_forward_ = input_shape; }
  const Shape& last_forward() const { return last_forward_; }
  py::object last_forward_backend() const {
    if (last_forward_.empty()) return py::none();
    return py::str(std::string(plans_.at(last_forward_)->backend()));
  }
  size_t size() const { return plans_.size(); }
  void clear() {
    plans_.clear();
    last_forward_.clear();
  }

 private:
  std::map<Shape, std::shared_ptr<const Plan>> plans_;
  Shape last_forward_;
};

// Weights laid out once for one plan (a layer at one input shape) and one direction: what an
// inference loop or a frozen module passes instead of HWIO, so that calls skip the re-layout.
struct PackedConvWeights {
  convkit::PackedWeights packed;
  Shape input_shape;
  convkit::Direction direction;
};

convkit::Direction direction_of(const std::string& name) {
  if (name == "forward") return convkit::Direction::forward;
  if (name == "backward_data") return convkit::Direction::backward_data;
  throw py::value_error("direction must be \"forward\" or \"backward_data\" (backward_weights takes no weights); got \"" +
                        name + "\"");
}

class Conv2dLayer {
 public:
  Conv2dLayer(int64_t in_channels, int64_t out_channels, const py::object& kernel_size, const py::object& stride,
              const py::object& padding, const py::object& dilation, int64_t groups, const std::string& backend,
              int threads, const py::object& activation, const std::string& math)
      : options_(options_of(backend, threads, activation, math)), activation_(activation), math_(math) {
    const auto [kh, kw] = pair_of(kernel_size, "kernel_size");
    const auto [sh, sw] = pair_of(stride, "stride");
    const auto [dh, dw] = pair_of(dilation, "dilation");
    const auto [pt, pb, pl, pr] = padding_of(padding);
    base_.in_c = in_channels;
    base_.out_c = out_channels;
    base_.kernel_h = kh, base_.kernel_w = kw, base_.stride_h = sh, base_.stride_w = sw;
    base_.dilation_h = dh, base_.dilation_w = dw, base_.groups = groups;
    base_.pad_top = pt, base_.pad_bottom = pb, base_.pad_left = pl, base_.pad_right = pr;
    // Fail here rather than at the first call: check every field on the smallest input the
    // kernel fits, threads with a naive plan of it, and that the backend's name is registered.
    convkit::Conv2dParams smallest = base_;
    smallest.in_h = spanned_extent(kh, dh);
    smallest.in_w = spanned_extent(kw, dw);
    convkit::Options check = options_;
    check.backend = "naive";
    static_cast<void>(convkit::Conv2d{smallest, check});
    if (backend != "auto" && backend != "tune") convkit::conv2d_decline_reason(backend, smallest);
  }

  convkit::Conv2dParams params_for(const Shape& input_shape) const {
    if (input_shape.size() != 4) {
      throw py::value_error("input_shape must be (batch, height, width, channels); got " + shape_text(input_shape));
    }
    convkit::Conv2dParams p = base_;
    p.batch = input_shape[0], p.in_h = input_shape[1], p.in_w = input_shape[2];
    if (input_shape[3] != base_.in_c) {
      throw py::value_error("the input has " + std::to_string(input_shape[3]) +
                            " channels (shape[3]) but the layer was built for in_channels=" + std::to_string(base_.in_c));
    }
    return p;
  }

  py::array forward(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj, const py::object& out) {
    const std::string where = "convkit.Conv2d.forward";
    const FloatArray x = input(x_obj, where, "x");
    const auto plan = plan_for(shape_of(x));
    const PackedConvWeights* packed = packed_or_null(w_obj);
    if (packed) require_packed_for(*packed, convkit::Direction::forward, shape_of(x), where);
    std::optional<FloatArray> w;
    if (!packed) w = weights(w_obj, where);
    std::optional<FloatArray> b;
    if (!b_obj.is_none()) b = bias(b_obj, where, "b");
    FloatArray y = output_array(out, output_shape(plan->params()), where);
    {
      py::gil_scoped_release unlocked;
      if (packed) {
        plan->forward(x.data(), packed->packed, b ? b->data() : nullptr, y.mutable_data());
      } else {
        plan->forward(x.data(), w->data(), b ? b->data() : nullptr, y.mutable_data());
      }
    }
    plans_.remember_forward(shape_of(x));
    return std::move(y);
  }

  py::array backward_data(const py::object& dy_obj, const py::object& w_obj, const py::object& input_shape,
                          const py::object& out) {
    const std::string where = "convkit.Conv2d.backward_data";
    const FloatArray dy = float32_array(dy_obj, where, "dy", 4, "NHWC");
    const PackedConvWeights* packed = packed_or_null(w_obj);
    Shape x_shape;
    if (packed && input_shape.is_none()) {
      x_shape = packed->input_shape;
      x_shape[0] = dy.shape(0);  // the packed weights serve any batch (require_packed_for)
    } else {
      x_shape = input_shape_for(dy, input_shape, where);
    }
    if (packed) require_packed_for(*packed, convkit::Direction::backward_data, x_shape, where);
    const auto plan = plan_for(x_shape);
    require_shape(dy, output_shape(plan->params()), where, "dy", "(batch, out_h, out_w, out_channels)");
    const convkit::Conv2dParams& p = plan->params();
    std::optional<FloatArray> w;
    if (!packed) w = weights(w_obj, where);
    FloatArray dx = output_array(out, {p.batch, p.in_h, p.in_w, p.in_c}, where);
    {
      py::gil_scoped_release unlocked;
      if (packed) {
        plan->backward_data(dy.data(), packed->packed, dx.mutable_data());
      } else {
        plan->backward_data(dy.data(), w->data(), dx.mutable_data());
      }
    }
    return std::move(dx);
  }

  py::tuple backward_weights(const py::object& x_obj, const py::object& dy_obj) {
    const std::string where = "convkit.Conv2d.backward_weights";
    const FloatArray x = input(x_obj, where, "x");
    const auto plan = plan_for(shape_of(x));
    const FloatArray dy = float32_array(dy_obj, where, "dy", 4, "NHWC");
    require_shape(dy, output_shape(plan->params()), where, "dy", "(batch, out_h, out_w, out_channels)");
    FloatArray dw(weight_shape()), db(Shape{base_.out_c});
    {
      py::gil_scoped_release unlocked;
      plan->backward_weights(x.data(), dy.data(), dw.mutable_data(), db.mutable_data());
    }
    return py::make_tuple(std::move(dw), std::move(db));
  }

  PackedConvWeights pack_weights(const py::object& w_obj, const Shape& input_shape, const std::string& direction) {
    const std::string where = "convkit.Conv2d.pack_weights";
    const convkit::Direction d = direction_of(direction);
    const auto plan = plan_for(input_shape);
    const FloatArray w = weights(w_obj, where);
    PackedConvWeights packed{convkit::PackedWeights(), input_shape, d};
    {
      py::gil_scoped_release unlocked;
      packed.packed = plan->pack_weights(w.data(), d);
    }
    return packed;
  }

  py::object backend() const { return plans_.last_forward_backend(); }

  py::dict backends_for(const Shape& input_shape) {
    const auto plan = plan_for(input_shape);
    py::dict names;
    for (auto d : {convkit::Direction::forward, convkit::Direction::backward_data, convkit::Direction::backward_weights}) {
      names[direction_name(d)] = std::string(plan->backend(d));
    }
    return names;
  }

  Shape weight_shape() const { return {base_.kernel_h, base_.kernel_w, base_.in_c_per_group(), base_.out_c}; }
  const convkit::Conv2dParams& base() const { return base_; }
  const convkit::Options& options() const { return options_; }
  const py::object& activation() const { return activation_; }
  const std::string& math() const { return math_; }
  size_t plan_count() const { return plans_.size(); }
  void clear_plans() { plans_.clear(); }

 private:
  static Shape output_shape(const convkit::Conv2dParams& p) { return {p.batch, p.out_h(), p.out_w(), p.out_c}; }

  FloatArray input(const py::object& obj, const std::string& where, const char* name) const {
    FloatArray x = float32_array(obj, where, name, 4, "NHWC (batch, height, width, channels)");
    if (x.shape(3) != base_.in_c) {
      bad_argument(where, std::string(name) + " has " + std::to_string(x.shape(3)) +
                              " channels (shape[3]) but the layer was built for in_channels=" + std::to_string(base_.in_c));
    }
    return x;
  }

  FloatArray weights(const py::object& obj, const std::string& where) const {
    FloatArray w = float32_array(obj, where, "w", 4, "HWIO (kernel_h, kernel_w, in_channels/groups, out_channels)");
    require_shape(w, weight_shape(), where, "w", "(kernel_h, kernel_w, in_channels/groups, out_channels)");
    return w;
  }

  static const PackedConvWeights* packed_or_null(const py::object& w_obj) {
    return py::isinstance<PackedConvWeights>(w_obj) ? &w_obj.cast<const PackedConvWeights&>() : nullptr;
  }

  // The problem the weights were packed for, the C++ call checks (batch aside: weights packed
  // for one batch size serve another where the same row runs, docs/design.md "Packed weights");
  // the direction and the input's height, width and channels are checked here, where the message
  // can name them as Python callers know them.
  static void require_packed_for(const PackedConvWeights& packed, convkit::Direction direction, const Shape& input_shape,
                                 const std::string& where) {
    if (packed.direction != direction) {
      bad_argument(where, std::string("w was packed for ") + direction_name(packed.direction) + ", not " +
                              direction_name(direction) + " (pack_weights(w, input_shape, \"" + direction_name(direction) +
                              "\"))");
    }
    if (!std::equal(packed.input_shape.begin() + 1, packed.input_shape.end(), input_shape.begin() + 1, input_shape.end())) {
      bad_argument(where, "w was packed for input shape " + shape_text(packed.input_shape) + ", not " +
                              shape_text(input_shape) + " (pack_weights(w, input_shape))");
    }
  }

  FloatArray bias(const py::object& obj, const std::string& where, const char* name) const {
    FloatArray b = float32_array(obj, where, name);
    if (b.size() != base_.out_c) {
      bad_argument(where, std::string(name) + " must hold out_channels=" + std::to_string(base_.out_c) +
                              " values (any shape, e.g. (" + std::to_string(base_.out_c) + ",)); got shape " +
                              shape_text(shape_of(b)));
    }
    return b;
  }

  // The input shape dy came from: the caller's, else the last forward's when its output matches,
  // else the only one there is (stride 1); with a larger stride several input sizes give dy's.
  Shape input_shape_for(const FloatArray& dy, const py::object& input_shape, const std::string& where) const {
    if (!input_shape.is_none()) return input_shape.cast<Shape>();
    const Shape& last = plans_.last_forward();
    if (!last.empty() && output_shape(params_for(last)) == shape_of(dy)) return last;
    if (base_.stride_h != 1 || base_.stride_w != 1) {
      bad_argument(where, "with stride > 1 several input sizes give dy's shape " + shape_text(shape_of(dy)) +
                              ": pass input_shape=(batch, height, width, channels)");
    }
    const int64_t in_h = dy.shape(1) - 1 + spanned_extent(base_.kernel_h, base_.dilation_h) - base_.pad_top - base_.pad_bottom;
    const int64_t in_w = dy.shape(2) - 1 + spanned_extent(base_.kernel_w, base_.dilation_w) - base_.pad_left - base_.pad_right;
    return {dy.shape(0), in_h, in_w, base_.in_c};
  }

  std::shared_ptr<const convkit::Conv2d> plan_for(const Shape& input_shape) {
    return plans_.get(input_shape, [this](const Shape& s) { return params_for(s); }, options_);
  }

  convkit::Conv2dParams base_;  // batch and spatial size come from each input
  convkit::Options options_;
  py::object activation_;
  std::string math_;
  PlanCache<convkit::Conv2d> plans_;
};

class Pool2dLayer {
 public:
  Pool2dLayer(const py::object& kernel_size, const py::object& stride, const py::object& padding, const std::string& mode,
              bool count_include_pad, bool ceil_mode, const std::string& backend, int threads) {
    const auto [kh, kw] = pair_of(kernel_size, "kernel_size");
    const auto [sh, sw] = stride.is_none() ? std::array<int64_t, 2>{kh, kw} : pair_of(stride, "stride");
    const auto [pt, pb, pl, pr] = padding_of(padding);
    if (mode == "max") {
      base_.mode = convkit::PoolMode::max;
    } else if (mode == "average" || mode == "avg") {
      base_.mode = convkit::PoolMode::average;
    } else {
      throw py::value_error("mode must be \"max\" or \"average\"; got \"" + mode + "\"");
    }
    base_.channels = 1;
    base_.window_h = kh, base_.window_w = kw, base_.stride_h = sh, base_.stride_w = sw;
    base_.pad_top = pt, base_.pad_bottom = pb, base_.pad_left = pl, base_.pad_right = pr;
    base_.count_include_pad = count_include_pad;
    base_.ceil_mode = ceil_mode;
    options_.backend = backend;
    options_.threads = threads;
    // As in Conv2dLayer: every field, threads and the backend's name are checked now.
    convkit::Pool2dParams smallest = base_;
    smallest.in_h = spanned_extent(kh, 1);
    smallest.in_w = spanned_extent(kw, 1);
    convkit::Options check = options_;
    check.backend = "naive";
    static_cast<void>(convkit::Pool2d{smallest, check});
    if (backend != "auto" && backend != "tune") convkit::pool2d_decline_reason(backend, smallest);
  }

  convkit::Pool2dParams params_for(const Shape& s) const {
    if (s.size() != 4) throw py::value_error("input_shape must be (batch, height, width, channels); got " + shape_text(s));
    convkit::Pool2dParams p = base_;
    p.batch = s[0], p.in_h = s[1], p.in_w = s[2], p.channels = s[3];
    return p;
  }

  py::array forward(const py::object& x_obj, const py::object& out) {
    const std::string where = "convkit.Pool2d.forward";
    const FloatArray x = float32_array(x_obj, where, "x", 4, "NHWC (batch, height, width, channels)");
    const auto plan = plan_for(shape_of(x));
    FloatArray y = output_array(out, output_shape(plan->params()), where);
    {
      py::gil_scoped_release unlocked;
      plan->forward(x.data(), y.mutable_data());
    }
    plans_.remember_forward(shape_of(x));
    return std::move(y);
  }

  py::array backward(const py::object& x_obj, const py::object& dy_obj, const py::object& out) {
    const std::string where = "convkit.Pool2d.backward";
    const FloatArray x = float32_array(x_obj, where, "x", 4, "NHWC (batch, height, width, channels)");
    const auto plan = plan_for(shape_of(x));
    const FloatArray dy = float32_array(dy_obj, where, "dy", 4, "NHWC");
    require_shape(dy, output_shape(plan->params()), where, "dy", "(batch, out_h, out_w, channels)");
    FloatArray dx = output_array(out, shape_of(x), where);
    {
      py::gil_scoped_release unlocked;
      plan->backward(x.data(), dy.data(), dx.mutable_data());
    }
    return std::move(dx);
  }

  py::object backend() const { return plans_.last_forward_backend(); }

  const convkit::Pool2dParams& base() const { return base_; }
  const convkit::Options& options() const { return options_; }
  size_t plan_count() const { return plans_.size(); }
  void clear_plans() { plans_.clear(); }

 private:
  static Shape output_shape(const convkit::Pool2dParams& p) { return {p.batch, p.out_h(), p.out_w(), p.channels}; }

  std::shared_ptr<const convkit::Pool2d> plan_for(const Shape& input_shape) {
    return plans_.get(input_shape, [this](const Shape& s) { return params_for(s); }, options_);
  }

  convkit::Pool2dParams base_;  // batch, spatial size and channels come from each input
  convkit::Options options_;
  PlanCache<convkit::Pool2d> plans_;
};

std::string conv_repr(const Conv2dLayer& layer) {
  const auto& p = layer.base();
  std::string text = "convkit.Conv2d(" + std::to_string(p.in_c) + ", " + std::to_string(p.out_c) + ", kernel_size=(" +
                     std::to_string(p.kernel_h) + ", " + std::to_string(p.kernel_w) + "), stride=(" +
                     std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) + "), padding=" +
                     shape_text({p.pad_top, p.pad_bottom, p.pad_left, p.pad_right}) + ", dilation=(" +
                     std::to_string(p.dilation_h) + ", " + std::to_string(p.dilation_w) +
                     "), groups=" + std::to_string(p.groups) + ", backend=\"" + layer.options().backend + "\"";
  return text + ", threads=" + std::to_string(layer.options().threads) +
         ", activation=" + py::repr(layer.activation()).cast<std::string>() + ", math=\"" + layer.math() + "\")";
}

}  // namespace

PYBIND11_MODULE(_convkit, m) {
  m.doc() = "convkit's compiled core: plans over NHWC/HWIO float32 numpy arrays (see the convkit package)";
  m.attr("__version__") = CONVKIT_VERSION;

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const convkit::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<convkit::Conv2dParams>(m, "Conv2dParams", "A convolution problem (convkit::Conv2dParams); str() is its problem string")
      .def(py::init<>())
      .def_readwrite("batch", &convkit::Conv2dParams::batch)
      .def_readwrite("in_h", &convkit::Conv2dParams::in_h)
      .def_readwrite("in_w", &convkit::Conv2dParams::in_w)
      .def_readwrite("in_c", &convkit::Conv2dParams::in_c)
      .def_readwrite("out_c", &convkit::Conv2dParams::out_c)
      .def_readwrite("kernel_h", &convkit::Conv2dParams::kernel_h)
      .def_readwrite("kernel_w", &convkit::Conv2dParams::kernel_w)
      .def_readwrite("stride_h", &convkit::Conv2dParams::stride_h)
      .def_readwrite("stride_w", &convkit::Conv2dParams::stride_w)
      .def_readwrite("pad_top", &convkit::Conv2dParams::pad_top)
      .def_readwrite("pad_bottom", &convkit::Conv2dParams::pad_bottom)
      .def_readwrite("pad_left", &convkit::Conv2dParams::pad_left)
      .def_readwrite("pad_right", &convkit::Conv2dParams::pad_right)
      .def_readwrite("dilation_h", &convkit::Conv2dParams::dilation_h)
      .def_readwrite("dilation_w", &convkit::Conv2dParams::dilation_w)
      .def_readwrite("groups", &convkit::Conv2dParams::groups)
      .def_property_readonly("out_h", &convkit::Conv2dParams::out_h)
      .def_property_readonly("out_w", &convkit::Conv2dParams::out_w)
      .def("flops", &convkit::Conv2dParams::flops)
      .def("validate", &convkit::Conv2dParams::validate)
      .def("__eq__", [](const convkit::Conv2dParams& a, const convkit::Conv2dParams& b) { return a == b; })
      .def("__str__", [](const convkit::Conv2dParams& p) { return convkit::to_string(p); })
      .def("__repr__", [](const convkit::Conv2dParams& p) { return "convkit.parse_problem(\"" + convkit::to_string(p) + "\")"; });

  py::class_<convkit::Pool2dParams>(m, "Pool2dParams", "A pooling problem (convkit::Pool2dParams); str() is its problem string")
      .def(py::init<>())
      .def_readwrite("batch", &convkit::Pool2dParams::batch)
      .def_readwrite("in_h", &convkit::Pool2dParams::in_h)
      .def_readwrite("in_w", &convkit::Pool2dParams::in_w)
      .def_readwrite("channels", &convkit::Pool2dParams::channels)
      .def_readwrite("window_h", &convkit::Pool2dParams::window_h)
      .def_readwrite("window_w", &convkit::Pool2dParams::window_w)
      .def_readwrite("stride_h", &convkit::Pool2dParams::stride_h)
      .def_readwrite("stride_w", &convkit::Pool2dParams::stride_w)
      .def_readwrite("pad_top", &convkit::Pool2dParams::pad_top)
      .def_readwrite("pad_bottom", &convkit::Pool2dParams::pad_bottom)
      .def_readwrite("pad_left", &convkit::Pool2dParams::pad_left)
      .def_readwrite("pad_right", &convkit::Pool2dParams::pad_right)
      .def_property(
          "mode", [](const convkit::Pool2dParams& p) { return p.mode == convkit::PoolMode::max ? "max" : "average"; },
          [](convkit::Pool2dParams& p, const std::string& mode) {
            if (mode != "max" && mode != "average") throw py::value_error("mode must be \"max\" or \"average\"; got \"" + mode + "\"");
            p.mode = mode == "max" ? convkit::PoolMode::max : convkit::PoolMode::average;
          })
      .def_readwrite("count_include_pad", &convkit::Pool2dParams::count_include_pad)
      .def_readwrite("ceil_mode", &convkit::Pool2dParams::ceil_mode)
      .def_property_readonly("out_h", &convkit::Pool2dParams::out_h)
      .def_property_readonly("out_w", &convkit::Pool2dParams::out_w)
      .def("validate", &convkit::Pool2dParams::validate)
      .def("__eq__", [](const convkit::Pool2dParams& a, const convkit::Pool2dParams& b) { return a == b; })
      .def("__str__", [](const convkit::Pool2dParams& p) { return convkit::to_string(p); })
      .def("__repr__", [](const convkit::Pool2dParams& p) { return "convkit.parse_problem(\"" + convkit::to_string(p) + "\")"; });

  py::class_<PackedConvWeights>(m, "PackedWeights",
                                "Weights laid out by Conv2d.pack_weights for one input shape and direction (opaque)")
      .def_property_readonly("input_shape", [](const PackedConvWeights& p) { return py::tuple(py::cast(p.input_shape)); })
      .def_property_readonly("direction", [](const PackedConvWeights& p) { return direction_name(p.direction); })
      .def("__repr__", [](const PackedConvWeights& p) {
        return "<convkit.PackedWeights for input shape " + shape_text(p.input_shape) + ", " + direction_name(p.direction) + ">";
      });

  py::class_<Conv2dLayer>(m, "Conv2d", R"doc(A 2-D convolution over NHWC float32 arrays with HWIO weights.

One C++ plan is made and kept per input shape (batch, height, width). Inputs that are
C-contiguous float32 are used in place; others are converted to that once per call. Results are
float32. The GIL is released while the kernels run, so Python threads can convolve concurrently.
kernel_size, stride, dilation: int or (h, w); padding: int, (h, w) or (top, bottom, left, right).
backend: a name from convkit.backends(), "auto" or "tune"; threads: 0 for OpenMP's default;
activation: None or "relu" (fused into forward, ignored by the backward calls);
math: "strict" or "fast" (lets auto choose algorithms that round differently, e.g. Winograd).
Every invalid argument raises ValueError with convkit's message.)doc")
      .def(py::init<int64_t, int64_t, py::object, py::object, py::object, py::object, int64_t, std::string, int, py::object,
                    std::string>(),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("backend") = "auto",
           py::arg("threads") = 0, py::arg("activation") = py::none(), py::arg("math") = "strict")
      .def("forward", &Conv2dLayer::forward, py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
           py::arg("out") = py::none(),
           "y = conv(x, w) + b: x (N, H, W, in_channels), w (kh, kw, in_channels/groups, out_channels) or "
           "pack_weights(w, x.shape), b out_channels values or None; out: an optional float32 C-contiguous array to write y into")
      .def("__call__", &Conv2dLayer::forward, py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
           py::arg("out") = py::none())
      .def("pack_weights", &Conv2dLayer::pack_weights, py::arg("w"), py::arg("input_shape"),
           py::arg("direction") = "forward",
           "HWIO w laid out once for the plan of an NHWC input shape and a direction (\"forward\" or "
           "\"backward_data\"): pass the result as w to forward (or backward_data) on inputs of that shape, and "
           "calls skip the re-layout (other batch sizes too, where the same backend runs them). Valid until w "
           "changes: the packed copy does not follow it")
      .def("backward_data", &Conv2dLayer::backward_data, py::arg("dy"), py::arg("w"), py::arg("input_shape") = py::none(),
           py::arg("out") = py::none(),
           "dx from dy: w HWIO or pack_weights(w, input_shape, \"backward_data\"); input_shape defaults to the packed "
           "weights' input shape, else to the last forward's input when dy fits it, else to the one input size "
           "a stride-1 layer maps onto dy's shape")
      .def("backward_weights", &Conv2dLayer::backward_weights, py::arg("x"), py::arg("dy"),
           "(dw, db) from x and dy: dw in HWIO, db of shape (out_channels,)")
      .def_property_readonly("backend", &Conv2dLayer::backend,
                             "the forward backend chosen for the last forward's input shape (None before the first call)")
      .def("backends_for", &Conv2dLayer::backends_for, py::arg("input_shape"),
           "{direction: backend} of the plan for an NHWC input shape")
      .def("params", &Conv2dLayer::params_for, py::arg("input_shape"), "the Conv2dParams for an NHWC input shape")
      .def_property_readonly("weight_shape", [](const Conv2dLayer& l) { return py::tuple(py::cast(l.weight_shape())); })
      .def_property_readonly("in_channels", [](const Conv2dLayer& l) { return l.base().in_c; })
      .def_property_readonly("out_channels", [](const Conv2dLayer& l) { return l.base().out_c; })
      .def_property_readonly("kernel_size", [](const Conv2dLayer& l) { return py::make_tuple(l.base().kernel_h, l.base().kernel_w); })
      .def_property_readonly("stride", [](const Conv2dLayer& l) { return py::make_tuple(l.base().stride_h, l.base().stride_w); })
      .def_property_readonly("padding", [](const Conv2dLayer& l) {
        const auto& p = l.base();
        return py::make_tuple(p.pad_top, p.pad_bottom, p.pad_left, p.pad_right);
      })
      .def_property_readonly("dilation", [](const Conv2dLayer& l) { return py::make_tuple(l.base().dilation_h, l.base().dilation_w); })
      .def_property_readonly("groups", [](const Conv2dLayer& l) { return l.base().groups; })
      .def_property_readonly("threads", [](const Conv2dLayer& l) { return l.options().threads; })
      .def_property_readonly("activation", &Conv2dLayer::activation)
      .def_property_readonly("math", &Conv2dLayer::math)
      .def_property_readonly("plan_count", &Conv2dLayer::plan_count, "how many input shapes have a plan")
      .def("clear_plans", &Conv2dLayer::clear_plans, "drop every cached plan")
      .def("__repr__", &conv_repr);

  py::class_<Pool2dLayer>(m, "Pool2d", R"doc(2-D max or average pooling over NHWC float32 arrays.

One C++ plan per input shape, inputs used in place when C-contiguous float32, float32 results,
the GIL released while kernels run. stride defaults to kernel_size; padding is at most half the
window (an int, (h, w) or (top, bottom, left, right)); mode "max" or "average"; count_include_pad
and ceil_mode as in PyTorch. max backward: the first maximum of each window takes the gradient.)doc")
      .def(py::init<py::object, py::object, py::object, std::string, bool, bool, std::string, int>(), py::arg("kernel_size"),
           py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("mode") = "max",
           py::arg("count_include_pad") = false, py::arg("ceil_mode") = false, py::arg("backend") = "auto",
           py::arg("threads") = 0)
      .def("forward", &Pool2dLayer::forward, py::arg("x"), py::arg("out") = py::none())
      .def("__call__", &Pool2dLayer::forward, py::arg("x"), py::arg("out") = py::none())
      .def("backward", &Pool2dLayer::backward, py::arg("x"), py::arg("dy"), py::arg("out") = py::none(),
           "dx from the forward's input x and dy")
      .def_property_readonly("backend", &Pool2dLayer::backend,
                             "the backend chosen for the last forward's input shape (None before the first call)")
      .def("params", &Pool2dLayer::params_for, py::arg("input_shape"), "the Pool2dParams for an NHWC input shape")
      .def_property_readonly("kernel_size", [](const Pool2dLayer& l) { return py::make_tuple(l.base().window_h, l.base().window_w); })
      .def_property_readonly("stride", [](const Pool2dLayer& l) { return py::make_tuple(l.base().stride_h, l.base().stride_w); })
      .def_property_readonly("padding", [](const Pool2dLayer& l) {
        const auto& p = l.base();
        return py::make_tuple(p.pad_top, p.pad_bottom, p.pad_left, p.pad_right);
      })
      .def_property_readonly("mode", [](const Pool2dLayer& l) { return l.base().mode == convkit::PoolMode::max ? "max" : "average"; })
      .def_property_readonly("threads", [](const Pool2dLayer& l) { return l.options().threads; })
      .def_property_readonly("plan_count", &Pool2dLayer::plan_count)
      .def("clear_plans", &Pool2dLayer::clear_plans);

  m.def(
      "backends",
      [](const std::string& kind) {
        if (kind == "conv2d") return convkit::conv2d_backends();
        if (kind == "pool2d") return convkit::pool2d_backends();
        throw py::value_error("kind must be \"conv2d\" or \"pool2d\"; got \"" + kind + "\"");
      },
      py::arg("kind") = "conv2d", "the registered backend names, \"naive\" first (\"auto\" and \"tune\" are not backends)");
  m.def(
      "backend_info",
      [] {
        py::list rows;
        for (const convkit::BackendInfo& info : convkit::conv2d_backend_info()) {
          rows.append(py::dict(py::arg("name") = info.name, py::arg("description") = info.description,
                               py::arg("math") = info.math == convkit::Math::fast ? "fast" : "strict"));
        }
        return rows;
      },
      "the convolution registry's rows, in backends() order: {name, description, math}; math \"fast\" marks "
      "algorithms that round differently (their error bound is wider by 2^-13 of the terms' magnitude)");
  m.def("simd_arch", &convkit::simd_arch, "the instruction set the kernels run with: \"avx512\", \"avx2\" or \"sse2\"");
  m.def(
      "parse_problem",
      [](const std::string& text) -> py::object {
        try {
          return py::cast(convkit::parse_conv2d(text));
        } catch (const convkit::Error& as_conv) {
          try {
            return py::cast(convkit::parse_pool2d(text));
          } catch (const convkit::Error& as_pool) {
            throw py::value_error(std::string("not a convolution (") + as_conv.what() + ") nor a pooling (" + as_pool.what() + ")");
          }
        }
      },
      py::arg("problem"), "a canonical problem string -> Conv2dParams or Pool2dParams");
}
