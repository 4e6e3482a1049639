#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "convkit/params.hpp"

namespace convkit {

enum class Activation { none, relu };  // applied in forward after the bias

// Which arithmetic `auto` and `tune` may choose. strict: plain sums of products only, each
// output within 2*(m+2)*2^-24*M of the exact value (m terms summed, M the sum of their absolute
// values, bias included). fast: also algorithms that round differently (Winograd's transforms),
// each within that bound plus 2^-13*M. CONVKIT_MATH=strict|fast, when set, overrides
// Options.math for the whole process (any other value is a convkit::Error).
enum class Math { strict, fast };

struct Options {
  // A registered name, "auto" (a rule per shape), or "tune" (time the backends that accept the
  // problem when the plan is made, keep the fastest; remembered per problem, thread count and
  // instruction set, and across processes in the file CONVKIT_TUNE_FILE names).
  // CONVKIT_BACKEND overrides "auto".
  std::string backend = "auto";
  int threads = 0;               // 0: OpenMP's default
  Activation activation = Activation::none;
  Math math = Math::strict;  // a backend asked for by name runs whatever its Math
};

// What a convolution plan runs; `auto` and `tune` may choose a backend for each.
enum class Direction { forward, backward_data, backward_weights };

namespace detail {
class ConvPlan;
}

// Weights laid out once for one direction of a plan's backend (and any plan of the same
// problem, batch aside, running that direction on the same backend and instruction set):
// forward, or backward data, then skips the per-call repacking.
class PackedWeights {
 public:
  PackedWeights();
  PackedWeights(PackedWeights&&) noexcept;
  PackedWeights& operator=(PackedWeights&&) noexcept;
  ~PackedWeights();
  bool empty() const;

 private:
  friend class Conv2d;
  struct Storage;
  std::unique_ptr<Storage> storage_;
};

// A plan: validates the problem and chooses a backend once; runs many times, from several
// threads at once if the caller likes. Results are bitwise reproducible for a given backend,
// input and thread count.
class Conv2d {
 public:
  explicit Conv2d(const Conv2dParams&, const Options& = {});  // throws convkit::Error
  const Conv2dParams& params() const;
  std::string_view backend() const;                  // the forward direction's backend
  std::string_view backend(Direction) const;

  // x: NHWC input, w: HWIO weights, b: [out_c] or null, y: NHWC output (overwritten).
  void forward(const float* x, const float* w, const float* b, float* y) const;
  // For Direction::forward (inference) or Direction::backward_data (weights held fixed over
  // many gradient calls: saliency maps, adversarial inputs, micro-batches accumulated before an
  // update). Direction::backward_weights takes no weights: convkit::Error.
  PackedWeights pack_weights(const float* w, Direction direction = Direction::forward) const;
  void forward(const float* x, const PackedWeights& w, const float* b, float* y) const;
  // Gradients of convolution + bias (the activation is the caller's to differentiate).
  void backward_data(const float* dy, const float* w, float* dx) const;
  void backward_data(const float* dy, const PackedWeights& w, float* dx) const;
  void backward_weights(const float* x, const float* dy, float* dw, float* db) const;

 private:
  // w's data, or convkit::Error when it is empty or was packed for another plan or direction.
  const float* packed_data(const PackedWeights& w, Direction direction, const char* call) const;
  std::shared_ptr<const detail::ConvPlan> plan_;
};

std::vector<std::string> conv2d_backends();  // registered names, "naive" first; not "auto"
// The registry's rows, in conv2d_backends() order: name, description, accuracy class.
struct BackendInfo {
  std::string name, description;
  Math math;
};
std::vector<BackendInfo> conv2d_backend_info();
// Why the named backend declines a (valid) problem, or "" when it accepts it.
// Throws convkit::Error for a name that is not registered.
std::string conv2d_decline_reason(std::string_view backend, const Conv2dParams&);

}  // namespace convkit
