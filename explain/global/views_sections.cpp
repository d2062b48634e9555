// The global report's sections for the filter and data views and the projections (`xdnn report --global
// filters,top-activations,class-exemplars,projection`): the pictures of `xdnn exemplars` and `xdnn project`
// over the report's data set (explain/global/exemplars.h, pca.h, tsne.h, scatter.h).
#include <algorithm>
#include <cstdio>

#include "engine/check.h"
#include "explain/global/exemplars.h"
#include "explain/global/pca.h"
#include "explain/global/scatter.h"
#include "explain/global/section.h"
#include "explain/global/tsne.h"
#include "explain/html.h"
#include "explain/options.h"

namespace xdnn::explain {

namespace {

// Default layers: the output of the last convolution (its channels are filters with a spatial field), and
// the input of the last node (the features the classifier reads, e.g. "flatten" in fashion-cnn).
std::string last_convolution(const Model& m) {
  for (auto it = m.nodes().rbegin(); it != m.nodes().rend(); ++it) {
    const LinearLike* lin = it->layer->as_linear();
    if (lin && lin->weight().ndim() == 4 && it->outputs.size() == 1) return m.value_name(it->outputs[0]);
  }
  throw Error("no convolution in the model: give --global-option layer=NAME");
}

std::string penultimate(const Model& m) {
  check(!m.nodes().empty() && !m.nodes().back().inputs.empty(), "the model has no layers");
  return m.value_name(m.nodes().back().inputs[0]);
}

std::string layer_or(const GlobalContext& c, const std::string& fallback) {
  const std::string given = c.options.get("layer", "");
  return given.empty() ? fallback : given;
}

// The report's data as the model's input (float images in the model's precision).
Tensor model_input(const GlobalContext& c) {
  check(c.data.defined() && c.data.ndim() >= 2, "the global report has no data set (--input or --fashion-test)");
  if (c.data.is_float() && !c.model->takes_token_ids()) return c.data.to(c.model->dtype());
  return c.data;
}

std::vector<int64_t> label_list(const GlobalContext& c) {
  std::vector<int64_t> out;
  for (int64_t i = 0; c.labels.defined() && i < c.labels.numel(); ++i)
    out.push_back(static_cast<int64_t>(c.labels.item(i)));
  return out;
}

std::string paragraph(const std::string& text) { return "<p>" + html_escape(text) + "</p>\n"; }

std::string render_filters(const GlobalContext& c) {
  const FirstLayerWeights w = first_layer_weights(*c.model);
  return paragraph("Weights of '" + w.node + "', " + w.weight.describe() +
                   "; each filter scaled to its own largest |w| (grey filters: blue negative, red positive).") +
         html_img(filter_grid(w.weight, 16), "first-layer filters");
}

std::string render_top_activations(const GlobalContext& c) {
  const std::string layer = layer_or(c, last_convolution(*c.model));
  const Tensor x = model_input(c);
  check(x.ndim() == 4, "top-activations: the patches need images (N, C, H, W), the data are " + x.describe());
  const int64_t count = channel_count(*c.model, x, layer);
  std::vector<int64_t> channels;
  const std::string given = c.options.get("channels", "all");
  if (given == "all") {
    for (int64_t ch = 0; ch < std::min<int64_t>(count, 32); ++ch) channels.push_back(ch);
  } else {
    channels = parse_int_list("--global-option channels", given);
  }
  const int64_t k = c.options.get_int("top", 8);
  const auto best = top_activations(*c.model, x, layer, channels, k);
  const ReceptiveField rf = receptive_field(*c.model, layer);
  std::string note = "Channels of '" + layer + "' (" + std::to_string(channels.size()) + " of " +
                     std::to_string(count) + "), one row each: the " + std::to_string(k) + " of " +
                     std::to_string(x.dim(0)) + " examples with the largest activation, as the ";
  note += rf.spatial
              ? "receptive field of its position (" + std::to_string(rf.size_h) + "x" + std::to_string(rf.size_w) +
                    " pixels, stride " + std::to_string(rf.jump_h) + "; grey: outside the image)."
              : "whole image (the layer mixes all positions).";
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < channels.size(); ++i) {
    std::string samples;
    for (const auto& t : best[i]) {
      if (!samples.empty()) samples += ' ';
      samples += std::to_string(t.sample);
    }
    char value[32];
    std::snprintf(value, sizeof value, "%.4g", best[i].empty() ? 0.0 : best[i][0].value);
    rows.push_back({std::to_string(channels[i]), value, samples});
  }
  return paragraph(note) + html_img(patch_grid(x, rf, best, rf.spatial && rf.size_h < 16 ? 4 : 2), "top activations") +
         html_table({"channel", "largest activation", "examples (best first)"}, rows);
}

std::string render_class_exemplars(const GlobalContext& c) {
  const std::string layer = layer_or(c, penultimate(*c.model));
  check(c.labels.defined(), "class-exemplars needs labels (--fashion-test, or --input with --labels)");
  const Tensor x = model_input(c);
  check(x.ndim() == 4, "class-exemplars: the picture needs images (N, C, H, W), the data are " + x.describe());
  const Tensor act = layer_activations(*c.model, x, layer);
  const int64_t n = x.dim(0), k = c.options.get_int("top", 8);
  const auto ex = class_exemplars(act.reshape({n, act.numel() / n}), c.labels, k);
  std::vector<std::vector<int64_t>> grid;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : ex) {
    grid.push_back(e.nearest);
    const std::string name =
        e.label < static_cast<int64_t>(c.class_names.size()) ? c.class_names[e.label] : std::to_string(e.label);
    int64_t same = 0;
    for (int64_t i : e.nearest) same += static_cast<int64_t>(c.labels.item(i)) == e.label;
    rows.push_back({name, std::to_string(same) + " / " + std::to_string(e.nearest.size())});
  }
  return paragraph("One row per class: the examples nearest (Euclidean) to the class's mean activation at '" + layer +
                   "', nearest first.") +
         html_img(example_grid(x, grid, 2), "class exemplars") + html_table({"class", "of its own class"}, rows);
}

