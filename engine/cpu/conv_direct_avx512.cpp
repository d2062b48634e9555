// 512-bit direct convolution forward: conv_direct.h's kernel with 16-float (8-double) vectors, half the
// instructions of the 256-bit one for fashion-cnn's conv1 (28-wide rows), the same bits.
#include "engine/cpu/conv_direct_avx512.h"

#if defined(__AVX512F__)
#include "engine/cpu/conv_direct.h"
#endif

namespace xdnn::cpu {

template <class T>
bool direct_conv_forward_avx512(const T* px, const T* pw, const T* pb, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, const ops::Conv2dGeometry& g,
                                T* py) {
#if defined(__AVX512F__)
  if (OW < static_cast<int64_t>(64 / sizeof(T))) return false;
  ops::direct_conv_forward<T, 64>(px, pw, pb, N, C, H, W, O, KH, KW, OH, OW, g, py);
  return true;
#else
  (void)px, (void)pw, (void)pb, (void)N, (void)C, (void)H, (void)W, (void)O, (void)KH, (void)KW, (void)OH, (void)OW;
  (void)g, (void)py;
  return false;
#endif
}

template bool direct_conv_forward_avx512<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                                int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                                const ops::Conv2dGeometry&, float*);
template bool direct_conv_forward_avx512<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                                 int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                                 const ops::Conv2dGeometry&, double*);

}  // namespace xdnn::cpu
