// One explanation through the method registry, as `xdnn explain` runs it: the tests' one-call runner
// (test_explain.cpp, test_cam_1d.cpp, test_perturbation*.cpp, test_superpixels.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "explain/method.h"
#include "explain/registry.h"
#include "models/model.h"

namespace xdnn::testing {

// `method` on input x (N, ...) for the given targets (one per sample), options resolved and their files loaded as the
// CLI does.
inline explain::Attribution run(const std::string& method, const Model& m, const Tensor& x,
                                std::vector<int64_t> targets, std::map<std::string, std::string> opts = {}) {
  explain::ExplainRequest req;
  req.model = &m;
  req.input = x;
  req.targets = std::move(targets);
  req.options = explain::resolve_options(explain::find_method(method), opts);
  explain::load_option_files(explain::find_method(method), req.options);
  return explain::find_method(method).run(req);
}

}  // namespace xdnn::testing
