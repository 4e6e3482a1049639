#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "convkit/conv2d.hpp"
#include "convkit/params.hpp"

namespace convkit {

namespace detail {
class PoolPlan;
}

class Pool2d {
 public:
  explicit Pool2d(const Pool2dParams&, const Options& = {});  // throws convkit::Error
  const Pool2dParams& params() const;
  std::string_view backend() const;
  void forward(const float* x, float* y) const;
  // max: the first maximum of each window (row-major, in-bounds positions) takes the gradient.
  void backward(const float* x, const float* dy, float* dx) const;

 private:
  std::shared_ptr<const detail::PoolPlan> plan_;
};

std::vector<std::string> pool2d_backends();  // registered names, "naive" first; not "auto"
std::string pool2d_decline_reason(std::string_view backend, const Pool2dParams&);

}  // namespace convkit
