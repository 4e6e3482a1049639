#pragma once
// The activation of one value, for code outside the kernels (Winograd's outputs beyond every
// tap's reach); the kernels' vector form is kernels/epilogue.hpp, and the two change together.
#include "convkit/conv2d.hpp"

namespace convkit::detail {

// As the reference writes it: ReLU is v < 0 ? 0 : v, which keeps NaN and -0.
inline float activate(float v, Activation activation) {
  switch (activation) {
    case Activation::relu: return v < 0.0f ? 0.0f : v;
    case Activation::none: break;
  }
  return v;
}

}  // namespace convkit::detail
