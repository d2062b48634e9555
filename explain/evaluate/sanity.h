// Sanity checks for saliency methods (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): an
// explanation that still looks the same after the model's parameters are replaced by random ones does not
// explain the model. Two schemes of parameter randomisation, one metric each (data randomisation, the
// third check, compares with a model trained on shuffled labels: data_randomisation.cpp):
// - cascading-randomisation: randomise the parameterised layers one after the other from the output down
//   (cumulatively); after step j the top j layers are random.
// - independent-randomisation: randomise one layer at a time, all others as trained.
// After each step the method is re-run (it must come from --methods) and its map compared with the
// original one, per sample, by --similarity:
// - spearman: Spearman rank correlation of the absolute values (average ranks for ties), as in the paper's
//   "rank correlation (absolute value)";
// - ssim: structural similarity (Wang et al. 2004) of the two maps, each summed over channels and scaled
//   to [0, 1] by its own min and max, with a 7×7 uniform window over the windows that fit inside the map,
//   sample covariances, K1 = 0.01, K2 = 0.03, data range 1 (scikit-image's structural_similarity defaults);
// - hog: Pearson correlation of the maps' HOG descriptors (Dalal & Triggs 2005; see hog_features).
// A correlation with a constant side is undefined and reported as 0.
// Random parameters: each tensor of a layer is replaced by N(0, σ²), σ its trained root mean square (so the
// scale of every layer stays), drawn from Rng(seed, node): a layer gets the same values in both schemes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "explain/evaluate/metric.h"

namespace xdnn::explain {

enum class Randomisation { Cascading, Independent };

// Output: (N, L) similarities, L = parameterised layers, column j after step j (cascading: top j + 1 layers
// random; independent: layer j from the top random). Summary: the similarity after the last cascading step
// (everything random), or the mean over the layers (independent).
MetricResult randomisation_check(const MetricRequest& req, Randomisation scheme);

std::vector<OptionSpec> randomisation_options();

// Per-sample similarity (--similarity, --hog-cell in `options`) of two attributions of the same batch;
// throws naming `name` on unknown options or shapes that do not match.
std::vector<double> map_similarities(const Tensor& original, const Tensor& other, const Options& options,
                                     const std::string& name);

// Similarities of two maps of one sample (flat values; `h`, `w`: the 2-D map size after summing over
// channels, for ssim / hog).
double spearman(const std::vector<double>& a, const std::vector<double>& b);
double ssim(const std::vector<double>& a, const std::vector<double>& b, int64_t h, int64_t w);
// HOG: central-difference gradients (0 at the border), unsigned orientations in 9 bins of 20°, magnitudes
// summed per cell of cell×cell pixels (hard binning), blocks of 2×2 cells (stride one cell), each block
// L2-Hys normalised (L2, clip at 0.2, L2 again). Concatenated block vectors.
std::vector<double> hog_features(const std::vector<double>& map, int64_t h, int64_t w, int64_t cell);
double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace xdnn::explain
