#include "explain/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/file_io.h"
#include "explain/attention.h"
#include "explain/evaluate/plot.h"
#include "explain/html.h"
#include "explain/integrated_gradients.h"
#include "explain/lrp/composite.h"
#include "explain/method.h"
#include "explain/perturbation.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "explain/upsample.h"

namespace xdnn::explain {
namespace {

// What a registered choice named by an option does, from its registry: " [zplus on Conv, epsilon on Dense]"
// for composite=epsilon-plus; empty for other options and unknown names.
std::string chosen_entry(const std::string& option, const std::string& value) {
  auto describe = [&](const auto& registry) {
    return registry.contains(value) ? " [" + registry.find(value).description + "]" : std::string();
  };
  if (option == "composite") return describe(lrp::composites());
  if (option == "integration") return describe(integration_rules());
  return {};
}

}  // namespace

namespace {

std::string fmt(double v, int precision = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

std::string class_label(const ReportRequest& req, int64_t k) {
  if (k >= 0 && k < static_cast<int64_t>(req.class_names.size())) return req.class_names[k];
  return "class " + std::to_string(k);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// Softmax probabilities of the logits row n: (N, K).
std::vector<double> probabilities(const Tensor& logits, int64_t n) {
  const int64_t K = logits.dim(1);
  std::vector<double> p(K);
  double mx = -INFINITY;
  for (int64_t k = 0; k < K; ++k) mx = std::max(mx, logits.item(n * K + k));
  double s = 0;
  for (int64_t k = 0; k < K; ++k) s += p[k] = std::exp(logits.item(n * K + k) - mx);
  for (auto& v : p) v /= s;
  return p;
}

// Token row: each token (its vocabulary text, else its id) in a cell whose background is the diverging
// colour of its relevance.
std::string token_row(const Tensor& ids, const Tensor& attribution, int64_t n, const std::vector<std::string>& vocab) {
  const std::vector<std::string> labels = token_labels(ids, n, vocab);
  const int64_t T = ids.dim(1);
  double scale = 0;
  for (int64_t t = 0; t < T; ++t) scale = std::max(scale, std::abs(attribution.item(n * T + t)));
  std::string out = "<div class=\"tokens\">";
  for (int64_t t = 0; t < T; ++t) {
    double a = attribution.item(n * T + t);
    uint8_t rgb[3];
    const double u = scale > 0 ? a / scale : 0.0;
    diverging_colour(u, rgb);
    char style[64];
    // Light text on saturated cells (|u| > 0.6: the lighter channels below 102), dark text elsewhere.
    std::snprintf(style, sizeof style, "background:#%02x%02x%02x%s", rgb[0], rgb[1], rgb[2],
                  std::abs(u) > 0.6 ? ";color:#fff" : "");
    out += "<span class=\"tok\" style=\"" + std::string(style) + "\" title=\"relevance " + fmt(a) + "\">" +
           html_escape(labels[t]) + "</span>";
  }
  return out + "</div>";
}

// Attention matrices (explain/attention.h) of every sample: one row of images per sample and layer, the
// head mean first. Empty for a model without attention.
// ids: host token ids (N, T), labelled on the host; the forward pass runs on `device`, the model's.
std::string attention_section(const Model& model, const Tensor& ids, const std::vector<std::string>& vocab,
                              Device device) {
  const Tape tape = model.forward({ids.to(device)});
  const std::vector<AttentionMap> maps = attention_maps(model, tape, ids.dim(0), ids.dim(1));
  if (maps.empty()) return "";
  const int64_t N = ids.dim(0), T = ids.dim(1);
  std::ostringstream o;
  o << "<h2>Attention</h2>\n<p class=\"meta\">rows: queries, columns: keys; white 0 .. red the matrix's "
       "maximum</p>\n<table>\n";
  for (int64_t n = 0; n < N; ++n) {
    const std::vector<std::string> labels = token_labels(ids, n, vocab);
    for (size_t l = 0; l < maps.size(); ++l) {
      const Tensor p = maps[l].probs.to(Device::CPU);  // (N, h, T, T), pictures are drawn on the host
      const int64_t h = p.dim(1);
      o << "<tr><td>" << n << "</td><td>layer " << l << "<br><small>" << html_escape(maps[l].node) << "</small></td>";
      Tensor mean({T, T}, DType::F64);
      std::vector<Tensor> heads;
      for (int64_t k = 0; k < h; ++k) {
        Tensor m = p.slice_batch(n, n + 1).reshape({h, T, T}).slice_batch(k, k + 1).reshape({T, T});
        for (int64_t i = 0; i < T * T; ++i) mean.set_item(i, mean.item(i) + m.item(i) / static_cast<double>(h));
        heads.push_back(m);
      }
      o << "<td>"
        << html_img(render_attention(mean, labels, "mean of " + std::to_string(h) + " heads", 14),
                    "attention sample " + std::to_string(n) + " layer " + std::to_string(l) + " mean")
        << "</td>";
      for (int64_t k = 0; k < h; ++k)
        o << "<td>"
          << html_img(
                 render_attention(heads[k], labels, "head " + std::to_string(k), 14),
                 "attention sample " + std::to_string(n) + " layer " + std::to_string(l) + " head " + std::to_string(k))
          << "</td>";
      o << "</tr>\n";
    }
  }
  o << "</table>\n";
  return o.str();
}

// The feature groups of sample i that a grouping method (one taking --feature-mask: LIME, the SHAP family,
// feature ablation, anchors) used, as (H, W) ids of its first channel; empty for other methods.
std::vector<int64_t> pixel_groups(const MethodInfo& method, const Options& options, const Tensor& x, int64_t i) {
  const bool grouping = std::any_of(method.options.begin(), method.options.end(),
                                    [](const OptionSpec& o) { return o.name == "feature-mask"; });
  if (!grouping) return {};
  const FeatureGroups groups = feature_groups(options, x.slice_batch(i, i + 1), false);
  const int64_t H = x.dim(2), W = x.dim(3);
  return std::vector<int64_t>(groups.group_of.begin(), groups.group_of.begin() + H * W);
}

// Black 1-pixel lines on `img` (the (H, W) map upscaled by `scale`) where neighbouring pixels belong to
// different groups: the superpixel / grid cell boundaries (as skimage's mark_boundaries, inner mode).
void draw_group_boundaries(RgbImage& img, const std::vector<int64_t>& group, int64_t H, int64_t W, int scale) {
  auto paint = [&](int64_t x, int64_t y) {
    uint8_t* p = img.rgb.data() + (y * img.width + x) * 3;
    p[0] = p[1] = p[2] = 0;
  };
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) {
      if (w + 1 < W && group[h * W + w] != group[h * W + w + 1])
        for (int64_t y = h * scale; y < (h + 1) * scale; ++y) paint((w + 1) * scale - 1, y);
      if (h + 1 < H && group[h * W + w] != group[(h + 1) * W + w])
        for (int64_t x = w * scale; x < (w + 1) * scale; ++x) paint(x, (h + 1) * scale - 1);
    }
}

// A rule method's rule of sample i (Attribution::parameters["rules"], explain/anchors.cpp) as HTML: the
// predicates (tokens by their vocabulary text), the class, precision and coverage; empty for other methods.
std::string rule_html(const Attribution& a, int64_t i, const ReportRequest& req,
                      const std::vector<std::string>& vocab) {
  const auto it = a.parameters.find("rules");
  if (it == a.parameters.end()) return "";
  const nlohmann::json rules = nlohmann::json::parse(it->second);
  if (i >= static_cast<int64_t>(rules.size())) return "";
  const nlohmann::json& r = rules[i];
  std::string text;
  for (const auto& p : r["predicates"]) {
    std::string one = p["text"].get<std::string>();
    if (p.contains("token_id")) {
      const int64_t id = p["token_id"].get<int64_t>();
      const std::string word = id < static_cast<int64_t>(vocab.size()) ? vocab[id] : std::to_string(id);
      one = "\"" + word + "\" at " + p["name"].get<std::string>();
    }
    text += (text.empty() ? "" : " AND ") + one;
  }
  std::string out = "<div class=\"rule\">IF " + html_escape(text.empty() ? "(always)" : text) + " THEN " +
                    html_escape(class_label(req, r["target"].get<int64_t>())) + "<br><small>precision " +
                    fmt(r["precision"].get<double>()) + " &middot; coverage " + fmt(r["coverage"].get<double>());
  if (!r["precision_met"].get<bool>()) out += " &middot; <span class=\"wrong\">below the threshold</span>";
  return out + "</small></div>";
}

const char* kStyle = R"(body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 4px}p.meta{color:#555;font-size:13px;margin:0 0 16px}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:6px;text-align:center;vertical-align:middle}
th{background:#f4f4f4;font-size:13px}td.pred{font-size:13px;min-width:120px}.wrong{color:#b00}
.tok{display:inline-block;padding:2px 4px;margin:1px;font-family:monospace;font-size:12px;border-radius:3px}
.legend{font-size:12px;color:#555;margin-top:12px}.zero{font-size:11px;color:#777}.bar{display:inline-block;width:160px;height:10px;
vertical-align:middle;background:linear-gradient(90deg,#0000ff,#ffffff,#ff0000)}
dl{font-size:12px;color:#444}dt{font-weight:600;margin-top:6px}
.rule{font-size:12px;max-width:260px;margin:4px auto 0;text-align:left;font-family:monospace}
)";

}  // namespace

Tensor display_image(const Tensor& input, int64_t n) {
  const int64_t C = input.dim(1), H = input.dim(2), W = input.dim(3);
  if (C == 3) return input.slice_batch(n, n + 1).to(DType::F64).reshape({3, H, W});  // RGB: in colour
  Tensor grey({H, W}, DType::F64);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i)
      grey.set_item(i, grey.item(i) + input.item((n * C + c) * H * W + i) / static_cast<double>(C));
  return grey;
}

Tensor display_map(const Tensor& attribution, const Tensor& input, int64_t n) {
  const int64_t H = input.dim(2), W = input.dim(3);
  if (attribution.ndim() != 4 || attribution.dim(0) != input.dim(0))
    throw Error("report: cannot draw an attribution of shape " + shape_str(attribution.shape()) +
                " over an input of shape " + shape_str(input.shape()));
  const int64_t C = attribution.dim(1), h = attribution.dim(2), w = attribution.dim(3);
  Tensor sample = attribution.slice_batch(n, n + 1).to(DType::F64);
  Tensor summed({1, 1, h, w}, DType::F64);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < h * w; ++i) summed.set_item(i, summed.item(i) + sample.item(c * h * w + i));
  if (h != H || w != W) summed = upsample_bilinear(summed, H, W);  // CAMs live on a coarser grid
  return summed.reshape({H, W});
}

namespace {

// The page in three pieces (head with the table header, the sample rows, the legend and tail), so that
// write_report streams them to the file without concatenating: the rows of 2,000 Fashion-MNIST samples are
// 37 MB of base64 PNGs, and every copy of them counted in the peak memory.
struct ReportPage {
  std::string head, rows, tail;
};

// The methods' attributions of the whole batch scored by the chosen metrics, exactly as `xdnn evaluate
// --methods` scores them (method_source: the same chunked runs, the same options), then the table and the
// mean curves. The attributions are computed again here, for all samples at once, so that the rows above
// keep their bounded memory and these numbers equal evaluate's.
std::string evaluation_section(const ReportRequest& req,
                               const std::vector<std::pair<const MetricInfo*, Options>>& metric_specs) {
  const Tensor x = req.input.to(req.model->dtype()).to(req.device);
  // The classes the rows above explain: the given targets, else the predicted ones.
  const std::vector<int64_t> targets = req.targets.empty() ? resolve_targets(*req.model, x, -1) : req.targets;
  const std::vector<AttributionSource> sources =
      method_sources(*req.model, x, targets, req.methods, req.options, false);
  MetricRequest context;
  context.model = req.model;
  context.input = x;
  context.targets = targets;
  const EvaluationTable t = evaluate_table(context, sources, metric_specs, false);
  std::ostringstream o;
  o << "<h2>Evaluation</h2>\n<p class=\"meta\">" << x.dim(0) << " sample(s), each attribution of "
    << (req.targets.empty() ? "its predicted class" : "its given target") << "; mean &plusmn; sd over the samples";
  std::string params;
  for (const auto& [metric, options] : metric_specs)
    for (const auto& [name, value] : options.values)
      if (!value.empty() && params.find(name + "=") == std::string::npos)
        params += (params.empty() ? "" : ", ") + name + "=" + value;
  if (!params.empty()) o << " (" << html_escape(params) << ")";
  o << "</p>\n" << t.html() << "<dl>\n";
  for (const auto& [metric, options] : metric_specs)
    o << "<dt>" << html_escape(metric->name) << "</dt><dd>" << html_escape(metric->description) << "</dd>\n";
  o << "</dl>\n";
  const std::vector<CurvePanel> panels = mean_curve_panels(t);
  if (!panels.empty()) o << "<p>" << html_img(plot_curves(panels), "mean curves") << "</p>\n";
  return o.str();
}

ReportPage render_page(const ReportRequest& req) {
  if (!req.model) throw Error("report: no model");
  if (req.methods.empty()) throw Error("report: no methods given", "e.g. --methods saliency,integrated-gradients");
  const Tensor& x = req.input;
  const bool tokens = x.dtype() == DType::I64;
  if (!tokens && x.ndim() != 4)
    throw Error("report: expected images (N, C, H, W) or token ids (N, T), got " + x.describe());
  if (tokens && x.ndim() != 2) throw Error("report: expected token ids (N, T), got " + x.describe());
  const int64_t N = x.dim(0);
  if (req.labels.defined() && (req.labels.dtype() != DType::I64 || req.labels.numel() != N))
    throw Error("report: labels must be int64 (" + std::to_string(N) + ",), got " + req.labels.describe());
  if (!req.targets.empty() && static_cast<int64_t>(req.targets.size()) != N)
    throw Error("report: " + std::to_string(req.targets.size()) + " targets for " + std::to_string(N) + " samples");
  // What is drawn under the heatmaps: the pictures as read when given (before any normalisation).
  const Tensor& shown = req.pixels.defined() ? req.pixels : x;
  // Pixels per input pixel in the cells: 4 for Fashion-MNIST's 28x28, down to 1 for photos of 112 and more.
  const int64_t side = tokens ? 1 : std::max<int64_t>({1, x.dim(2), x.dim(3)});
  const int cell_scale = static_cast<int>(std::clamp<int64_t>((112 + side - 1) / side, 1, 4));
  if (req.pixels.defined() && (tokens || req.pixels.shape() != x.shape()))
    throw Error("report: pixels " + req.pixels.describe() + " do not match the input " + x.describe());

  std::vector<const MethodInfo*> methods;
  for (const auto& name : req.methods) methods.push_back(&find_method(name));
  // Every --option must be taken by at least one chosen method: a typo (compsite=...) is an error, not a
  // silently ignored setting.
  for (const auto& [key, value] : req.options) {
    bool taken = key == "vocab";
    std::string known;
    for (const MethodInfo* m : methods)
      for (const auto& spec : m->options) {
        taken = taken || spec.name == key;
        if (known.find(spec.name + ",") == std::string::npos) known += spec.name + ",";
      }
    if (!taken)
      throw Error("--option '" + key + "': none of the methods " + join_names(req.methods) + " takes it",
                  known.empty() ? "these methods take no options"
                                : "their options: " + known.substr(0, known.size() - 1) + ", vocab");
  }
  std::vector<Options> method_options;
  for (const MethodInfo* m : methods) {
    std::map<std::string, std::string> given;
    for (const auto& spec : m->options)
      if (req.options.count(spec.name)) given[spec.name] = req.options.at(spec.name);
    method_options.push_back(resolve_options(*m, given));  // all of them before any work: fail fast
    load_option_files(*m, method_options.back());          // the methods read no files
  }
  // The evaluation section's metrics, also resolved before any work (a missing --score fails here).
  if (!req.metrics.empty() && tokens)
    throw Error("report: --metrics scores image attributions; this model takes token ids",
                "score token models with `xdnn evaluate` (its ground-truth metrics take token ids)");
  const auto metric_specs = req.metrics.empty() ? std::vector<std::pair<const MetricInfo*, Options>>{}
                                                : resolve_metrics(req.metrics, req.metric_options);
  // Token texts: the request's vocabulary, else the file of a "vocab" option (`xdnn report --option vocab=F`).
  std::vector<std::string> vocab = req.vocabulary;
  if (vocab.empty() && req.options.count("vocab")) vocab = load_vocabulary_tokens(req.options.at("vocab"));

  // The samples go through the model and the methods kRowsPerPass at a time: the attributions of one
  // pass are drawn into the page and dropped, so memory does not grow with N beyond the page itself.
  constexpr int64_t kRowsPerPass = 32;
  const ReportResume& resume = req.resume;
  std::vector<double> seconds =
      resume.seconds.size() == methods.size() ? resume.seconds : std::vector<double>(methods.size(), 0.0);
  std::ostringstream rows;
  rows << resume.rows_html;
  for (int64_t n0 = resume.first_row; n0 < N; n0 += kRowsPerPass) {
    const auto pass_begin = static_cast<size_t>(rows.tellp());
    const int64_t n1 = std::min(N, n0 + kRowsPerPass);
    const Tensor xc = x.slice_batch(n0, n1).clone();
    const Tensor host_x = tokens ? xc : xc.to(req.model->dtype());
    const Tensor model_x = host_x.to(req.device);
    const Tensor logits = req.model->predict(model_x).to(Device::CPU);
    if (logits.ndim() != 2)
      throw Error("report: the model output must be logits (N, classes), got " + logits.describe());
    const std::vector<int64_t> predicted = argmax_rows(logits);
    std::vector<Attribution> attributions;
    for (size_t j = 0; j < methods.size(); ++j) {
      ExplainRequest er;
      er.model = req.model;
      er.input = model_x;
      er.targets = predicted;
      if (!req.targets.empty()) er.targets.assign(req.targets.begin() + n0, req.targets.begin() + n1);
      er.options = method_options[j];
      er.first_sample = n0;  // stochastic methods draw sample n's numbers whatever the pass size
      auto t0 = std::chrono::steady_clock::now();
      attributions.push_back(methods[j]->run(er));
      attributions.back().values = attributions.back().values.to(Device::CPU);  // drawn on the host
      seconds[j] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    for (int64_t i = 0; i < n1 - n0; ++i) {
      const int64_t n = n0 + i;
      const std::vector<double> p = probabilities(logits, i);
      const int64_t k = predicted[i];
      rows << "<tr><td>" << n << "</td>";
      if (tokens)
        rows << "<td>" << token_row(xc, Tensor({xc.dim(0), xc.dim(1)}, DType::F64), i, vocab) << "</td>";
      else
        rows << "<td>" << html_img(render_grey(display_image(shown, n), cell_scale), "input " + std::to_string(n))
             << "</td>";
      rows << "<td class=\"pred\"><b>" << html_escape(class_label(req, k)) << "</b><br>p = " << fmt(p[k]);
      if (req.labels.defined()) {
        const int64_t y = static_cast<int64_t>(req.labels.item(n));
        rows << "<br><span class=\"" << (y == k ? "" : "wrong") << "\">true: " << html_escape(class_label(req, y))
             << "</span>";
      }
      if (!req.targets.empty()) rows << "<br>explained: " << html_escape(class_label(req, req.targets[n]));
      rows << "</td>";
      for (size_t j = 0; j < methods.size(); ++j) {
        const Tensor& a = attributions[j].values;
        if (tokens) {
          rows << "<td>" << token_row(xc, a.to(DType::F64), i, vocab) << rule_html(attributions[j], i, req, vocab)
               << "</td>";
        } else {
          HeatmapOptions hopt;
          hopt.scale = cell_scale;
          hopt.percentile = 99.5;
          const Tensor map = display_map(a, xc, i);
          RgbImage img = render_heatmap(map, display_image(shown, n), hopt);
          const std::vector<int64_t> groups = pixel_groups(*methods[j], method_options[j], host_x, i);
          if (!groups.empty()) draw_group_boundaries(img, groups, xc.dim(2), xc.dim(3), hopt.scale);
          rows << "<td>" << html_img(img, methods[j]->name + " " + std::to_string(n))
               << rule_html(attributions[j], i, req, vocab);
          // An all-zero map draws as the bare grey image; say so, rather than leave the reader guessing (e.g.
          // Grad-CAM's ReLU removes a class map that is negative everywhere).
          bool all_zero = true;
          for (int64_t q = 0; q < map.numel() && all_zero; ++q) all_zero = map.item(q) == 0.0;
          if (all_zero) rows << "<br><span class=\"zero\">all zero</span>";
          rows << "</td>";
        }
      }
      rows << "</tr>\n";
    }
    if (resume.on_pass) resume.on_pass(n1, rows.view().substr(pass_begin), seconds);
  }

  ReportPage page;
  page.rows = std::move(rows).str();  // moves the buffer out (C++20), no copy
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(req.title)
    << "</title><style>" << kStyle << "</style></head><body>\n";
  o << "<h1>" << html_escape(req.title) << "</h1>\n<p class=\"meta\">model <b>" << html_escape(req.model_label)
    << "</b> &middot; " << N << " sample(s) &middot; each explained for "
    << (req.targets.empty() ? "its predicted class" : "its given target (--target)");
  if (!req.input_note.empty()) o << " &middot; input: " << html_escape(req.input_note);
  o << "</p>\n";
  o << "<table>\n<tr><th>#</th><th>input</th><th>prediction</th>";
  for (size_t j = 0; j < methods.size(); ++j)
    o << "<th>" << html_escape(methods[j]->name) << "<br><small>" << fmt(seconds[j], 3) << " s</small></th>";
  o << "</tr>\n";
  page.head = o.str();
  o.str("");
  o << "</table>\n<p class=\"legend\">negative <span class=\"bar\"></span> positive &middot; colours are "
       "scaled per heatmap to the 99.5th percentile of |attribution|";
  bool grouping = false;
  for (const MethodInfo* m : methods)
    for (const auto& spec : m->options) grouping = grouping || spec.name == "feature-mask";
  if (grouping && !tokens)
    o << " &middot; black lines: the feature groups (grid cells, superpixels) of grouping methods";
  o << "</p>\n<dl>\n";
  for (const MethodInfo* const& m : methods) {
    o << "<dt>" << html_escape(m->name) << "</dt><dd>" << html_escape(m->description);
    const Options& used = method_options[&m - &methods[0]];
    std::string params;
    for (const auto& [name, value] : used.values)
      if (!value.empty()) params += (params.empty() ? "" : ", ") + name + "=" + value + chosen_entry(name, value);
    if (!params.empty()) o << " <small>(" << html_escape(params) << ")</small>";
    o << "</dd>\n";
  }
  o << "</dl>\n";
  if (tokens) o << attention_section(*req.model, x, vocab, req.device);
  if (!metric_specs.empty()) o << evaluation_section(req, metric_specs);
  o << "</body></html>\n";
  page.tail = o.str();
  return page;
}

}  // namespace

std::string render_report(const ReportRequest& req) {
  const ReportPage page = render_page(req);
  return page.head + page.rows + page.tail;
}

void write_report(const std::string& path, const ReportRequest& req) {
  const ReportPage page = render_page(req);
  write_file_atomic(path, {page.head, page.rows, page.tail});
}

}  // namespace xdnn::explain
