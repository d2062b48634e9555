// LRP on frozen convolutions (Layer::freeze): a frozen Conv2d keeps W⁺ and W⁻ for the sign-split rules, and the
// flipped forms of W, W⁺ and W⁻ that its input gradient reads (layers/conv2d.h). Checked here:
//   - every composite gives the unfrozen bits on every pass, float64 (a test CNN) and float32 (fashion-cnn),
//     while the kept forms are built (W⁺ at the first pass, its flipped form by the kFlipAtPass-th);
//   - the kept forms are what they stand for (max(W, 0), min(W, 0), conv2d_flipped_weights of them), and the
//     layer hands out the same tensor each time;
//   - what an LRP pass reads of the layers (rules_for: names through read_params) does not unfreeze them;
//     params() does, and new weights are then read, never the kept ones;
//   - an unfrozen layer builds W⁺ per call and keeps nothing;
//   - concurrent callers of a frozen layer all end on one kept W⁺ and get the unfrozen bits.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "engine/ops.h"
#include "explain/lrp/lrp.h"
#include "layers/conv2d.h"
#include "models/zoo.h"
#include "tests/lrp_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain::lrp;

namespace {

// The stride-1, one-group, larger-than-1x1 convolutions of m: the ones whose input gradient reads flipped forms.
std::vector<Conv2d*> flippable_convs(Model& m) {
  std::vector<Conv2d*> out;
  for (const Node& n : m.nodes())
    if (auto* c = dynamic_cast<Conv2d*>(n.layer.get()))
      if (c->geometry().groups == 1 && c->geometry().stride_h == 1 && c->geometry().stride_w == 1 &&
          c->weight().dim(2) * c->weight().dim(3) > 1)
        out.push_back(c);
  return out;
}

Tensor lrp(const Model& m, const Tensor& x, const std::string& composite) {
  LrpConfig cfg;
  cfg.composite = composite;
  LrpQuery q;
  for (int64_t n = 0; n < x.dim(0); ++n) q.targets.push_back(n % 3);
  return lrp_attribution(m, x, cfg, q);
}

}  // namespace

TEST_CASE("LRP on frozen convolutions: the unfrozen bits while W⁺, W⁻ and their flipped forms are kept") {
  Rng rng(91);
  struct Subject {
    std::string what;
    Model model;
    Tensor x;
  };
  std::vector<Subject> subjects;
  subjects.push_back({"test CNN, float64", lrp_test::make_cnn(rng, true), random_tensor({4, 1, 8, 8}, rng, 0, 1)});
  subjects.push_back({"fashion-cnn, float32", build_zoo_model("fashion-cnn", 3),
                      random_tensor({3, 1, 28, 28}, rng, 0, 1).to(DType::F32)});
  for (Subject& s : subjects)
    for (const std::string composite : {"epsilon-plus", "epsilon-gamma-box", "epsilon-alpha2-beta1"}) {
      CAPTURE(s.what);
      CAPTURE(composite);
      const std::vector<Conv2d*> convs = flippable_convs(s.model);
      REQUIRE(convs.size() >= 1);
      const Tensor unfrozen = lrp(s.model, s.x, composite);
      for (Conv2d* c : convs) CHECK_FALSE(c->flipped_weights(Conv2d::WeightForm::Positive).defined());
      s.model.freeze();
      for (int pass = 1; pass <= Conv2d::kFlipAtPass + 1; ++pass)
        CHECK(bitwise_equal(lrp(s.model, s.x, composite), unfrozen));
      // Every composite here runs W⁺ through the input gradient of each 3x3 layer (zplus, alpha-beta, gamma).
      for (Conv2d* c : convs) {
        const Tensor wp = c->weight_positive_part(), wn = c->weight_negative_part();
        CHECK(bitwise_equal(wp, ops::unary(ops::Unary::PositivePart, c->weight())));
        CHECK(bitwise_equal(wn, ops::unary(ops::Unary::NegativePart, c->weight())));
        CHECK(wp.raw_data() == c->weight_positive_part().raw_data());  // kept: the same tensor each time
        const Tensor flipped = c->flipped_weights(Conv2d::WeightForm::Positive);
        REQUIRE(flipped.defined());
        CHECK(bitwise_equal(flipped, ops::conv2d_flipped_weights(wp)));
      }
      // params() (what training and loading change the weights through) drops everything kept; the new
      // weights are read from then on, frozen again or not.
      const std::vector<Param*> ps = s.model.params();
      for (Conv2d* c : convs) {
        CHECK_FALSE(c->flipped_weights(Conv2d::WeightForm::Positive).defined());
        CHECK_FALSE(c->flipped_weights(Conv2d::WeightForm::Plain).defined());
      }
      for (Param* p : ps) p->value.copy_from(ops::scale(p->value, 1.5));
      const Tensor changed = lrp(s.model, s.x, composite);
      CHECK_FALSE(bitwise_equal(changed, unfrozen));
      for (Conv2d* c : convs) {
        const Tensor wp = c->weight_positive_part();
        CHECK(bitwise_equal(wp, ops::unary(ops::Unary::PositivePart, c->weight())));
        CHECK(wp.raw_data() != c->weight_positive_part().raw_data());  // unfrozen: built per call
      }
      s.model.freeze();
      for (int pass = 1; pass <= Conv2d::kFlipAtPass + 1; ++pass)
        CHECK(bitwise_equal(lrp(s.model, s.x, composite), changed));
      for (Param* p : s.model.params()) p->value.copy_from(ops::scale(p->value, 1.0 / 1.5));  // the next composite
    }
}

