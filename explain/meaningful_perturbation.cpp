// Meaningful perturbation (Fong & Vedaldi 2017, "Interpretable Explanations of Black Boxes by Meaningful
// Perturbation", §3-4): the smallest region whose deletion (blur, constant or noise) destroys the score —
// the deletion game, output 1 − M — or the smallest region that alone preserves it (--game
// preservation, output M). The optimisation is in mask_perturbation.h. Output (N, 1, H, W).
#include "explain/baseline.h"
#include "explain/mask_perturbation.h"
#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

Attribution meaningful_perturbation(const ExplainRequest& req) {
  const std::string game = req.options.get("game", "deletion");
  if (game != "deletion" && game != "preservation")
    throw Error("--game '" + game + "': expected deletion or preservation");
  return optimise_mask(req, game == "deletion" ? MaskGame::Deletion : MaskGame::Preservation,
                       "meaningful-perturbation");
}

MethodRegistration reg{
    {"meaningful-perturbation",
     "meaningful perturbation (Fong & Vedaldi 2017): an optimised mask, L1 + total variation, "
     "deletion or preservation game",
     {{"game", "deletion", "deletion (output 1 - mask) or preservation (output mask)", "{deletion,preservation}"},
      {"perturbation", "blur", "what replaces masked pixels: blur, constant (--baseline) or noise",
       "{blur,constant,noise}"},
      {"sigma", "3", "blur: Gaussian sigma in pixels; noise: its standard deviation", "FLOAT"},
      baseline_option("", "constant perturbation: a number or a .npy of the input's shape (default 0)"),
      {"l1", "1", "weight of the mask's L1 term (mean over mask cells; comparable to a probability score)", "FLOAT"},
      {"tv", "0.2", "weight of the total-variation term", "FLOAT"},
      {"tv-beta", "3", "exponent of the total-variation term", "FLOAT"},
      {"mask-scale", "4", "mask cell size in pixels (mask (H/S, W/S), upsampled bilinearly)"},
      {"steps", "300", "optimisation steps (Adam)"},
      {"lr", "0.1", "Adam learning rate", "FLOAT"},
      {"score", "prob", "explained score: logit, prob or log-prob", "{logit,prob,log-prob}"},
      kOptSeed},
     meaningful_perturbation}};

}  // namespace
}  // namespace xdnn::explain
