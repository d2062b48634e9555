// The receptive field of a model's intermediate value in its input image: which input pixels a unit at
// position (y, x) of a feature map can see, from the layer graph alone (Zeiler & Fergus 2014 show their
// top activations as these patches; the arithmetic is the standard one, e.g. Araujo et al. 2019,
// "Computing Receptive Fields of Convolutional Neural Networks", Distill, eqs. 1–2).
//
// Along one axis a value's field is (jump j, size r, start s): position o sees input pixels
// [s + o·j, s + o·j + r). Model inputs have (1, 1, 0). A convolution or pooling with kernel k, stride t,
// padding p (top / left) and dilation d maps (j, r, s) to (j·t, r + (k − 1)·d·j, s − p·j); element-wise
// layers (activations, batch norm, dropout, identity) keep it; layers adding or multiplying maps of the
// same grid take the envelope of their inputs' fields. Any other layer (flatten, linear, global pooling,
// attention, ...) mixes all positions: its units see the whole input (spatial = false).
#pragma once
#include <cstdint>
#include <string>

#include "models/model.h"

namespace xdnn::explain {

struct ReceptiveField {
  bool spatial = false;  // false: every unit of the value sees the whole input
  int64_t jump_h = 1, jump_w = 1, size_h = 1, size_w = 1, start_h = 0, start_w = 0;
};

// [top, bottom) × [left, right) in the input of height H and width W, clipped to it.
struct PixelBox {
  int64_t top = 0, left = 0, bottom = 0, right = 0;
};

// The field of value `name` (an error naming it and a few that exist when there is none).
ReceptiveField receptive_field(const Model& model, const std::string& name);

// The input pixels position (y, x) of the value sees, clipped to an H × W input; the whole input for a
// field that is not spatial.
PixelBox receptive_box(const ReceptiveField& rf, int64_t y, int64_t x, int64_t height, int64_t width);

}  // namespace xdnn::explain
