// Files named by method options (--baseline B.npy, --masks M.npy, --coalitions Z.npy, --feature-mask G.npy,
// --baselines B.npy) are loaded by the caller (load_option_files, explain/registry.h), never by the method:
// which values name files, that a method given a loaded file computes what it computes from the same values
// given as a number, and the one-line errors of a file not loaded or missing.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "explain/evaluate/metric.h"
#include "explain/evaluate/table.h"
#include "explain/registry.h"
#include "file_fixtures.h"
#include "models/io/npy.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using namespace xdnn::testing;

namespace {

ExplainRequest request(const Model& m, const Tensor& x, const std::string& method,
                       const std::map<std::string, std::string>& given) {
  ExplainRequest req;
  req.model = &m;
  req.input = x;
  req.targets = std::vector<int64_t>(x.dim(0), 0);
  req.options = resolve_options(find_method(method), given);
  return req;
}

}  // namespace

TEST_CASE("option files: only the values that name files are loaded, once, by the caller") {
  ScratchDir dir("option_files");
  const std::string base = dir.path("base.npy"), mask = dir.path("mask.npy");
  save_npy(base, Tensor::full({4}, 0.5, DType::F32));
  save_npy(mask, Tensor::from_vector({4}, std::vector<int64_t>{0, 0, 1, 1}));
  const Model m = linear_model({1.0, -2.0, 3.0, 0.5}, 0.25);
  Tensor x({2, 4}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, 0.1 * static_cast<double>(i) - 0.3);

  ExplainRequest by_number = request(m, x, "integrated-gradients", {{"baseline", "0.5"}});
  load_option_files(find_method("integrated-gradients"), by_number.options);
  CHECK(by_number.options.arrays.empty());  // a number names no file

  ExplainRequest by_file = request(m, x, "integrated-gradients", {{"baseline", base}});
  load_option_files(find_method("integrated-gradients"), by_file.options);
  REQUIRE(by_file.options.arrays.count("baseline") == 1);
  CHECK(by_file.options.arrays.at("baseline").describe() == "float32 (4,)");
  // The same baseline as a file (one sample's shape, shared by both samples) and as a number: same bits.
  const Tensor a_number = find_method("integrated-gradients").run(by_number).values;
  const Tensor a_file = find_method("integrated-gradients").run(by_file).values;
  REQUIRE(a_number.shape() == a_file.shape());
  for (int64_t i = 0; i < a_number.numel(); ++i) CHECK(a_number.item(i) == a_file.item(i));

  ExplainRequest groups = request(m, x, "feature-ablation", {{"feature-mask", mask}});
  load_option_files(find_method("feature-ablation"), groups.options);
  CHECK(groups.options.arrays.count("feature-mask") == 1);
  ExplainRequest grid = request(m, x, "feature-ablation", {{"feature-mask", "grid:2"}});
  load_option_files(find_method("feature-ablation"), grid.options);
  CHECK(grid.options.arrays.empty());  // grid:S and slic:K are not files
  ExplainRequest rise = request(m, x, "rise", {{"masks", "50"}});
  load_option_files(find_method("rise"), rise.options);
  CHECK(rise.options.arrays.empty());  // a count of masks to generate
}

TEST_CASE("option files: a file not loaded, or missing, is a one-line error naming the option and the file") {
  const Model m = linear_model({1.0, -2.0}, 0.0);
  Tensor x({1, 2}, DType::F64);
  const ExplainRequest not_loaded = request(m, x, "integrated-gradients", {{"baseline", "b.npy"}});
  check_error([&] { find_method("integrated-gradients").run(not_loaded); }, "--baseline b.npy", "not loaded");
  ExplainRequest missing = request(m, x, "lime", {{"coalitions", "/nonexistent/z.npy"}});
  check_error([&] { load_option_files(find_method("lime"), missing.options); }, "/nonexistent/z.npy", "");
}

TEST_CASE("option files: --ground-truth G.npy is loaded by resolve_metrics and scores like the same tensor given") {
  ScratchDir dir("option_files_gt");
  const std::string path = dir.path("g.npy");
  Tensor g = Tensor::from_vector({2, 4}, std::vector<float>{1, 0, 0, -1, 0, 0, 1, 1});
  save_npy(path, g);
  const auto metrics = resolve_metrics({"pointing-game", "relevance-mass"}, {{"ground-truth", path}});
  REQUIRE(metrics.size() == 2);
  for (const auto& [info, options] : metrics) {
    REQUIRE(options.arrays.count("ground-truth") == 1);
    MetricRequest from_file;
    from_file.attribution = Tensor::from_vector({2, 4}, std::vector<double>{0.9, 0.1, 0.2, 5.0, 0.3, 0.1, 0.2, 0.4});
    from_file.targets = {0, 0};
    from_file.options = options;
    MetricRequest given = from_file;
    given.options.arrays.clear();
    given.ground_truth = g;
    const Tensor a = info->run(from_file).values, b = info->run(given).values;
    REQUIRE(a.shape() == b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.item(i) == b.item(i));
  }
}
