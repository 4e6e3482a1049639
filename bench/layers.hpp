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
      // Grouped: ResNeXt-50 (32x4d) stages 2-4 and stage 3's strided first block, RegNetX-style
      // group widths of 8, 16 and 24 channels, ShuffleNet v1's grouped 1x1 (g3, g8), groups of
      // 2 and 3 channels, and depthwise with channel multiplier 2 (stride 1 and 2).
      {"resnext50_s2_3x3_g32", "mb1_ic128ih56iw56_oc128_kh3kw3_ph1pw1_g32"},
      {"resnext50_s3_3x3_g32", "mb1_ic256ih28iw28_oc256_kh3kw3_ph1pw1_g32"},
      {"resnext50_s3a_3x3_s2_g32", "mb1_ic256ih56iw56_oc256_kh3kw3_sh2sw2_ph1pw1_g32"},
      {"resnext50_s4_3x3_g32", "mb1_ic512ih14iw14_oc512_kh3kw3_ph1pw1_g32"},
      {"regnetx_gw8_3x3", "mb1_ic96ih28iw28_oc96_kh3kw3_ph1pw1_g12"},
      {"regnetx_gw16_3x3", "mb1_ic160ih28iw28_oc160_kh3kw3_ph1pw1_g10"},
      {"regnetx_gw24_3x3", "mb1_ic240ih14iw14_oc240_kh3kw3_ph1pw1_g10"},
      {"shufflenet_g3_1x1", "mb1_ic240ih28iw28_oc240_kh1kw1_g3"},
      {"shufflenet_g8_1x1", "mb1_ic384ih28iw28_oc384_kh1kw1_g8"},
      {"grouped_cpg2_3x3", "mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1_g32"},
      {"grouped_cpg3_3x3", "mb1_ic48ih56iw56_oc48_kh3kw3_ph1pw1_g16"},
      {"dw_multiplier2_3x3", "mb1_ic32ih112iw112_oc64_kh3kw3_ph1pw1_g32"},
      {"dw_multiplier2_3x3_s2", "mb1_ic64ih56iw56_oc128_kh3kw3_sh2sw2_ph1pw1_g64"},
      // Depthwise with TensorFlow's SAME padding at stride 2, padded only at the end (5x5: one
      // row and column before, two after), as models exported from TensorFlow run it: MobileNet
      // v1's 28x28 and 14x14 blocks, an EfficientDet 64x64 block and EfficientNet's 5x5.
      {"mobilenetv1_dw28_s2_same", "mb1_ic256ih28iw28_oc256_kh3kw3_sh2sw2_pt0pb1pl0pr1_g256"},
      {"mobilenetv1_dw14_s2_same", "mb1_ic512ih14iw14_oc512_kh3kw3_sh2sw2_pt0pb1pl0pr1_g512"},
      {"efficientdet_dw64_s2_same", "mb1_ic240ih64iw64_oc240_kh3kw3_sh2sw2_pt0pb1pl0pr1_g240"},
      {"efficientnet_dw56_5x5_s2_same", "mb1_ic144ih56iw56_oc144_kh5kw5_sh2sw2_pt1pb2pl1pr2_g144"},
      // Dense 3x3 with prime channel counts off the vector width: every tile ends in a partial
      // vector, in both the reduction and the outputs.
      {"prime_c37_c53_3x3", "mb1_ic37ih56iw56_oc53_kh3kw3_ph1pw1"},
      {"prime_c61_c59_3x3", "mb1_ic61ih28iw28_oc59_kh3kw3_ph1pw1"},
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
