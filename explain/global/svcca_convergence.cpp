// SVCCA convergence over checkpoints (Raghu et al. 2017, fig. 4): see svcca_convergence.h.
#include "explain/global/svcca_convergence.h"

#include <algorithm>
#include <cstdio>

#include "engine/error.h"
#include "explain/evaluate/plot.h"
#include "explain/global/section.h"
#include "explain/html.h"
#include "explain/options.h"
#include "explain/svcca.h"
#include "models/load.h"

namespace xdnn::explain {

namespace {

Tensor input_for(const Model& model, const Tensor& x) {
  if (x.is_float() && !model.takes_token_ids()) return x.to(model.dtype());
  return x;
}

// A checkpoint of another architecture has other parameters: name the first difference.
void check_same_parameters(Model& model, Model& final_model, const std::string& label, const std::string& final_label) {
  std::vector<Param*> a = model.params(), b = final_model.params();
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string pa = i < a.size() ? a[i]->name + " " + shape_str(a[i]->value.shape()) : "nothing";
    const std::string pb = i < b.size() ? b[i]->name + " " + shape_str(b[i]->value.shape()) : "nothing";
    if (pa != pb)
      throw Error("svcca convergence: checkpoint '" + label + "' is not of the final checkpoint's architecture ('" +
                      final_label + "'): parameter " + std::to_string(i) + " is " + pa + " there and " + pb +
                      " in the final one",
                  "give the checkpoints of one training run");
  }
}

// The layers' activations, computed where the model and the input live; copies on the host for SVCCA's
// float64 SVD (explain/svcca.h).
std::vector<Tensor> activations(const Model& model, const Tensor& input, const std::vector<std::string>& layers) {
  std::vector<Tensor> out;
  for (const auto& name : layers) out.push_back(layer_activation(model, input_for(model, input), name).to(Device::CPU));
  return out;
}

// A checkpoint loaded onto the device of the input.
Model load_onto(const std::string& file, Device device) {
  Model m = load_model(file);
  m.to(device);
  return m;
}

void fill_column(SvccaConvergence& c, const std::vector<Tensor>& acts, const std::vector<Tensor>& final_acts,
                 double keep) {
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const std::string at = "tensor '" + c.layers[l] + "' at '" + c.checkpoints[c.similarity[l].size()] + "'";
    const SvccaResult r =
        svcca(acts[l], final_acts[l], keep, at, "tensor '" + c.layers[l] + "' at the final checkpoint");
    double mean = 0.0;
    for (double v : r.correlations) mean += v / static_cast<double>(r.correlations.size());
    c.similarity[l].push_back(mean);
    c.kept[l].push_back(r.kept_a);
  }
}

SvccaConvergence empty_result(const std::vector<std::string>& labels, const std::vector<std::string>& layers,
                              double keep) {
  if (labels.size() < 2)
    throw Error("svcca convergence: needs at least 2 checkpoints of one run, got " + std::to_string(labels.size()),
                "give them oldest first, the final one last");
  if (layers.empty()) throw Error("svcca convergence: no layer to compare");
  if (!(keep > 0.0 && keep <= 1.0))
    throw Error("--keep " + std::to_string(keep) + ": expected a fraction of the variance in (0, 1]");
  SvccaConvergence c;
  c.layers = layers;
  c.checkpoints = labels;
  c.similarity.resize(layers.size());
  c.kept.resize(layers.size());
  return c;
}

}  // namespace

std::vector<std::string> parameter_layer_outputs(const Model& model) {
  std::vector<std::string> out;
  for (const Node& n : model.nodes())
    if (!n.layer->read_params().empty() && !n.outputs.empty()) out.push_back(model.value_name(n.outputs[0]));
  return out;
}

SvccaConvergence svcca_convergence(const std::vector<Model*>& models, const std::vector<std::string>& labels,
                                   const Tensor& input, const std::vector<std::string>& layers, double keep) {
  if (models.size() != labels.size()) throw Error("svcca convergence: one label per model expected");
  SvccaConvergence c = empty_result(labels, layers, keep);
  Model& final_model = *models.back();
  for (const auto& name : layers) final_model.value_id(name);  // unknown names fail before any work
  for (size_t i = 0; i + 1 < models.size(); ++i)
    check_same_parameters(*models[i], final_model, labels[i], labels.back());
  const std::vector<Tensor> final_acts = activations(final_model, input, layers);
  for (Model* m : models) fill_column(c, activations(*m, input, layers), final_acts, keep);
  return c;
}

