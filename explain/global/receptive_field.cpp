// Receptive fields from the layer graph (see receptive_field.h for the arithmetic).
#include "explain/global/receptive_field.h"

#include <algorithm>
#include <map>
#include <set>

#include "engine/check.h"
#include "layers/avgpool2d.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/maxpool2d.h"

namespace xdnn::explain {

namespace {

// A value's field, or none for values computed from constants only (shapes, initial states).
struct Field {
  bool constant = false;
  ReceptiveField rf;
};

struct Window {  // one layer's geometry along both axes
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
};

bool window_of(const Layer& layer, Window& w) {
  if (const auto* conv = dynamic_cast<const Conv2d*>(&layer)) {
    const auto& g = conv->geometry();
    const Tensor& weight = conv->weight();  // (O, C/groups, KH, KW)
    w = {weight.dim(2), weight.dim(3), g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dilation_h, g.dilation_w};
    return true;
  }
  const ops::Pool2dGeometry* g = nullptr;
  if (const auto* max = dynamic_cast<const MaxPool2d*>(&layer)) g = &max->geometry();
  if (const auto* avg = dynamic_cast<const AvgPool2d*>(&layer)) g = &avg->geometry();
  if (!g) return false;
  w = {g->kernel_h, g->kernel_w, g->stride_h, g->stride_w, g->pad_top, g->pad_left, g->dilation_h, g->dilation_w};
  return true;
}

// Layers whose output at a position depends on their input(s) at that position only.
bool keeps_positions(const Layer& layer) {
  static const std::set<std::string> kinds = {"ReLU",        "LeakyReLU", "PRelu",    "Sigmoid", "Tanh",      "GELU",
                                              "BatchNorm2d", "Dropout",   "Identity", "Add",     "AddScalar", "Sub",
                                              "Mul",         "Div",       "Max",      "Min"};
  return dynamic_cast<const Elementwise*>(&layer) != nullptr || kinds.count(layer.kind()) > 0;
}

struct Walk {
  const Model& model;
  std::map<int, Field> memo;

  Field field(int value) {
    if (auto it = memo.find(value); it != memo.end()) return it->second;
    Field out;
    const int node_index = model.producer(value);
    if (node_index < 0) {
      const auto& inputs = model.inputs();
      out.constant = std::find(inputs.begin(), inputs.end(), value) == inputs.end();
      out.rf.spatial = !out.constant;  // a model input: (1, 1, 0) along both axes
    } else {
      const Node& node = model.nodes()[static_cast<size_t>(node_index)];
      std::vector<ReceptiveField> in;
      for (int v : node.inputs) {
        const Field f = field(v);
        if (!f.constant) in.push_back(f.rf);
      }
      if (in.empty()) {
        out.constant = true;
      } else {
        out.rf = combine(*node.layer, in);
      }
    }
    memo[value] = out;
    return out;
  }

  static ReceptiveField combine(const Layer& layer, const std::vector<ReceptiveField>& in) {
    ReceptiveField whole;  // spatial = false
    for (const ReceptiveField& f : in)
      if (!f.spatial) return whole;
    Window w{};
    if (in.size() == 1 && window_of(layer, w)) {
      const ReceptiveField& f = in[0];
      ReceptiveField r;
      r.spatial = true;
      r.jump_h = f.jump_h * w.stride_h;
      r.jump_w = f.jump_w * w.stride_w;
      r.size_h = f.size_h + (w.kernel_h - 1) * w.dilation_h * f.jump_h;
      r.size_w = f.size_w + (w.kernel_w - 1) * w.dilation_w * f.jump_w;
      r.start_h = f.start_h - w.pad_top * f.jump_h;
      r.start_w = f.start_w - w.pad_left * f.jump_w;
      return r;
    }
    if (!keeps_positions(layer)) return whole;
    // The envelope of fields on one grid (a residual sum); different grids are not position-wise.
    ReceptiveField r = in[0];
    for (const ReceptiveField& f : in) {
      if (f.jump_h != r.jump_h || f.jump_w != r.jump_w) return whole;
      const int64_t end_h = std::max(r.start_h + r.size_h, f.start_h + f.size_h);
      const int64_t end_w = std::max(r.start_w + r.size_w, f.start_w + f.size_w);
      r.start_h = std::min(r.start_h, f.start_h);
      r.start_w = std::min(r.start_w, f.start_w);
      r.size_h = end_h - r.start_h;
      r.size_w = end_w - r.start_w;
    }
    return r;
  }
};

}  // namespace

ReceptiveField receptive_field(const Model& model, const std::string& name) {
  Walk walk{model, {}};
  const Field f = walk.field(model.value_id(name));
  check(!f.constant, "receptive field of '" + name + "': it is computed from constants only, not from the input");
  return f.rf;
}

PixelBox receptive_box(const ReceptiveField& rf, int64_t y, int64_t x, int64_t height, int64_t width) {
  if (!rf.spatial) return {0, 0, height, width};
  PixelBox b;
  b.top = std::clamp<int64_t>(rf.start_h + y * rf.jump_h, 0, height);
  b.left = std::clamp<int64_t>(rf.start_w + x * rf.jump_w, 0, width);
  b.bottom = std::clamp<int64_t>(rf.start_h + y * rf.jump_h + rf.size_h, 0, height);
  b.right = std::clamp<int64_t>(rf.start_w + x * rf.jump_w + rf.size_w, 0, width);
  return b;
}

}  // namespace xdnn::explain
