// The HTML report: one self-contained page (inline CSS, PNGs as base64 data URIs, no scripts, no
// external files) that shows, for each sample, the input, the predicted class and its probability
// (and the true label when known), and one heatmap per explanation method; optionally an evaluation
// section that scores the methods with registered metrics (deletion, insertion, ...). Token inputs are shown as a
// row of token cells coloured by relevance. For a token model with attention (explain/attention.h) the
// page ends with the attention matrices of every sample, layer and head (and the head mean).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"
#include "models/model.h"

namespace xdnn::explain {

// A report continued after a kill (`xdnn report` over a data set; explain/cli/resumable.h): rows
// [0, first_row) are the earlier run's, their HTML in rows_html and the methods' seconds in seconds; after
// each pass of rows, on_pass(rows done, that pass's HTML, seconds per method so far) lets the caller record
// them. Default: a report from row 0, nothing recorded.
struct ReportResume {
  int64_t first_row = 0;
  std::string rows_html;
  std::vector<double> seconds;
  std::function<void(int64_t rows_done, std::string_view rows_html, const std::vector<double>& seconds)> on_pass;
};

struct ReportRequest {
  const Model* model = nullptr;
  std::string model_label;       // shown in the header, e.g. "fashion-cnn:run/epoch-2.safetensors"
  Tensor input;                  // float (N, C, H, W) images in [0, 1], or int64 token ids (N, T)
  Tensor labels;                 // optional int64 (N,): true classes
  std::vector<int64_t> targets;  // optional, one per sample: the class to explain (default: predicted)
  Tensor pixels;           // optional float (N, C, H, W) in [0, 1]: the pictures as read, shown instead of `input`
  std::string input_note;  // optional: how the input was read (e.g. "resized to 224x224 ..., mean (...)")
  std::vector<std::string> class_names;  // optional; index -> name
  std::vector<std::string> methods;      // registered method names, one column each
  // Optional token id -> text, for token cells and attention labels; when empty, options["vocab"] may
  // name a vocabulary JSON file (explain/attention.h load_vocabulary_tokens).
  std::vector<std::string> vocabulary;
  // Options given to every method that takes them (e.g. {"steps": "32"}); others ignore them.
  std::map<std::string, std::string> options;
  std::string title = "xdnn explanation report";
  ReportResume resume;
  // Optional evaluation section: these registered metrics (explain/evaluate/metric.h) score every
  // method's attributions of the whole batch, as `xdnn evaluate --methods` does (same numbers), shown
  // as a table (mean ± sd over the samples) and the mean curves. metric_options: NAME=VALUE for the
  // metrics (--score, --steps, ...); each must be taken by at least one of them.
  std::vector<std::string> metrics;
  std::map<std::string, std::string> metric_options;
  // Where the model already lives and the methods and metrics run; `input`, `labels` and `pixels` stay on the
  // host, each pass's rows go to the device and its logits and attributions come back for the pictures.
  Device device = Device::CPU;
};

// What one sample's attribution looks like on screen: the attribution reduced to one (H, W) map over the
// input's grid (channels summed; class activation maps of a coarser grid upsampled bilinearly).
// attribution: (N, ...) as a method returns it; input: (N, C, H, W). Returns (H, W) float64.
Tensor display_map(const Tensor& attribution, const Tensor& input, int64_t n);
// The picture shown under a heatmap: sample n itself for RGB inputs, (3, H, W), else the mean over channels,
// (H, W); float64.
Tensor display_image(const Tensor& input, int64_t n);

// Runs every method on the batch (each sample explained for its predicted class) and returns the page.
std::string render_report(const ReportRequest& req);
// render_report, written to `path` (throws naming the path when it cannot be written).
void write_report(const std::string& path, const ReportRequest& req);

}  // namespace xdnn::explain