TEST_CASE("read_params names a frozen convolution's parameters without unfreezing it") {
  Rng rng(92);
  Conv2d conv("c", 3, 5, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  conv.init(rng);
  const Tensor x = random_tensor({2, 3, 5, 5}, rng);
  Saved saved;
  const Tensor y = conv.forward({x}, saved, {}).at(0);
  const Tensor gy = random_tensor(y.shape(), rng);
  conv.freeze();
  const Tensor wp = conv.weight_positive_part();
  for (int pass = 1; pass <= Conv2d::kFlipAtPass; ++pass) conv.backward({gy}, saved, {});
  REQUIRE(conv.flipped_weights().defined());
  const std::vector<const Param*> read = conv.read_params();
  REQUIRE(read.size() == 2);
  CHECK(read[0]->name == "c.weight");
  CHECK(read[1]->name == "c.bias");
  CHECK(conv.flipped_weights().defined());
  CHECK(wp.raw_data() == conv.weight_positive_part().raw_data());
  conv.params();
  CHECK_FALSE(conv.flipped_weights().defined());
}

TEST_CASE("a frozen convolution's kept forms under concurrent callers: one kept tensor, the unfrozen bits") {
  Rng rng(93);
  Conv2d conv("c", 8, 12, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  conv.init(rng);
  const Tensor s = random_tensor({2, 12, 6, 6}, rng).to(DType::F32);
  const Shape x_shape = {2, 8, 6, 6};
  const Tensor wp_ref = ops::unary(ops::Unary::PositivePart, conv.weight());
  const Tensor want = ops::conv2d_backward_input(s, wp_ref, x_shape, conv.geometry());
  conv.freeze();
  constexpr int kThreads = 4, kCalls = 2 * Conv2d::kFlipAtPass;
  std::vector<std::vector<Tensor>> got(kThreads);
  std::vector<const void*> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int call = 0; call < kCalls; ++call) {
        const Tensor wp = conv.weight_positive_part();
        kept[t] = wp.raw_data();
        got[t].push_back(conv.linear_backward_input(s, wp, x_shape));
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    CHECK(kept[t] == conv.weight_positive_part().raw_data());  // every caller ended on the one kept tensor
    for (const Tensor& g : got[t]) CHECK(bitwise_equal(g, want));
  }
  CHECK(conv.flipped_weights(Conv2d::WeightForm::Positive).defined());
}
