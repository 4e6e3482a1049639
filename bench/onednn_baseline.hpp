#pragma once
// oneDNN run on convkit's problems, for side-by-side benchmarks: same NHWC activations, HWIO
// weights reordered to the layout oneDNN prefers (once outside the timed loop, or in every
// run), bias.
#include <memory>
#include <string>

#include "convkit/convkit.hpp"

namespace convkit::bench {

// One oneDNN primitive with its arguments bound, ready to run.
class OnednnPrimitive {
 public:
  ~OnednnPrimitive();
  void run();
  std::string implementation() const;  // oneDNN's own name for the kernel it chose

 protected:
  OnednnPrimitive();
  struct State;
  std::unique_ptr<State> state_;
};

class OnednnConv : public OnednnPrimitive {
 public:
  // Throws std::exception when oneDNN has no implementation for the problem. With
  // reorder_every_run, run() first reorders w (HWIO) into oneDNN's layout, as a caller holding
  // HWIO weights would each call; otherwise that is done once, here.
  OnednnConv(const Conv2dParams&, Direction, const float* x, const float* w, const float* b, float* y,
             const float* dy, float* dx, float* dw, float* db, bool reorder_every_run = false);
};

class OnednnPool : public OnednnPrimitive {
 public:
  OnednnPool(const Pool2dParams&, const float* x, float* y);  // forward inference
};

}  // namespace convkit::bench
