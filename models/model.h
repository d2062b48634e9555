// Model: a DAG of layer nodes over named values, kept in topological order.
//
// The reverse topological walk over the nodes *is* the autodiff (micrograd's idea at layer
// granularity): reverse_walk() hands each node the gradient (or relevance, or DeepLIFT multiplier)
// arriving at its outputs and sums what it returns into its inputs. backward() and relevance() are
// that walk with the layers' own passes; explainers supply their own per-node function where a method
// replaces the rule of some layers (DeepLIFT's rescale rule, say) for one pass.
//
// Values are named: native models use "input", "conv1", "relu1", ...; ONNX models keep their tensor
// names ("/relu2/Relu_output_0"), so Grad-CAM and friends can address any intermediate tensor.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace xdnn {

struct Node {
  std::string name;  // "conv1", or the ONNX node name
  std::shared_ptr<Layer> layer;
  std::vector<int> inputs;   // value ids
  std::vector<int> outputs;  // value ids
};

// Everything one forward call produced: every value, and each node's saved state.
struct Tape {
  std::vector<Tensor> values;  // by value id
  std::vector<Saved> saved;    // by node index
};

class Model {
 public:
  // ---- building ----
  int add_input(const std::string& name);
  // Adds a node; its inputs must exist. Returns the node index.
  int add_node(const std::string& name, std::shared_ptr<Layer> layer, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs);
  // Sequential helper: a one-in one-out node reading the last added value, writing a value named `name`.
  int append(const std::string& name, std::shared_ptr<Layer> layer);
  void set_outputs(const std::vector<std::string>& names);
  // Constant values (ONNX initializers that are not parameters, e.g. shapes) are inputs of no one's
  // making: they are stored here and placed on the tape before the nodes run.
  void add_constant(const std::string& name, const Tensor& value);

  // ---- inspecting ----
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  int value_id(const std::string& name) const;  // throws naming the value and a few that exist
  bool has_value(const std::string& name) const { return value_index_.count(name) > 0; }
  const std::string& value_name(int id) const { return value_names_.at(id); }
  int num_values() const { return static_cast<int>(value_names_.size()); }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  int producer(int value_id) const;  // node index producing the value, -1 for inputs/constants
  std::vector<Param*> params();
  Param* find_param(const std::string& name);  // nullptr if absent
  DType dtype() const { return dtype_; }
  void to(DType dtype);  // converts every parameter and constant (F64 for gradient checks)
  // Moves every parameter, gradient, buffer and constant to `device` (copies, Tensor::to(Device)).
  void to(Device device);
  // Layer::freeze on every layer: for a model whose parameters stay as they are from here on (`xdnn explain`
  // freezes the model it loaded); params() on a layer unfreezes it.
  void freeze();

  // Optional description for reports: expected input shape without the batch axis, class names.
  Shape input_shape;
  DType input_dtype = DType::F32;
  std::vector<std::string> class_names;
  // When set, forward() checks its first input against input_dtype (float32/float64 both accepted
  // for a float input) and input_shape (-1 = any size; the batch axis is always free), throwing one
  // line that names the input and what was expected. The ONNX importer sets it from the graph input.
  bool check_input = false;
  // The batch size a graph was exported for when its input declares a fixed one (an ONNX input whose
  // dim 0 is a number, as PyTorch writes by default), 0 when the batch axis is free. Such graphs often
  // hold the size in Reshape constants ((1, 16) before the classifier, (T, N·heads, d) in attention), so
  // explainers that stack perturbed copies of a batch into one call send the copies one call each
  // (explain/copies.h copies_per_call). Forward calls with other batch sizes are left to the graph.
  int64_t exported_batch = 0;
  // The model declares int64 token ids as its input: float tensors are not converted for it (callers
  // leave them to the input check, which names their own dtype).
  bool takes_token_ids() const { return check_input && input_dtype == DType::I64; }

  // ---- running ----
  // `replace`: values to substitute right after they are produced (or for inputs), by value id. This is
  // how integrated gradients on a token model feeds interpolated embeddings through the rest of the net.
  Tape forward(const std::vector<Tensor>& inputs, const ForwardOptions& opt = {},
               const std::map<int, Tensor>& replace = {}) const;
  // Single-input single-output convenience.
  Tensor predict(const Tensor& x) const;

  using NodeBackward = std::function<std::vector<Tensor>(int node_index, const std::vector<Tensor>& grad_outputs)>;
  // Walks the nodes in reverse topological order starting from `seeds` (value id -> gradient-like
  // tensor), summing contributions at values used more than once. Returns the tensor at every value
  // (undefined where nothing arrived). Nodes none of whose outputs received anything are skipped.
  std::vector<Tensor> reverse_walk(const Tape& tape, const std::map<int, Tensor>& seeds,
                                   const NodeBackward& node_backward) const;
  // Ordinary (or deconvnet / guided) backward through every layer's backward pass. With
  // opt.input_grad false the values at the model's inputs may stay undefined (see BackwardOptions).
  std::vector<Tensor> backward(const Tape& tape, const std::map<int, Tensor>& seeds,
                               const BackwardOptions& opt = {}) const;
  // Which values of `tape` carry the model inputs' data (by value id): the inputs themselves, and every
  // float output of a node that reads at least one such value. Int64 outputs (Shape, Range, ArgMax) never
  // do, so constants made at run time from shapes (ConstantOfShape, Expand of a constant, positions from
  // Range) and their slices carry nothing, like initializers.
  std::vector<bool> data_carrying(const Tape& tape) const;
  // LRP: every node's relevance pass with the rule `rule_for(node_index)` returns. Nodes that read no
  // data-carrying value are skipped: relevance reaching a constant (a zero initial state of an exported
  // LSTM, Slice(ConstantOfShape)) is absorbed there, as at a bias (Arras et al. 2017 give initial states
  // no relevance); no rule is asked of such nodes.
  std::vector<Tensor> relevance(const Tape& tape, const std::map<int, Tensor>& seeds,
                                const std::function<Rule(int node_index)>& rule_for) const;

 private:
  int intern_value(const std::string& name);
  void check_first_input(const Tensor& x) const;
  std::vector<std::string> value_names_;
  std::map<std::string, int> value_index_;
  std::vector<int> producer_;  // by value id
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  std::map<int, Tensor> constants_;
  int last_value_ = -1;
  bool outputs_set_ = false;  // set_outputs() called: stop defaulting to the last value
  DType dtype_ = DType::F32;
};

}  // namespace xdnn