std::string render_projection(const GlobalContext& c) {
  const std::string layer = layer_or(c, penultimate(*c.model));
  const Tensor x = model_input(c);
  const Tensor act = layer_activations(*c.model, x, layer);
  const int64_t n = x.dim(0);
  const Tensor rows = act.reshape({n, act.numel() / n});
  const std::vector<int64_t> labels = label_list(c);
  std::vector<RgbImage> plots;
  std::string note;
  for (const std::string& method : {std::string("pca"), std::string("tsne")}) {
    const std::string wanted = c.options.get("projection", "pca,tsne");
    if (wanted.find(method) == std::string::npos) continue;
    if (method == "pca") {
      const PcaResult r = pca(rows, 2, "layer " + layer);
      char text[160];
      std::snprintf(text, sizeof text, "PCA: the first two components hold %.1f %% and %.1f %% of the variance. ",
                    100 * r.explained[0], 100 * r.explained[1]);
      note += text;
      plots.push_back(scatter_plot(r.projection, labels, c.class_names, "PCA of " + layer, 420));
    } else {
      TsneOptions opt;
      opt.perplexity = std::min(c.options.get_double("perplexity", 30), static_cast<double>(n - 2) / 3.0);
      opt.iterations = c.options.get_int("iterations", 1000);
      const TsneResult r = tsne(rows, opt, "layer " + layer);
      char text[200];
      std::snprintf(text, sizeof text, "t-SNE (%s, perplexity %.3g, %lld iterations): KL(P||Q) %.4f.",
                    r.barnes_hut ? "Barnes-Hut" : "exact", opt.perplexity, static_cast<long long>(opt.iterations),
                    r.final_kl_exact);
      note += text;
      plots.push_back(scatter_plot(r.embedding, labels, c.class_names, "t-SNE of " + layer, 420));
    }
  }
  check(!plots.empty(), "projection: --global-option projection must name pca, tsne or both");
  std::string html = paragraph("Activations of '" + layer + "' over " + std::to_string(n) + " examples. " + note);
  for (const RgbImage& p : plots) html += html_img(p, "projection") + "\n";
  return html;
}

const GlobalSectionRegistration kFilters({"filters",
                                          "First-layer filters",
                                          "the first layer's weights as images (Zeiler & Fergus 2014, Fig. 2)",
                                          {},
                                          render_filters});

const GlobalSectionRegistration kTop(
    {"top-activations",
     "Top activations",
     "per channel, the examples that excite it most, as receptive-field patches (Zeiler & Fergus 2014, §4)",
     {{"layer", "", "the value whose channels are shown (default: the last convolution's output)", "TEXT"},
      {"channels", "all", "channels to show: 0,3,5 or all (the first 32)", "TEXT"},
      {"top", "8", "examples per channel (and per class)", "INT"}},
     render_top_activations});

const GlobalSectionRegistration kClasses({"class-exemplars",
                                          "Class exemplars",
                                          "the examples nearest each class's mean activation in a layer's space",
                                          {{"layer", "",
                                            "the value whose space is used (default: the classifier's input)", "TEXT"},
                                           {"top", "8", "examples per class (and per channel)", "INT"}},
                                          render_class_exemplars});

const GlobalSectionRegistration kProjection(
    {"projection",
     "Hidden-layer projection",
     "PCA and t-SNE of a layer's activations, coloured by class (van der Maaten & Hinton 2008; Barnes-Hut: "
     "van der Maaten 2014)",
     {{"layer", "", "the value projected (default: the classifier's input)", "TEXT"},
      {"projection", "pca,tsne", "pca, tsne or both", "TEXT"},
      {"perplexity", "30", "t-SNE perplexity (at most (N - 2) / 3 is used)", "FLOAT"},
      {"iterations", "1000", "t-SNE iterations", "INT"}},
     render_projection});

}  // namespace

}  // namespace xdnn::explain
