// Extremal perturbations (Fong, Patrick & Vedaldi 2019, "Understanding Deep Networks via Extremal
// Perturbations and Smooth Masks", §3, eq. 6): the mask of a fixed area a (--area, a fraction of the image)
// that preserves the score best, with the area imposed by the ranking penalty ‖sort(m) − r_a‖² (weight
// --area-weight) instead of L1 and TV. Simplification: the paper's smooth max-convolution parametrisation
// is replaced by the bilinearly upsampled coarse mask of mask_perturbation.h (smooth at the scale of
// --mask-scale). Output M, (N, 1, H, W).
#include "explain/baseline.h"
#include "explain/mask_perturbation.h"
#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

Attribution extremal_perturbation(const ExplainRequest& req) {
  return optimise_mask(req, MaskGame::Extremal, "extremal-perturbation");
}

MethodRegistration reg{
    {"extremal-perturbation",
     "extremal perturbation (Fong et al. 2019): the mask of a given area that preserves the score",
     {{"area", "0.1", "fraction of the image the mask keeps", "FLOAT"},
      {"area-weight", "300", "weight of the area (ranking) penalty", "FLOAT"},
      {"perturbation", "blur", "what replaces masked pixels: blur, constant (--baseline) or noise",
       "{blur,constant,noise}"},
      {"sigma", "3", "blur: Gaussian sigma in pixels; noise: its standard deviation", "FLOAT"},
      baseline_option("", "constant perturbation: a number or a .npy of the input's shape (default 0)"),
      {"mask-scale", "4", "mask cell size in pixels (mask (H/S, W/S), upsampled bilinearly)"},
      {"steps", "300", "optimisation steps (Adam)"},
      {"lr", "0.1", "Adam learning rate", "FLOAT"},
      {"score", "prob", "explained score: logit, prob or log-prob", "{logit,prob,log-prob}"},
      kOptSeed},
     extremal_perturbation}};

}  // namespace
}  // namespace xdnn::explain
