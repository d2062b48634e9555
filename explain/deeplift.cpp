// DeepLIFT with the rescale rule (Shrikumar, Greenside & Kundaje 2017, §3.3 and §3.5.1 for max-pooling),
// exactly as the golden README's §DeepLIFT fixes it:
//   - run the network on x and on the baseline x̄ (default 0, or --baseline), keeping both tapes;
//   - propagate multipliers m backwards from m = 1 at logit K (Model::reverse_walk) with
//       * element-wise nonlinearities (layer kinds ReLU, Sigmoid, Tanh, LeakyReLU, ELU, Softplus), input z,
//         output y:
//         m_in = m_out · (y − ȳ)/(z − z̄) where |z − z̄| ≥ 1e-10, else the ordinary gradient (relu'(0) = 0);
//       * max-pooling (layer kinds starting with "MaxPool"): per window, y at the actual input's first
//         arg-max a and ȳ at the baseline's first arg-max ā; the map C holds m_out·(y − ȳ) at a when y ≥ ȳ,
//         else at ā (overlapping windows add up); m_in = C/(z − z̄) where |z − z̄| ≥ 1e-10, else the
//         ordinary max-pool gradient (m_out at a);
//       * every other node (linear and affine maps, reshapes): its ordinary backward;
//   - attribution (x − x̄) ⊙ m at the input (at the embedding output for token models, summed over d).
// The routing of C uses the layer's own backward on each tape: the actual tape's backward sends a window's
// value to a, the baseline tape's to ā, so no pooling internals are needed here. Every sample is computed
// from its own rows (the baseline tape has the batch's shape), so results do not depend on the batch.
// Summation to delta: Σ attribution = f_K(x) − f_K(x̄) for networks built from these nodes.
// --rule reveal-cancel: the RevealCancel rule (§3.5.3) at every nonlinearity that a linear node alone feeds
// (deeplift_reveal_cancel.cpp); other nonlinearities keep the rescale rule. Summation to delta still holds.
#include <cmath>
#include <string>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/baseline.h"
#include "explain/deeplift.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

constexpr double kMinDelta = 1e-10;

// The element-wise nonlinearities the rescale rule applies to: those of the reference (Captum's DeepLift
// "nonlinear" rule). Any other layer (GELU included) uses its ordinary gradient.
bool is_rescale_kind(const std::string& kind) {
  return kind == "ReLU" || kind == "Sigmoid" || kind == "Tanh" || kind == "LeakyReLU" || kind == "ELU" ||
         kind == "Softplus";
}

// where(|dz| > 1e-10, num / dz, fallback), element-wise; all tensors of one shape and dtype. (|dz| − 1e-10
// rounds to 0 only when |dz| equals the threshold in the dtype, so Step gives [|dz| > 1e-10] exactly; at
// exact equality the fallback is taken, where a host loop once divided.)
Tensor divide_or_fallback(const Tensor& num, const Tensor& dz, const Tensor& fallback) {
  const Tensor big = ops::unary(ops::Unary::Step, ops::add_scalar(ops::unary(ops::Unary::Abs, dz), -kMinDelta));
  return ops::where(big, ops::div(num, dz), fallback);
}

// The mask [y ≥ ȳ] as 0/1 of the same dtype: 1 − [ȳ − y > 0] (a difference of two floats is 0 only when
// they are equal, so this is exact).
Tensor greater_equal(const Tensor& y, const Tensor& yb) {
  return ops::add_scalar(ops::scale(ops::unary(ops::Unary::Step, ops::sub(yb, y)), -1.0), 1.0);
}

}  // namespace

DeepLiftRule parse_deeplift_rule(const std::string& text) {
  if (text.empty() || text == "rescale") return DeepLiftRule::Rescale;
  if (text == "reveal-cancel") return DeepLiftRule::RevealCancel;
  throw Error("--rule '" + text + "': deeplift takes rescale or reveal-cancel");
}

