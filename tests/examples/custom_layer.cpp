// Example 3: a layer of your own with its own LRP rule. ReLU6 (y = min(max(x, 0), 6), Howard et al. 2017)
// replaces the ReLU of fashion-mlp. Its LRP rule is "pass" (relevance flows through unchanged, as for
// every element-wise activation in Montavon et al. 2019, §10.2); composites give it its first rule.
// Check: on inputs whose hidden activations stay below 6, ReLU6 is ReLU, so the model's logits, its
// saliency maps and its LRP maps must be exactly those of the original model.
//
//   custom_layer
// Build: c++ custom_layer.cpp $(pkg-config --cflags --libs xdnn)
#include <xdnn/xdnn.h>

#include <algorithm>
#include <cstdio>

namespace api = xdnn::api;

class ReLU6 final : public api::CustomLayer {
 public:
  std::string kind() const override { return "ReLU6"; }

  api::Array forward(const api::Array& x) const override {
    api::Array y(x.dtype(), x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y.set(i, std::clamp(x.get(i), 0.0, 6.0));
    return y;
  }

  // dy/dx = 1 on (0, 6), 0 elsewhere (0 at the kinks, as xdnn's relu'(0) = 0).
  api::Array backward(const api::Array& x, const api::Array& /*y*/, const api::Array& grad_y) const override {
    api::Array grad_x(x.dtype(), x.shape());
    for (int64_t i = 0; i < x.size(); ++i) grad_x.set(i, x.get(i) > 0 && x.get(i) < 6 ? grad_y.get(i) : 0.0);
    return grad_x;
  }

  std::vector<std::string> lrp_rules() const override { return {"pass"}; }
  api::Array relevance(const api::Array& /*x*/, const api::Array& /*y*/, const api::Array& relevance_y,
                       const std::string& /*rule*/) const override {
    return relevance_y;
  }
};

bool same(const api::Array& a, const api::Array& b, const char* what) {
  bool equal = a.shape() == b.shape();
  for (int64_t i = 0; equal && i < a.size(); ++i) equal = a.get(i) == b.get(i);
  std::printf("%-28s %s\n", what, equal ? "identical" : "DIFFERENT");
  return equal;
}

int main() try {
  const api::LabeledArrays data = api::fashion_mnist("test", 8);
  const api::Model original = api::Model::load("fashion-mlp");  // seeded PyTorch-default initialisation
  api::Model custom = api::Model::load("fashion-mlp");
  custom.replace_layer("relu1", std::make_shared<ReLU6>());
  for (const api::LayerInfo& l : custom.layers()) std::printf("%s (%s)  ", l.node.c_str(), l.kind.c_str());
  std::printf("\n");

  bool ok = same(original.run(data.x), custom.run(data.x), "logits");
  ok = same(api::explain(original, data.x, "saliency"), api::explain(custom, data.x, "saliency"), "saliency") && ok;
  const api::Options lrp = {{"composite", "epsilon-plus"}};
  ok = same(api::explain(original, data.x, "lrp", {}, lrp), api::explain(custom, data.x, "lrp", {}, lrp), "lrp") && ok;
  return ok ? 0 : 1;
} catch (const api::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
