#pragma once
// The shape sweep every backend is checked on, as canonical problem strings (paste one into
// a benchmark filter or `parse_conv2d` to reproduce a failure). Each line says which edge it
// reaches: 1x1 to 7x7, strides above and beyond the kernel, asymmetric and oversized padding,
// dilation, groups and depthwise, channel counts around SIMD widths and primes, batch 1 and >1,
// output widths that no register block divides. Every non-zero pad is read by some window
// (conv_backend_test checks it), so a backend that mishandles a pad cannot pass by never
// reaching it.
#include <string>
#include <vector>

namespace convkit::test {

inline const std::vector<std::string>& conv_sweep() {
  static const std::vector<std::string> sweep = {
      "mb1_ic1ih1iw1_oc1_kh1kw1",                           // the smallest problem
      "mb2_ic3ih5iw7_oc4_kh3kw3_ph1pw1",                    // tiny, batch 2, non-square input
      "mb1_ic16ih8iw8_oc16_kh1kw1",                         // 1x1 on one AVX-512 vector
      "mb1_ic17ih9iw10_oc33_kh3kw3_sh2sw2_pt1pb0pl0pr1",    // vector + 1 channels, asymmetric pad, stride 2
      "mb2_ic15ih13iw13_oc31_kh5kw5_ph2pw2",                // 5x5, channels just under vectors
      "mb1_ic3ih17iw17_oc16_kh7kw7_sh2sw2_ph3pw3",          // ResNet stem shape, small
      "mb1_ic8ih10iw10_oc8_kh3kw3_dh2dw2_ph2pw2",           // dilation 2
      "mb1_ic6ih9iw8_oc10_kh3kw2_dh3dw1_pt2pb1pl0pr1",      // dilation 3 on one axis, non-square kernel
      "mb2_ic8ih7iw7_oc12_kh3kw3_ph1pw1_g4",                // groups
      "mb1_ic32ih9iw9_oc32_kh3kw3_ph1pw1_g32",              // depthwise
      "mb2_ic17ih11iw11_oc17_kh3kw3_sh2sw2_ph1pw1_g17",     // depthwise, odd channels, stride 2
      "mb2_ic20ih13iw9_oc20_kh3kw3_sh2sw1_ph1pw1_g20",      // depthwise, stride 2 down only: row pairs and a row left
      "mb1_ic640ih7iw7_oc640_kh3kw3_ph1pw1_g640",           // depthwise, 7 rows for 2 threads: column segments
      "mb1_ic40000ih1iw3_oc40000_kh3kw3_ph1pw1_g40000",     // depthwise, 1 short row for 2 threads: channel blocks
      // Depthwise layers of 0.15 MFLOP and more, which two threads share (direct_conv.cpp's team):
      "mb1_ic24ih56iw56_oc24_kh3kw3_sh2sw2_pt1pb0pl1pr0_g24",  // stride 2, a vector and a half (ShuffleNet v2's, whose
                                                               // bottom and right pads no window reads)
      "mb2_ic40ih28iw28_oc40_kh3kw3_sh2sw2_pt0pb1pl0pr1_g40",  // stride 2, TensorFlow's SAME, 2.5 vectors, batch 2
      "mb1_ic37ih32iw32_oc37_kh3kw3_sh2sw2_pt0pb1pl0pr1_g37",  // stride 2, TensorFlow's SAME, prime channels
      "mb1_ic1024ih7iw7_oc1024_kh3kw3_ph1pw1_g1024",        // 7x7, 4 KB pixels, 7 rows for 2 threads (MobileNet v1)
      "mb2_ic232ih7iw7_oc232_kh3kw3_ph1pw1_g232",           // 7x7, batch 2: two images' rows shared
      "mb1_ic24ih8iw8_oc48_kh3kw3_ph1pw1_g24",              // depthwise with channel multiplier 2
      "mb1_ic1ih5iw5_oc1_kh5kw5",                           // kernel as large as the input
      "mb1_ic2ih3iw3_oc2_kh3kw3_ph4pw4",                    // padding wider than the kernel
      "mb1_ic4ih7iw5_oc5_kh2kw3_sh3sw1",                    // stride 3 > kernel height, non-square
      "mb1_ic5ih11iw11_oc7_kh1kw1_sh3sw3",                  // strided 1x1
      "mb1_ic5ih12iw12_oc8_kh1kw1_sh2sw2_pt1pb0pl1pr0",     // padded strided 1x1
      "mb3_ic64ih5iw5_oc64_kh3kw3_ph1pw1",                  // batch 3, 64 channels
      "mb1_ic33ih6iw19_oc17_kh3kw3_pt0pb2pl2pr0",           // asymmetric pads, prime sizes
      "mb1_ic13ih23iw29_oc19_kh3kw1_ph1",                   // primes, 3x1 kernel
      "mb1_ic96ih14iw14_oc48_kh1kw1",                       // 1x1, several vectors of input channels
      "mb2_ic256ih4iw4_oc64_kh1kw1",                        // long accumulation
      "mb1_ic64ih3iw3_oc160_kh3kw3_ph1pw1",                 // many output channels
      // Backward data in the dot form on HWIO (direct_conv.cpp's dot_repays_packing): long
      // reductions over few pixels, with partial channel tiles, reduction tails and channel blocks.
      "mb2_ic37ih3iw4_oc300_kh3kw3_ph1pw1",                 // batch 2, 37 dx channels, 300 reduced
      "mb1_ic19ih5iw4_oc480_kh3kw3_sh2sw2_pt1pb0pl0pr1",    // stride 2, asymmetric pads
      "mb2_ic40ih1iw1_oc200_kh1kw1",                        // 1x1 on 1x1 images (squeeze-excite)
      "mb2_ic20ih1iw1_oc24_kh3kw3_ph1pw1",                  // 3x3 on 1x1 images: eight taps read only padding
      "mb17_ic13ih3iw4_oc21_kh2kw3_sh2sw1_pt1pb0pl1pr1",    // 8 pixels an image, 17 images: weight-gradient outer products in 3 chunks
      "mb1_ic8ih1iw5_oc16_kh3kw3_ph1pw1",                   // one row: the top and bottom kernel rows read only padding
      "mb1_ic64ih3iw3_oc640_kh3kw3_ph1pw1_g2",              // groups of 32 and 320 channels
      "mb1_ic8ih40iw37_oc16_kh3kw3_ph1pw1",                 // many rows, width 37
      "mb1_ic31ih7iw7_oc15_kh3kw3_sh1sw1_ph1pw1",           // 31 in, 15 out
      "mb2_ic12ih9iw9_oc20_kh3kw3_sh2sw2_ph1pw1_g2",        // groups with stride
      "mb1_ic600ih5iw6_oc70_kh3kw3_ph1pw1",                 // in_c in two cache chunks (AVX-512, 1 MB L2), 5 vectors out (4 + 1)
      "mb2_ic5ih13iw41_oc40_kh3kw3_sh3sw3_dh2dw2_ph3pw5",   // stride 3 with dilation 2, wide rows
      "mb1_ic8ih13iw13_oc9_kh3kw3_sh2sw2_dh2dw2_ph2pw1",    // stride and dilation sharing a factor
      "mb2_ic34ih7iw30_oc66_kh3kw3_ph1pw1_g2",              // groups of 17 in, 33 out, long rows
      "mb1_ic3ih4iw4_oc5_kh2kw2_sh3sw3_ph4pw4",             // padding wider than the kernel, stride 3
      "mb1_ic70ih6iw21_oc70_kh5kw5_ph3pw3_g70",             // depthwise 5x5, several channel blocks, pad > half
      "mb2_ic33ih9iw9_oc33_kh3kw3_sh2sw3_dh2dw1_ph2pw2_g33",   // depthwise, strides 2/3, dilation
      "mb3_ic17ih6iw35_oc19_kh1kw1",                        // 1x1 over several images, odd channels
      "mb5_ic7ih7iw5_oc12_kh3kw3_sh2sw1_ph1pw0",            // several whole images in one thread's share
      "mb2_ic45ih9iw7_oc64_kh1kw1",                         // 1x1 read in place by im2col's weight gradient
      "mb1_ic40ih8iw8_oc64_kh1kw1_g2",                      // ... grouped, 20 rows of x^T per group
      "mb2_ic24ih10iw13_oc136_kh1kw1",                      // 1x1, pixel segments outermost over 3 blocks
      "mb1_ic64ih12iw13_oc48_kh3kw3_ph1pw1_g2",             // backward data as the flipped forward, grouped
      "mb1_ic32ih15iw11_oc16_kh3kw2_dh2dw3_pt4pb1pl0pr3",   // ... dilated, padding at its limit on two sides
      "mb1_ic2000ih3iw4_oc8_kh3kw3_ph1pw1",                 // in_c split into cache chunks on every ISA
      "mb1_ic512ih17iw64_oc16_kh3kw1_ph1",                  // weight gradient in bands of rows (x rows over 1 MB)
      "mb2_ic512ih17iw64_oc16_kh3kw1_ph1_g2",               // ... grouped, each band's rows copied per group, batch 2
      // Grouped x copied a group at a time (direct_problem.cpp's slice_groups), forward and backward data:
      "mb2_ic256ih9iw7_oc256_kh3kw3_ph1pw1_g16",            // groups of 16, 1 KB pixels, batch 2
      "mb1_ic512ih12iw10_oc256_kh3kw3_sh2sw2_pt0pb1pl0pr1_g32", // 16 in and 8 out per group, 2 KB pixels, SAME stride 2
      // Weight gradient summed transposed, lanes on input channels (weight_gradient.hpp's sums_transposed):
      "mb2_ic96ih15iw14_oc20_kh3kw3_sh2sw2_pt1pb0pl0pr1",   // 20 outputs (a partial vector but on SSE2), stride 2, batch 2
      "mb1_ic64ih20iw18_oc6_kh1kw1",                        // 1x1, 6 outputs, rows summed as one run
      "mb2_ic24ih5iw11_oc20_kh3kw5_sh2sw2_dh1dw2_pt1pb1pl3pr2",  // one-row border runs in tap strips; taps
                                                                // 2 and 3 of 5 read every column
      "mb1_ic17ih10iw10_oc20_kh3kw3_sh2sw2_pt0pb1pl0pr1",   // TensorFlow's SAME at stride 2: padding at the end only
      "mb2_ic9ih11iw12_oc10_kh3kw3_sh2sw2_dh2dw2_pt0pb2pl0pr3",  // ... dilated, end pads the last window reaches
      "mb1_ic5ih7iw6_oc6_kh3kw2_dh2dw3_pt0pb4pl0pr3",       // ... stride 1, dilated taps landing in the end pads
      "mb1_ic24ih10iw10_oc24_kh3kw3_sh2sw2_pt0pb1pl0pr1_g24",  // ... depthwise (MobileNet's downsampling)
      "mb2_ic47ih14iw13_oc47_kh3kw3_sh2sw2_pt0pb1pl0pr2_g47",  // ... depthwise, odd width, channel tail, batch 2
      "mb1_ic64ih30iw30_oc64_kh3kw3_sh2sw2_pt0pb1pl0pr1_g64",  // ... depthwise, rows of several paired tiles
      "mb1_ic33ih15iw17_oc33_kh5kw5_sh2sw2_pt1pb2pl1pr2_g33",  // ... depthwise 5x5 (one pad before, two after)
      "mb1_ic20ih12iw12_oc20_kh5kw5_sh2sw2_pt0pb3pl0pr3_g20",  // ... depthwise 5x5, end pads only
      "mb1_ic512ih6iw5_oc512_kh3kw3_sh2sw2_pt0pb1pl0pr2_g512",  // ... depthwise, 2 KB pixels: rows not paired
      "mb2_ic512ih5iw4_oc512_kh3kw3_ph1pw1_g512",           // depthwise, 2 KB pixels at stride 1 (backward data too)
      "mb1_ic512ih3iw2000_oc512_kh3kw3_ph1pw1_g512",        // depthwise, 2 KB pixels, rows wider than a staged band
      "mb1_ic16ih8iw8_oc24_kh1kw1_sh2sw2_pt0pb1pl0pr1",     // ... 1x1: the last row and column are bias only
      "mb2_ic512ih7iw6_oc20_kh1kw1_sh2sw2",                 // 1x1 at stride 2, 4 KB apart: forward on gathered pixels
      "mb1_ic256ih9iw10_oc9_kh1kw1_sh3sw4",                 // ... strides 3 down and 4 along, odd sizes
      // Forward in the dot form: a few output channels per group, under half a vector
      // (direct_conv.cpp's dot_fills_idle_lanes).
      "mb1_ic64ih13iw11_oc1_kh1kw1",                        // a one-class 1x1 head
      "mb2_ic19ih9iw10_oc2_kh3kw3_sh2sw1_pt1pb0pl1pr1",     // two classes, 3x3, stride 2 down, asymmetric pads
      "mb1_ic40ih6iw7_oc6_kh3kw3_ph1pw1_g2",                // groups of 20 in and 3 out
      // Channel blocks of unequal width, shared among threads by work (backends/direct/dense.hpp):
      "mb1_ic20ih9iw7_oc96_kh3kw3_ph1pw1",                  // 96 outputs: blocks of 4 and 2 vectors (AVX-512)
      "mb1_ic420ih6iw9_oc80_kh1kw1",                        // 1x1, blocks of 4 and 1 vectors, segments inside blocks
      "mb2_ic80ih5iw6_oc12_kh3kw3_ph1pw1",                  // batch 2; backward data's 80 channels as 4 + 1 vectors
      "mb1_ic96ih7iw7_oc160_kh1kw1",                        // 1x1, 49 pixels in even segments, segments outermost
      // 1x1 shares split at any pixel, inside a block (backends/direct/dense.hpp):
      "mb1_ic577ih7iw7_oc160_kh1kw1",                       // 49 pixels, blocks of 4, 4, 2 vectors, prime in_c
      "mb1_ic192ih14iw14_oc64_kh1kw1",                      // 196 pixels of one block, 98 a thread
      "mb3_ic131ih7iw7_oc37_kh1kw1",                        // batch 3, prime channels both ways
      "mb1_ic67ih11iw13_oc32_kh1kw1",                       // 143 pixels (odd), two vectors out
      "mb1_ic3ih56iw56_oc32_kh3kw3_sh2sw2_pt0pb1pl0pr1",    // interior along rows, though down columns needs
                                                            // a tile fewer; border column down the column
      // Rows outermost, each thread writing whole pixels (direct_problem.cpp's choose_blocking):
      // an image's rows past half of L2 over weights of several blocks that fit together.
      "mb1_ic3ih150iw160_oc80_kh3kw3_ph1pw1",               // an RGB stem, 80 outputs (L2 up to 16 MB)
      "mb3_ic5ih60iw70_oc72_kh3kw3_pt1pb0pl2pr1",           // asymmetric pads; a thread's rows start mid-image
                                                            // and run into the next (L2 up to 2.5 MB)
      // Groups of a few channels, vectorized across groups (backends/direct/grouped_conv.cpp):
      // channels per group 2 to 8 on AVX-512 (4 on AVX2, 2 on SSE2), partial last blocks,
      // channel multipliers, then the dense per-group path above them.
      "mb2_ic16ih9iw11_oc16_kh3kw3_ph1pw1_g8",              // 2 per group, batch 2
      "mb1_ic8ih3iw40_oc8_kh3kw3_ph1pw1_g4",                // 2 per group, rows of widest tiles
      "mb1_ic30ih7iw13_oc30_kh3kw3_sh2sw2_ph1pw1_g10",      // 3 per group: idle lanes, stride 2
      "mb2_ic36ih8iw9_oc36_kh3kw3_ph1pw1_g9",               // 4 per group, 9 groups: a partial block
      "mb1_ic32ih11iw11_oc32_kh3kw3_sh2sw2_ph1pw1_g8",      // 4 per group, stride 2 (backward data's phases)
      "mb1_ic24ih9iw10_oc24_kh3kw3_dh2dw2_ph2pw2_g6",       // 4 per group, dilation 2
      // ... backward data at column stride 2 in column pairs, the lanes moved on dy (GroupedConvKernels::tile_pairs):
      "mb1_ic64ih12iw16_oc64_kh3kw3_sh2sw2_pt0pb1pl0pr1_g8",   // 8 per group, TensorFlow's SAME
      "mb1_ic24ih11iw13_oc24_kh3kw3_sh2sw2_ph1pw1_g3",         // 8 per group, 3 groups: a partial block
      "mb2_ic16ih9iw15_oc16_kh5kw5_sh2sw2_ph2pw2_g8",          // 2 per group, 5x5, batch 2
      "mb1_ic20ih10iw12_oc20_kh5kw5_sh2sw2_pt1pb2pl1pr2_g5",   // 4 per group, 5x5, 5 groups: a partial block
      "mb1_ic32ih7iw11_oc32_kh3kw3_sh1sw2_dh2dw1_ph2pw1_g8",   // 4 per group, stride 2 across columns only, rows dilated
      "mb1_ic40ih5iw7_oc40_kh3kw3_sh2sw1_pt2pb0pl0pr2_g8",  // 5 per group, padding on one side of each axis
      "mb1_ic42ih6iw6_oc42_kh3kw3_ph1pw1_g7",               // 6 per group
      "mb1_ic14ih5iw8_oc14_kh3kw3_ph1pw1_g2",               // 7 per group, one block
      "mb1_ic64ih6iw17_oc64_kh3kw3_ph1pw1_g8",              // 8 per group
      "mb1_ic40ih9iw9_oc40_kh1kw1_g5",                      // 8 per group, 1x1
      "mb1_ic48ih7iw7_oc48_kh1kw1_sh2sw2_g16",              // 3 per group, 1x1 stride 2
      "mb2_ic12ih9iw9_oc24_kh3kw3_sh2sw2_ph1pw1_g12",       // channel multiplier 2, stride 2, batch 2
      "mb1_ic20ih7iw9_oc60_kh1kw1_g20",                     // channel multiplier 3, 1x1
      "mb1_ic17ih5iw6_oc136_kh3kw3_ph1pw1_g17",             // channel multiplier 8, a block and a group
      "mb1_ic6ih4iw30_oc12_kh1kw1_g3",                      // 2 in, 4 out per group
      "mb1_ic8ih6iw6_oc32_kh3kw3_ph1pw1_g4",                // 2 in, 8 out per group
      "mb1_ic48ih6iw7_oc48_kh3kw3_ph1pw1_g3",               // 16 per group
      "mb1_ic72ih5iw6_oc72_kh3kw3_pt1pb0pl0pr1_g3",         // 24 per group, end-only padding
      "mb1_ic64ih5iw5_oc64_kh3kw3_ph1pw1_g2",               // 32 per group
      // ... 8 per group in lane pairs where the instruction set has them (AVX2 and up), then
      // 12 to 32 per group: strides 1 and 2, 1x1 and 3x3, odd sizes, batch 2.
      "mb2_ic48ih11iw13_oc48_kh3kw3_sh2sw2_ph1pw1_g6",      // 8 per group, stride 2 (backward data's phases)
      "mb1_ic40ih7iw9_oc40_kh3kw3_ph1pw1_g5",               // 8 per group, rows of a tile and a tail
      "mb2_ic24ih5iw7_oc24_kh1kw1_sh2sw2_g3",               // 8 per group, strided 1x1
      "mb2_ic36ih9iw7_oc36_kh3kw3_sh2sw2_ph1pw1_g3",        // 12 per group, stride 2
      "mb1_ic60ih7iw11_oc60_kh3kw3_ph1pw1_g5",              // 12 per group
      "mb2_ic64ih7iw9_oc64_kh3kw3_sh2sw2_ph1pw1_g4",        // 16 per group, stride 2
      "mb2_ic32ih5iw30_oc32_kh3kw3_ph1pw1_g2",              // 16 per group, batch 2, rows of the widest one-vector tiles
      "mb1_ic32ih5iw5_oc32_kh1kw1_g2",                      // 16 per group, 1x1
      "mb1_ic512ih4iw17_oc512_kh3kw3_ph1pw1_g32",           // 16 per group, 2 KB pixels: tiles of at most 7
      "mb1_ic1024ih3iw11_oc16_kh1kw1",                      // 1x1 to one vector, 4 KB pixels: likewise
      "mb1_ic48ih9iw11_oc48_kh3kw3_sh2sw2_ph1pw1_g2",       // 24 per group, stride 2
      "mb2_ic96ih5iw7_oc96_kh1kw1_sh2sw2_g3",               // 32 per group, strided 1x1
      // Weight gradients from per-group input slices (pixels a KB or more apart, one output vector):
      "mb2_ic256ih9iw7_oc256_kh3kw3_sh2sw2_ph1pw1_g16",     // 16 per group, stride 2, batch 2
      "mb2_ic260ih7iw6_oc12_kh3kw2_pt1pb0pl1pr1_g4",        // 65 in, 3 out per group (one vector on every ISA)
  };
  return sweep;
}

inline const std::vector<std::string>& pool_sweep() {
  static const std::vector<std::string> sweep = {
      "mb1_c1ih1iw1_max_kh1kw1_sh1sw1",                 // smallest
      "mb2_c3ih4iw4_max_kh2kw2_sh2sw2",                 // the seed's 2x2 stride 2
      "mb1_c16ih8iw8_avg_kh2kw2_sh2sw2",                // one AVX-512 vector of channels
      "mb1_c17ih9iw9_max_kh3kw3_sh2sw2_pt1pb1pl1pr1",   // vector + 1 channels, padded
      "mb1_c17ih9iw9_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1",   // ... average, in-bounds divisor
      "mb1_c17ih9iw9_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1_incl",
      "mb2_c33ih10iw10_max_kh3kw3_sh2sw2_ceil",         // ceil_mode
      "mb2_c33ih10iw10_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1_incl_ceil",  // clipped divisor
      "mb1_c15ih7iw11_avg_kh2kw3_sh3sw2_pt1pb0pl0pr1_ceil",        // asymmetric everything
      "mb1_c64ih13iw13_max_kh3kw3_sh1sw1_pt1pb1pl1pr1", // overlapping windows
      "mb3_c5ih6iw6_avg_kh6kw6_sh1sw1",                 // global pooling
      "mb1_c2ih2iw2_max_kh3kw3_sh2sw2_ceil",            // window larger than the input, ceil_mode
      "mb1_c31ih12iw12_max_kh2kw2_sh3sw3",              // stride larger than the window
      "mb1_c1ih7iw9_avg_kh3kw3_sh1sw1_pt1pb1pl1pr1",    // one channel: scalar lanes only; overlapping average
      "mb1_c64ih12iw12_avg_kh3kw3_sh2sw2_pt1pb1pl1pr1", // four-vector channel blocks, overlapping average
      "mb1_c33ih8iw8_max_kh2kw2_sh3sw3_pt1pb1pl1pr1",   // disjoint windows with gaps between them, padded
      "mb2_c20ih9iw10_avg_kh2kw2_sh2sw2_ceil",          // disjoint, last window clipped; 16 + 4 channels
      "mb1_c67ih7iw7_avg_kh7kw7",                       // global pooling at batch 1: threads split channels
      "mb1_c67ih7iw7_max_kh7kw7",                       // ... max
      "mb3_c17ih11iw11_max_kh3kw2_sh1sw2_pt1pb1pl0pr0", // overlapping rows, disjoint columns, batch 3
      "mb1_c15ih6iw6_max_kh2kw2_sh1sw1",                // stride 1, window 2
      "mb2_c145ih9iw9_max_kh2kw2_sh2sw2",               // 2x2 loops past a block of channels; last row, column unread
      "mb2_c37ih6iw11_avg_kh3kw3_sh1sw1_pt1pb1pl1pr1_incl",  // 3-wide windows one column apart: column
                                                             // sums shared; 2x16 + 4 + 1 channels
      "mb1_c20ih5iw4_avg_kh3kw3_sh1sw1_pt1pb0pl0pr1",   // ... two such windows, the third clipped
      "mb2_c17ih5iw5_max_kh2kw2_sh2sw2_pt1pb1pl1pr1_ceil",  // ceil_mode's extra window would start in the end
                                                            // padding: the drop rule removes it, both axes
      "mb1_c20ih4iw7_avg_kh2kw3_sh3sw2_pt1pb1pl1pr1_incl_ceil",  // ... rows only, average with its clipped divisor
  };
  return sweep;
}

}  // namespace convkit::test
