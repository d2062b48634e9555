// The layer interface: every pass a layer takes part in, on one screen.
//
//   forward     y = f(x; θ), keeping in `Saved` what the other passes need
//   backward    ∂L/∂x from ∂L/∂y, in a mode: the ordinary gradient, or the modified backward passes of
//               deconvnet (Zeiler & Fergus 2014) and guided backprop (Springenberg et al. 2015) — only
//               the ReLU family reads the mode; and parameter gradients: none, accumulated into
//               Param::grad, or per example (Param::grad gets a leading batch axis; TracIn uses it)
//   relevance   LRP: relevance at the inputs from relevance at the outputs under a Rule (Bach et al.
//               2015; Montavon et al. 2019). A layer that is linear in its input returns a LinearLike
//               from as_linear() and so inherits every rule of layers/lrp_rules.h; a layer that hands
//               relevance on unchanged, or moves it as its backward moves gradient, says so with
//               relevance_pass() and writes nothing more; only layers with their own LRP semantics
//               (pooling, LSTM, attention, softmax, LayerNorm, ...) override relevance().
// A layer header is then: kind(), forward, backward, the relevance and R-operator declarations (or the
// overrides they stand for), and the layer's own parameters and accessors.
//
// Multi-input / multi-output layers (Add, Concat, Split, LSTM) take and return vectors; most layers
// use x[0] and return {y}. A gradient or relevance entry may be an undefined Tensor, meaning zero.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"
#include "layers/saved.h"

namespace xdnn {

// The inputs or outputs of one layer call, in order (most layers take and return one).
using Tensors = std::vector<Tensor>;

// A named trainable tensor. `name` is the full PyTorch state-dict / ONNX initializer name.
struct Param {
  std::string name;
  Tensor value;
  Tensor grad;  // Accumulate: shape of value; PerExample: (N, ...value shape)
};

struct ForwardOptions {
  bool training = false;  // batch-norm statistics, dropout
  Rng* rng = nullptr;     // dropout masks (training only)
};

enum class BackwardMode { Gradient, DeconvNet, GuidedBackprop };
enum class ParamGrad { None, Accumulate, PerExample };

struct BackwardOptions {
  BackwardMode mode = BackwardMode::Gradient;
  ParamGrad param_grad = ParamGrad::None;
  // Whether input gradients are wanted. Model::backward reads it as "at the model's inputs" and passes
  // false on to the nodes whose inputs are all model inputs or constants; a layer getting false may skip
  // its input gradient and return undefined (zero) tensors. Training sets it to false (only parameter
  // gradients matter, so the first Conv2d skips the image gradient); explainers keep true.
  bool input_grad = true;
};

// One LRP rule with its parameters, chosen per layer by a composite (explain/lrp).
struct Rule {
  std::string name = "epsilon";  // zero|epsilon|gamma|alpha-beta|zplus|box|w2|flat|pass|wta|proportional|norm
  double epsilon = 1e-6;         // ε of the epsilon rule
  double gamma = 0.25;
  double alpha = 2.0, beta = 1.0;
  double low = 0.0, high = 1.0;  // input bounds of the box (z^B) rule
  double stabilizer = 1e-6;      // δ of every rule other than epsilon
  bool bias_in_denominator = true;
};

class LinearLike;

// How a layer's relevance() is written (Layer::relevance_pass; Layer::relevance's default follows it):
//   Own          the layer's own relevance() — or, for a LinearLike, every rule of layers/lrp_rules.h;
//                for any other layer the default throws naming the rules it has
//   PassThrough  R_x = R_y, rule "pass": element-wise activations and per-channel normalisations hand
//                relevance on unchanged (Montavon et al. 2019, §10.1; Zennit's pass-through)
//   Backward     R_x = backward(R_y) (gradient mode), rule "pass": layers that only move, copy, select or
//                drop values (reshape, concat, gather, pad, slice, dropout) — relevance moves as gradient does
enum class RelevancePass { Own, PassThrough, Backward };

// Which R-operator (r_forward / r_backward) a parameter-free layer has by default (Layer::r_operator);
// a LinearLike layer has its own from its weights, and a layer may override either pass:
//   None                        none: exact Hessian-vector products cannot pass the layer (an error)
//   LinearInInput               f linear in x (average pooling, reshapes): R{y} = f(R{x}), an
//                               inference-mode forward on the tangent; R{g_x} = backward(R{g_y})
//   ElementwisePiecewiseLinear  f element-wise and piecewise linear (ReLU): the Jacobian is diagonal, so
//                               R{y} = backward(R{x}) = f'(x) ⊙ R{x}; R{g_x} = backward(R{g_y})
//   PiecewiseLinear             f (piecewise) linear with its own r_forward (max-pool, Add):
//                               R{g_x} = backward(R{g_y})
// R{g_x} = backward(R{g_y}) because a (piecewise) linear f has no curvature term almost everywhere.
enum class ROperator { None, LinearInInput, ElementwisePiecewiseLinear, PiecewiseLinear };

// A tensor a layer computed inside one forward call that is not one of its outputs, exposed under a
// documented name so explainers can read it without knowing the layer's class. Names in use:
//   "attention"  attention probabilities (N, h, T, T): query rows, key columns, each row sums to 1
//                (MultiheadAttention, TransformerEncoderLayer)
struct NamedValue {
  std::string name;
  Tensor value;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual const char* kind() const = 0;  // "Conv2d", "Linear", "ReLU", ...
  virtual std::vector<Param*> params() { return {}; }
  // The parameters for reading only (names, shapes, storage): unlike params(), never unfreezes (see freeze).
  // Default: params(), for the layers whose params() does nothing more; Conv2d overrides it.
  virtual std::vector<const Param*> read_params() const;
  // Non-trainable state saved with checkpoints (batch-norm running statistics); grad stays undefined.
  virtual std::vector<Param*> buffers() { return {}; }

