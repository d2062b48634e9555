// Global understanding (what did the network learn?): analyses of a model as a whole rather than of one
// prediction: activation maximisation, filter and data views, projections, probes, SVCCA, TCAV,
// distillation, automata. Each analysis is a library function in explain/global/ (tested on its own) and
// registers one GlobalSection, which the global report page shows: `xdnn report --global a,b --out G.html`.
// Adding an analysis to the page touches only its own file: a GlobalSectionRegistration at namespace scope.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/method.h"
#include "models/model.h"

namespace xdnn::explain {

// What a section sees. The data set is the report's input (--input / --fashion-test), the model is the
// report's model; checkpoints are the files of one training run, oldest first (--checkpoints), for
// sections that compare training stages (load them with models/load.h).
struct GlobalContext {
  const Model* model = nullptr;
  std::string model_label;
  Tensor data;                           // (N, ...) model inputs: float images (N, C, H, W) or int64 tokens (N, T)
  Tensor labels;                         // optional int64 (N,)
  std::vector<std::string> class_names;  // optional; class index -> name
  std::vector<std::string> vocabulary;   // optional; token id -> text
  std::vector<std::string> checkpoints;  // optional checkpoint paths
  Options options;                       // this section's options: its defaults, overridden by --global-option
};

struct GlobalSection {
  std::string name;     // e.g. "probes": `xdnn report --global probes`
  std::string title;    // the section's heading on the page
  std::string summary;  // one line, for --help and under the heading (cite the paper)
  std::vector<OptionSpec> options;
  // The section's HTML body: figures (html_img, explain/html.h) and tables (html_table); no heading.
  // Throws xdnn::Error (one line) when the context does not suit it (e.g. no recurrent layer).
  std::function<std::string(const GlobalContext&)> render_html;
};

struct GlobalSectionRegistration {
  explicit GlobalSectionRegistration(GlobalSection section);
};

// Every registered section, sorted by name.
std::vector<const GlobalSection*> global_sections();
// The section called `name`; an Error listing the registered names otherwise.
const GlobalSection& find_global_section(const std::string& name);
// "a, b, c" for --help.
std::string global_section_names();

struct GlobalReportRequest {
  GlobalContext context;                       // its options are ignored: see `options`
  std::vector<std::string> sections;           // registered section names, in page order
  std::map<std::string, std::string> options;  // NAME=VALUE; each must be taken by at least one chosen section
  std::string title = "xdnn global report";
};

// Checks every name and option before any section runs, then renders the sections in order into one
// self-contained page (each section's wall time is shown beside its heading).
std::string render_global_report(const GlobalReportRequest& req);
void write_global_report(const std::string& path, const GlobalReportRequest& req);

}  // namespace xdnn::explain
