#pragma once
// Pooling micro-kernels (the PoolKernels family): one output row, or one input row of the
// gradient, at a time, vectorized over channels, which NHWC keeps contiguous. They know
// windows only as precomputed in-bounds spans, and nothing of threading or batches.
// Built once per instruction set from kernels/pool_impl.hpp; pick one with
// kernels<PoolKernels>(isa).
#include <cstdint>

namespace convkit::detail {

// A window's in-bounds input span [begin, end) along one axis, and that axis's factor of
// the average's divisor (the span's length, or with count_include_pad the window clipped to
// the padded input). A divisor is the product of a row factor and a column factor.
struct PoolSpan {
  int64_t begin, end, divisor;
};

// One output row of one image.
struct PoolRow {
  const float* x;       // the image, NHWC: [in_h][in_w][channels]
  int64_t in_w, channels;
  PoolSpan rows;        // the input rows every window of this output row covers
  const PoolSpan* cols; // per output column, the input columns its window covers
  int64_t out_w;
  int64_t c_begin, c_end;  // the channels to compute
};

// The output windows covering one input position along one axis: [begin, end).
struct PoolCover {
  int64_t begin, end;
};

// One input row of the average's gradient, gathered from the windows covering it, out of
// rows of quotients dy / divisor kept in a ring.
struct PoolGatherRow {
  const double* quotients;     // ring_rows rows of [out_w][channels]; output row oh is row oh % ring_rows
  int64_t ring_rows, out_w, in_w, channels;
  PoolCover out_rows;          // the output rows whose windows cover this input row
  const PoolCover* col_cover;  // per input column, the output columns covering it
  int64_t c_begin, c_end;
};

struct PoolKernels {
  // Floats per vector: channel blocks handed to one thread start at multiples of this.
  int64_t lanes;

  // Channels [c_begin, c_end) of every output column of y_row ([out_w][channels]).
  // max: padding never wins, a NaN in the window gives NaN (the first one), ties keep the
  // first. The caller vouches that input rows [rows.begin, clean_rows_end) hold no NaN in
  // those channels, which spares checking them; returns whether the other rows of the span
  // hold none either (infinities of both signs may also answer false).
  bool (*max_forward)(const PoolRow& row, int64_t clean_rows_end, float* y_row);
  // A float sum divided once by the window's divisor. Windows 3 columns wide with a neighbour
  // of 3 columns one column away (stride 1) sum their columns, each top down, as
  // ((column 0 + column 1) + column 2) + 0; the others sum in row-major order from +0.
  void (*avg_forward)(const PoolRow& row, float* y_row);

  // Scatters dy_row ([out_w][channels]) to the first maximum of each window (the first NaN if
  // any), writing only input rows [own_begin, own_end) of dx (the image's
  // [in_h][in_w][channels]). y_row holds the row's maxima as max_forward computes them. With
  // `store`, no two windows share an input position: every in-bounds window position is
  // written (the gradient or zero). Otherwise the gradient is added to what dx holds.
  void (*max_backward)(const PoolRow& row, const float* y_row, const float* dy_row, int64_t own_begin,
                       int64_t own_end, bool store, float* dx);
  // For windows that share no input position: writes dy / divisor to every in-bounds
  // position of each window of the row.
  void (*avg_backward_store)(const PoolRow& row, const float* dy_row, float* dx);
  // Channels [c_begin, c_end) of one output row's quotients for the gather below: the
  // reference's double(dy) / divisor, correctly rounded, divisors[ow] being the window's.
  void (*avg_quotients)(const float* dy_row, const int64_t* divisors, int64_t out_w, int64_t channels,
                        int64_t c_begin, int64_t c_end, double* quotient_row);
  // Writes channels [c_begin, c_end) of dx_row ([in_w][channels]): the sum, in double and in
  // (output row, output column) order like the reference's, of the quotients of the windows
  // covering each position, rounded to float.
  void (*avg_backward_gather)(const PoolGatherRow& row, float* dx_row);
};

}  // namespace convkit::detail
