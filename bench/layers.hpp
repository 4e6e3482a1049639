#pragma once
// The named layer set: the shapes people actually run, as canonical problem strings.
#include <string>
#include <vector>

namespace convkit::bench {

struct Layer {
  const char* name;
  const char* problem;
};

inline const std::vector<Layer>& conv_layers() {
  static const std::vector<Layer> layers = {
      {"seed", "mb10_ic3ih4iw4_oc8_kh2kw2_sh2sw2_ph2pw2"},
      {"resnet50_conv1", "mb1_ic3ih224iw224_oc64_kh7kw7_sh2sw2_ph3pw3"},
      {"resnet50_res2a_1x1", "mb1_ic64ih56iw56_oc64_kh1kw1"},
      {"resnet50_res2b_3x3", "mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1"},
      {"resnet50_res2c_1x1", "mb1_ic64ih56iw56_oc256_kh1kw1"},
      {"resnet50_res3a_proj", "mb1_ic256ih56iw56_oc512_kh1kw1_sh2sw2"},
      {"resnet50_res3b_3x3", "mb1_ic128ih28iw28_oc128_kh3kw3_ph1pw1"},
      {"resnet50_res4b_3x3", "mb1_ic256ih14iw14_oc256_kh3kw3_ph1pw1"},
      {"resnet50_res4_1x1", "mb1_ic1024ih14iw14_oc256_kh1kw1"},
      {"resnet50_res5b_3x3", "mb1_ic512ih7iw7_oc512_kh3kw3_ph1pw1"},
      {"vgg16_conv1_2", "mb1_ic64ih224iw224_oc64_kh3kw3_ph1pw1"},
      {"vgg16_conv3_2", "mb1_ic256ih56iw56_oc256_kh3kw3_ph1pw1"},
      {"mobilenetv2_dw112", "mb1_ic32ih112iw112_oc32_kh3kw3_ph1pw1_g32"},
      {"mobilenetv2_dw112_s2", "mb1_ic96ih112iw112_oc96_kh3kw3_sh2sw2_ph1pw1_g96"},
      {"resnet50_res2b_3x3_mb8", "mb8_ic64ih56iw56_oc64_kh3kw3_ph1pw1"},
  };
  return layers;
}

inline const std::vector<Layer>& pool_layers() {
  static const std::vector<Layer> layers = {
      {"seed_max", "mb2_c3ih4iw4_max_kh3kw3_sh2sw2"},
      {"resnet50_pool1", "mb1_c64ih112iw112_max_kh3kw3_sh2sw2_ph1pw1"},
      {"vgg16_pool1", "mb1_c64ih224iw224_max_kh2kw2_sh2sw2"},
      {"densenet_transition_avg", "mb1_c256ih56iw56_avg_kh2kw2_sh2sw2"},
      {"resnet50_global_avg", "mb1_c2048ih7iw7_avg_kh7kw7_sh1sw1"},
      {"inception_avg_3x3_incl", "mb1_c192ih35iw35_avg_kh3kw3_sh1sw1_ph1pw1_incl"},
  };
  return layers;
}

}  // namespace convkit::bench
