// README's usage example: one 3x3 convolution layer with a fused ReLU, planned once.
#include <convkit/convkit.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main() {
  convkit::Conv2dParams p;
  p.in_h = p.in_w = 56, p.in_c = 64, p.out_c = 64, p.kernel_h = p.kernel_w = 3;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  convkit::Options options;  // backend "auto", OpenMP's thread count
  options.activation = convkit::Activation::relu;
  const convkit::Conv2d conv(p, options);
  std::vector<float> x(p.input_elements(), 1.0f), w(p.weight_elements(), 0.01f), b(p.out_c, 0.5f);
  std::vector<float> y(p.output_elements());
  const convkit::PackedWeights packed = conv.pack_weights(w.data());  // once, for inference
  conv.forward(x.data(), packed, b.data(), y.data());
  // The centre pixel sees 3*3*64 ones times 0.01, plus the bias: 6.26.
  std::printf("%s on %s: y[center] = %.2f\n", std::string(conv.backend()).c_str(), convkit::simd_arch().c_str(),
              y[(28 * 56 + 28) * 64]);
  return y[(28 * 56 + 28) * 64] > 6.25f && y[(28 * 56 + 28) * 64] < 6.27f ? 0 : 1;
}
