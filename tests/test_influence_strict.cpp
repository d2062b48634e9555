// Influence methods on Device::Strict (issue 17, items 2 and 4): memory host code may not read, the CPU's
// kernels. Every method (TracIn over all parameters, the last layer and a projection; Grad-Dot, Grad-Cos,
// self-influence; influence functions over the last layer and all parameters, by CG and by LiSSA) must give
// the CPU's bits on the strict device, and any host read of strict memory on the way throws, naming the
// file and line that read it. The last-layer factored route (factored_scores.cpp) computes through
// engine/ops_influence.h, so a device takes it too, with the CPU's bits; the generic route (factored = false)
// is checked on the device as well.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "explain/influence/influence.h"
#include "layers/registry.h"
#include "tests/influence_fixtures.h"

using namespace xdnn;
using namespace xdnn::influence;
using namespace xdnn::testing;

namespace {

// The same problem (three float64 MLP checkpoints, 11 train and 4 test examples) on `device`.
Problem problem_on(Device device) {
  Problem p = make_problem(11, 4);
  for (auto& m : p.models) m.to(device);
  for (Tensor* t : {&p.data.train_x, &p.data.train_y, &p.data.test_x, &p.data.test_y}) *t = t->to(device);
  return p;
}

struct Run {
  std::string name;
  std::function<Tensor(Problem&)> method;
};

// Each run on the CPU and on Strict: the strict result lives on Strict and has the CPU's bits, and the scores
// are not an empty or all-zero result.
void check_same_bits(const std::vector<Run>& runs, Problem& cpu, Problem& strict) {
  for (const Run& run : runs) {
    CAPTURE(run.name);
    const Tensor want = run.method(cpu);
    const Tensor got = run.method(strict);
    CHECK(got.device() == Device::Strict);
    CHECK(bitwise_equal(want, got));
    CHECK(ops::sum_all(ops::unary(ops::Unary::Abs, want)) > 0);
  }
}

}  // namespace

TEST_CASE("influence on the strict device: every method and route gives the CPU's bits (MLP, float64)") {
  const std::vector<double> lrs = {0.1, 0.2, 0.3};
  InfluenceOptions base;
  base.chunk = 4;  // several training chunks: S is assembled from column blocks
  auto with = [&](const std::function<void(InfluenceOptions&)>& set) {
    InfluenceOptions o = base;
    set(o);
    return o;
  };
  const InfluenceOptions all = base;
  const InfluenceOptions last = with([](InfluenceOptions& o) {
    o.params = ParamSet::LastLayer;
    o.factored = false;  // the generic route (per-example factors as GEMMs)
  });
  const InfluenceOptions projected = with([](InfluenceOptions& o) {
    o.projection = 7;
    o.seed = 5;
  });
  const InfluenceOptions cg_last = with([](InfluenceOptions& o) {
    o.params = ParamSet::LastLayer;
    o.cg_tolerance = 1e-12;
  });
  const InfluenceOptions cg_all = with([](InfluenceOptions& o) {
    o.damping = 5;  // the MLP's Hessian is indefinite: damped into a positive definite one
    o.cg_tolerance = 1e-12;
  });
  auto lissa_of = [&](const InfluenceOptions& o) {
    InfluenceOptions l = o;
    l.solver = "lissa";
    l.lissa.depth = 20;
    l.lissa.batch = 4;  // seeded mini-batches: the rows are gathered on the device
    l.lissa.scale = 50;
    l.lissa.seed = 9;
    return l;
  };
  const std::vector<Run> runs = {
      {"tracin all", [&](Problem& p) { return tracin(p.ptrs, lrs, p.data, all); }},
      {"tracin last-layer", [&](Problem& p) { return tracin(p.ptrs, lrs, p.data, last); }},
      {"tracin projected", [&](Problem& p) { return tracin(p.ptrs, lrs, p.data, projected); }},
      {"grad-dot", [&](Problem& p) { return grad_dot(p.ptrs, p.data, all); }},
      {"grad-cos", [&](Problem& p) { return grad_cos(p.ptrs, p.data, all); }},
      {"grad-cos last-layer", [&](Problem& p) { return grad_cos(p.ptrs, p.data, last); }},
      {"self-influence", [&](Problem& p) { return self_influence(p.ptrs, lrs, p.data, all); }},
      {"self-influence projected", [&](Problem& p) { return self_influence(p.ptrs, lrs, p.data, projected); }},
      {"influence-function last-layer cg", [&](Problem& p) { return influence_function(p.ptrs, p.data, cg_last); }},
      {"influence-function all cg", [&](Problem& p) { return influence_function(p.ptrs, p.data, cg_all); }},
      {"influence-function last-layer lissa",
       [&](Problem& p) { return influence_function(p.ptrs, p.data, lissa_of(cg_last)); }},
      {"influence-function all lissa",
       [&](Problem& p) { return influence_function(p.ptrs, p.data, lissa_of(cg_all)); }},
  };
  Problem cpu = problem_on(Device::CPU), strict = problem_on(Device::Strict);
  check_same_bits(runs, cpu, strict);
}

TEST_CASE("influence on the strict device: the factored last-layer route gives the CPU's bits (MLP, float64)") {
  const std::vector<double> lrs = {0.1, 0.2, 0.3};
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;  // the factored route, on both devices
  opt.chunk = 4;
  Problem cpu = problem_on(Device::CPU), strict = problem_on(Device::Strict);
  const std::vector<Run> runs = {
      {"tracin", [&](Problem& p) { return tracin(p.ptrs, lrs, p.data, opt); }},
      {"grad-dot", [&](Problem& p) { return grad_dot(p.ptrs, p.data, opt); }},
      {"grad-cos", [&](Problem& p) { return grad_cos(p.ptrs, p.data, opt); }},
      {"self-influence", [&](Problem& p) { return self_influence(p.ptrs, lrs, p.data, opt); }},
  };
  check_same_bits(runs, cpu, strict);
  // The route taken is the factored one: a direct call gives the same bits on the device.
  Progress quiet("", 1, false);
  CHECK(bitwise_equal(tracin(cpu.ptrs, lrs, cpu.data, opt),
                      factored_scores(strict.ptrs, lrs, strict.data, false, quiet)));
  CHECK(bitwise_equal(self_influence(cpu.ptrs, lrs, cpu.data, opt),
                      factored_self_influence(strict.ptrs, lrs, strict.data, quiet)));
}