  virtual Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) = 0;
  virtual Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) = 0;
  // Default: as relevance_pass() says (linear-like layers: the shared rules).
  virtual Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule);
  virtual RelevancePass relevance_pass() const { return RelevancePass::Own; }
  // Rule names this layer accepts (for error messages and composite validation); PassThrough and Backward
  // layers: "pass".
  virtual std::vector<std::string> relevance_rules() const;

  virtual const LinearLike* as_linear() const { return nullptr; }

  // Pearlmutter's R-operator, R{·} = d/dε (·)(θ + εV) at ε = 0 (exact Hessian-vector products,
  // explain/influence/hvp.h), for the inference-mode forward call that filled `saved`. Entries of rx, rgy
  // and v may be undefined (zero); v and rg_params have one entry per params().
  //   r_forward   R{y} from the input tangents R{x} and the parameter direction V (a JVP)
  //   r_backward  R{g_x} from g_y = ∂L/∂y, R{g_y}, R{x} and V; R{g_θ} (summed over the batch) into rg_params
  // Default: as r_operator() says; linear-like layers (as_linear) are supported; every other layer throws
  // naming its kind.
  virtual Tensors r_forward(const Tensors& rx, const Tensors& v, const Saved& saved);
  virtual Tensors r_backward(const Tensors& gy, const Tensors& rgy, const Tensors& rx, const Tensors& v,
                             const Saved& saved, Tensors& rg_params);
  virtual ROperator r_operator() const { return ROperator::None; }

  // Intermediate values of the forward call that filled `saved` (see NamedValue). Default: none.
  virtual std::vector<NamedValue> intermediates(const Saved& /*saved*/) const { return {}; }

  // The parameters will not change until params() is next called (a model loaded to be run or explained,
  // Model::freeze): the layer may build forms of its weights that its passes read instead of rebuilding them
  // per call (Conv2d: W⁺ and W⁻ for the LRP rules, the flipped weights of its input gradient). params() drops
  // them, so a change made through it (training, loading) is never read stale; read_params() does not.
  // Same bits frozen or not. Default: nothing to build.
  virtual void freeze() {}
};

// A layer whose output is an affine function of its (single) input: z = W ⋆ x + b.
// LRP rules need only these two maps, evaluated with substitute weights (W⁺, W⁻, W², 1, ...).
class LinearLike {
 public:
  virtual ~LinearLike() = default;
  virtual const Tensor& weight() const = 0;
  virtual const Tensor& bias() const = 0;  // undefined when the layer has none
  // The input x of the forward call that filled `saved`.
  virtual const Tensor& saved_input(const Saved& saved) const = 0;
  // W ⋆ x + b with the layer's geometry and the given weight; b may be undefined (no bias).
  virtual Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const = 0;
  // Wᵀ ⋆ s: the input-gradient of <s, W ⋆ x>, for an input of shape x_shape.
  virtual Tensor linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const = 0;
  // W⁺ = max(W, 0) and W⁻ = min(W, 0) of weight(), for the sign-split rules (zplus, alpha-beta, gamma, box).
  // Default: built per call; a frozen layer may keep them (Conv2d, see Layer::freeze): the same values.
  virtual Tensor weight_positive_part() const;
  virtual Tensor weight_negative_part() const;
};

// Helper for single-tensor layers: the gradient entry, or zeros of `like`'s shape when undefined.
Tensor grad_or_zeros(const Tensor& g, const Tensor& like);

}  // namespace xdnn
