// The `visualize` section of the global report (explain/global/section.h): activation maximisation
// (explain/global/activation_max.h) of the chosen units, as a grid of pictures and a table that puts each
// unit's maximised activation beside the largest one any example of the report's data set reaches.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/check.h"
#include "explain/global/activation_max.h"
#include "explain/global/image_grid.h"
#include "explain/global/section.h"
#include "explain/html.h"

namespace xdnn::explain {
namespace {

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

std::string render(const GlobalContext& c) {
  const Model& model = *c.model;
  Shape input_shape = model.input_shape;
  if (c.data.defined() && c.data.ndim() >= 2) input_shape.assign(c.data.shape().begin() + 1, c.data.shape().end());
  bool known = !input_shape.empty();
  for (int64_t d : input_shape) known = known && d > 0;
  check(known, "visualize: the model declares no input shape and the report has no data set");
  VisualizeTarget target;
  target.layer = c.options.get("layer", "");
  const std::string objective = c.options.get("objective", "channel");
  check(objective == "channel" || objective == "unit",
        "--global-option objective=" + objective + ": expected channel or unit");
  target.channel = objective == "channel";
  target.units = parse_units(model, input_shape, target, c.options.get("units", "all"));
  VisualizeSettings s;
  s.steps = c.options.get_int("steps", 256);
  s.lr = c.options.get_double("lr", 0.05);
  s.l2 = c.options.get_double("l2", 0);
  s.l1 = c.options.get_double("l1", 0);
  s.tv = c.options.get_double("tv", 0);
  s.jitter = c.options.get_int("jitter", 1);
  s.seed = static_cast<uint64_t>(c.options.get_int("seed", 0));
  const VisualizeResult r = visualize(model, input_shape, target, s);
  Tensor best;
  if (c.data.defined() && c.data.is_float()) best = unit_activations(model, c.data, target);
  const int64_t U = static_cast<int64_t>(target.units.size());
  std::vector<std::string> captions;
  std::vector<std::vector<std::string>> rows;
  for (int64_t u = 0; u < U; ++u) {
    captions.push_back(r.labels[u] + "\na = " + number(r.activation[u]));
    std::vector<std::string> row = {r.labels[u], number(r.start[u]), number(r.activation[u])};
    if (best.defined()) {
      double m = -INFINITY;
      for (int64_t n = 0; n < best.dim(0); ++n) m = std::max(m, best.data<double>()[n * U + u]);
      row.push_back(number(m));
    }
    rows.push_back(row);
  }
  std::vector<std::string> header = {"unit", "activation at the start", "maximised"};
  if (best.defined()) header.push_back("largest over the " + std::to_string(best.dim(0)) + " data-set examples");
  std::string settings = std::to_string(s.steps) + " Adam steps of size " + number(s.lr) + ", jitter " +
                         std::to_string(s.jitter) + " px, L2 " + number(s.l2) + ", L1 " + number(s.l1) + ", TV " +
                         number(s.tv) + ", pixels clipped to [0, 1], seed " + std::to_string(s.seed);
  return "<p class=\"summary\">" + html_escape(settings) + "</p>\n" +
         html_img(image_grid(r.images, captions), "maximising inputs") + "\n" + html_table(header, rows);
}

const GlobalSectionRegistration kVisualizeSection(
    {"visualize",
     "Activation maximisation",
     "the input each unit responds to most, by gradient ascent on the pixels with decay, total-variation and "
     "jitter regularisers (Erhan et al. 2009; Simonyan et al. 2014; Olah et al. 2017)",
     {{"layer", "", "tensor to maximise (default: the model's output, the class logits)", "TEXT"},
      {"objective", "channel", "channel (mean over positions) or unit (one element)", "{channel,unit}"},
      {"units", "all", "channels or unit indices (0,3,5) or all", "TEXT"},
      {"steps", "256", "gradient-ascent steps", "INT"},
      {"lr", "0.05", "Adam step size", "FLOAT"},
      {"l2", "0", "L2 decay weight", "FLOAT"},
      {"l1", "0", "L1 decay weight", "FLOAT"},
      {"tv", "0", "total-variation weight", "FLOAT"},
      {"jitter", "1", "largest random shift per step, pixels", "INT"},
      {"seed", "0", "seed of the start and the shifts", "INT"}},
     render});

}  // namespace
}  // namespace xdnn::explain
