// Mask optimisation shared by meaningful perturbation (Fong & Vedaldi 2017) and extremal perturbations
// (Fong, Patrick & Vedaldi 2019). A mask m (N, 1, h, w) in [0, 1] at a coarse resolution (h = ⌈H/S⌉,
// S = --mask-scale) is upsampled bilinearly to M (N, 1, H, W) and blends the image x (N, C, H, W) with a
// perturbed copy p of it:
//   Φ(x; m) = x ⊙ M + p ⊙ (1 − M),  p = blur(x) (Gaussian, σ = --sigma pixels) | b (--baseline) | x + η
//   (η ~ N(0, σ²), fixed per run, SplitMix64 from --seed),
// and m minimises, by Adam (--steps, --lr) with m clipped to [0, 1] after every step,
//   deletion (Fong & Vedaldi eq. 3):     λ₁ mean(1 − m) + λ₂ TV(m) + s(Φ(x; m))       (m starts at 1)
//   preservation:                         λ₁ mean(m)     + λ₂ TV(m) − s(Φ(x; m))       (m starts at 0.5)
//   extremal (Fong et al. 2019, eq. 6):  λ_a ‖sort(m) − r_a‖² / (hw) − s(Φ(x; m))      (m starts at 0.5;
//                                         λ_a ramps up linearly from 0 to --area-weight over the steps)
// with TV(m) = mean over neighbouring pairs of |m(u) − m(u')|^β (eq. 4, β = --tv-beta) and r_a the sorted
// target of area a (the last ⌈a·hw⌉ entries 1, the others 0). Samples are optimised together but
// independently (each has its own mask and its own terms).
#pragma once
#include <cstdint>
#include <string>

#include "explain/method.h"

namespace xdnn::explain {

enum class MaskGame { Deletion, Preservation, Extremal };

// Runs the optimisation for `req` (options as above) and returns M upsampled, (N, 1, H, W): for the
// deletion game 1 − M (what was deleted), otherwise M (what was kept).
Attribution optimise_mask(const ExplainRequest& req, MaskGame game, const std::string& method);

// Gaussian blur of every channel, σ in pixels (σ = 0: a copy), separable, edges clamped. x: (N, C, H, W);
// the result is float64 on x's device (ops: edge padding and a convolution per axis).
Tensor gaussian_blur(const Tensor& x, double sigma);

}  // namespace xdnn::explain