SvccaConvergence svcca_convergence_of_files(const std::vector<std::string>& checkpoints, const Tensor& input,
                                            const std::vector<std::string>& layers, double keep) {
  SvccaConvergence c = empty_result(checkpoints, layers, keep);
  Model final_model = load_onto(checkpoints.back(), input.device());
  for (const auto& name : layers) final_model.value_id(name);
  // Every architecture first: a wrong file fails before any forward pass.
  for (size_t i = 0; i + 1 < checkpoints.size(); ++i) {
    Model m = load_model(checkpoints[i]);
    check_same_parameters(m, final_model, checkpoints[i], checkpoints.back());
  }
  const std::vector<Tensor> final_acts = activations(final_model, input, layers);
  for (size_t i = 0; i + 1 < checkpoints.size(); ++i) {
    Model m = load_onto(checkpoints[i], input.device());
    fill_column(c, activations(m, input, layers), final_acts, keep);
  }
  fill_column(c, final_acts, final_acts, keep);
  return c;
}

RgbImage plot_svcca_convergence(const SvccaConvergence& c) {
  CurvePanel panel;
  panel.title = "svcca to final";
  panel.labels = c.layers;
  panel.curves = c.similarity;
  return plot_curves({panel});
}

namespace {

std::string render_convergence(const GlobalContext& ctx) {
  if (ctx.checkpoints.size() < 2)
    throw Error("global section 'svcca-convergence' needs --checkpoints a,b,... (at least 2, oldest first)");
  if (!ctx.data.defined() || ctx.data.ndim() < 2) throw Error("global section 'svcca-convergence' needs a data set");
  const int64_t n = std::min(ctx.data.dim(0), ctx.options.get_int("samples", 200));
  if (n < 2) throw Error("--global-option samples: expected at least 2, got " + std::to_string(n));
  std::vector<std::string> layers = parse_name_list(ctx.options.get("layers", ""));
  if (layers.empty()) layers = parameter_layer_outputs(*ctx.model);
  const SvccaConvergence c = svcca_convergence_of_files(ctx.checkpoints, ctx.data.slice_batch(0, n), layers,
                                                        ctx.options.get_double("keep", 0.99));
  std::vector<std::string> header = {"layer"};
  for (size_t i = 0; i < c.checkpoints.size(); ++i) header.push_back(std::to_string(i + 1) + ": " + c.checkpoints[i]);
  std::vector<std::vector<std::string>> rows;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    rows.push_back({c.layers[l]});
    for (size_t i = 0; i < c.checkpoints.size(); ++i) {
      char cell[48];
      std::snprintf(cell, sizeof cell, "%.4f (k=%lld)", c.similarity[l][i], static_cast<long long>(c.kept[l][i]));
      rows.back().push_back(cell);
    }
  }
  return html_img(plot_svcca_convergence(c), "SVCCA similarity of each layer to its final state per checkpoint") +
         "<p>" + std::to_string(n) +
         " inputs; mean canonical correlation to the final checkpoint (k = SVD directions kept).</p>" +
         html_table(header, rows);
}

const GlobalSectionRegistration kSvccaConvergenceSection(GlobalSection{
    "svcca-convergence",
    "SVCCA convergence over training",
    "Each layer's SVCCA similarity to its final state at every checkpoint of the run (Raghu et al. 2017, fig. 4): "
    "lower layers converge first.",
    {{"layers", "", "comma-separated tensor names (default: the outputs of the layers with parameters)", "TEXT"},
     {"keep", "0.99", "fraction of the variance the SVD reduction keeps, in (0, 1]", "FLOAT"},
     {"samples", "200", "inputs used (the first ones of the data set)", "INT"}},
    render_convergence});

}  // namespace

}  // namespace xdnn::explain