Tensor deeplift_multipliers(const Model& model, const Tape& tape, const Tape& btape,
                            const std::vector<int64_t>& targets, int value_id, DeepLiftRule rule) {
  const Tensor& logits = tape_logits(model, tape);
  const Tensor seed = ops::one_hot(target_tensor(targets, logits.device()), logits.dim(1), logits.dtype());

  // RevealCancel pairs: partner[k] = the nonlinearity a linear node k alone feeds (-1: none); such a
  // nonlinearity passes m_y through unchanged and its linear node applies the rule to both at once.
  const int num_nodes = static_cast<int>(model.nodes().size());
  std::vector<int> partner(num_nodes, -1);
  std::vector<char> paired(num_nodes, 0);
  if (rule == DeepLiftRule::RevealCancel)
    for (int k = 0; k < num_nodes; ++k)
      if ((partner[k] = reveal_cancel_partner(model, k)) >= 0) paired[partner[k]] = 1;

  const BackwardOptions plain{};
  auto node_rule = [&](int k, const std::vector<Tensor>& m_out) -> std::vector<Tensor> {
    const Node& node = model.nodes()[k];
    if (paired[k]) return {m_out.at(0)};
    if (partner[k] >= 0 && m_out.at(0).defined())
      return {reveal_cancel_multipliers(model, k, partner[k], tape, btape, m_out[0])};
    const std::string kind = node.layer->kind();
    const bool rescale = is_rescale_kind(kind);
    const bool maxpool = kind.rfind("MaxPool", 0) == 0;
    if ((!rescale && !maxpool) || node.inputs.size() != 1 || node.outputs.size() != 1 || !m_out.at(0).defined())
      return node.layer->backward(m_out, tape.saved[k], plain);
    const Tensor& z = tape.values[node.inputs[0]];
    const Tensor& zb = btape.values[node.inputs[0]];
    const Tensor& y = tape.values[node.outputs[0]];
    const Tensor& yb = btape.values[node.outputs[0]];
    const Tensor dz = ops::sub(z, zb);
    const Tensor fallback = node.layer->backward(m_out, tape.saved[k], plain).at(0);
    if (rescale) return {divide_or_fallback(ops::mul(m_out[0], ops::sub(y, yb)), dz, fallback)};
    // MaxPool: route m_out·(y − ȳ) to the actual arg-max where y ≥ ȳ, to the baseline's otherwise.
    const Tensor contrib = ops::mul(m_out[0], ops::sub(y, yb));
    const Tensor take_actual = greater_equal(y, yb);
    const Tensor to_actual = ops::mul(contrib, take_actual);
    const Tensor to_base = ops::sub(contrib, to_actual);
    Tensor C = node.layer->backward({to_actual}, tape.saved[k], plain).at(0);
    C = ops::add(C, node.layer->backward({to_base}, btape.saved[k], plain).at(0));
    return {divide_or_fallback(C, dz, fallback)};
  };
  std::vector<Tensor> m = model.reverse_walk(tape, {{logits_id(model), seed}}, node_rule);
  const Tensor& v = tape.values.at(value_id);
  return m.at(value_id).defined() ? m[value_id] : Tensor(v.shape(), v.dtype(), v.device());
}

Tensor deeplift_attribution(const Model& model, const Tensor& x, const Tensor& base,
                            const std::vector<int64_t>& targets, DeepLiftRule rule) {
  const Point point = attribution_point(model, x);
  const Tape tape = model.forward({x});
  const Tensor e = tape.values.at(point.value_id);
  if (base.shape() != e.shape())
    throw Error("deeplift: baseline of shape " + shape_str(base.shape()) + " for a value of shape " +
                shape_str(e.shape()));
  const Tape btape = forward_at(model, point, x, base);
  const Tensor mult = deeplift_multipliers(model, tape, btape, targets, point.value_id, rule);
  return finish_attribution(point, ops::mul(ops::sub(e, base), mult));
}

namespace {

Attribution deeplift(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const Point point = attribution_point(model, x);
  const Tensor e = point.tokens ? model.forward({x}).values.at(point.value_id) : x;
  const Tensor base = baseline_for(req.options, e);
  const DeepLiftRule rule = parse_deeplift_rule(req.options.get("rule", ""));
  return {deeplift_attribution(model, x, base, req.targets, rule), "deeplift", req.options.values, 0};
}

MethodRegistration reg{{"deeplift",
                        "DeepLIFT rescale rule against a baseline (Shrikumar et al. 2017)",
                        {baseline_option("0", "baseline: a number (constant) or a .npy file of the input's shape"),
                         {"rule", "",
                          "deeplift: rescale (default) or reveal-cancel; lrp: the rule of every layer (epsilon, "
                          "zplus, gamma, alpha-beta)",
                          "NAME"}},
                        deeplift}};

}  // namespace
}  // namespace xdnn::explain
