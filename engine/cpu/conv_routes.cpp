// engine/cpu/conv_routes.h: the same decisions conv.cpp makes, on the shapes alone.
#include "engine/cpu/conv_routes.h"

#include "engine/cpu/conv_border.h"
#include "engine/cpu/conv_chunks.h"
#include "engine/cpu/conv_depthwise.h"
#include "engine/cpu/conv_direct.h"
#include "engine/cpu/conv_flipped.h"
#include "engine/cpu/im2col.h"

namespace xdnn::cpu {

PaddingTaps conv2d_padding_taps(const Shape& x_shape, const Shape& w_shape, const ops::Conv2dGeometry& g,
                                bool input_gradient) {
  ops::Dims d = ops::conv_dims(x_shape, w_shape, g);
  ops::Conv2dGeometry route = g;
  if (input_gradient) {  // the flipped forward's dimensions, as conv_flipped.h runs it
    if (!ops::flipped_forward_applies(d, g)) return PaddingTaps::Full;
    route = ops::flipped_geometry(d, g);
    d = ops::flipped_dims(d, route);
  } else if (cpu::depthwise_applies(d.C, d.O, d.G) || ops::direct_conv_applies<float>(d.C, d.KH, d.KW, d.OW, g)) {
    return PaddingTaps::Full;  // conv.cpp's forward takes these kernels first
  }
  ops::BorderClasses unused;
  return ops::border_route<float>(d, route, std::min(d.N, ops::chunk_samples(d)), unused);
}

}  // namespace xdnn::cpu
