// SLIC superpixels (explain/slic.h) as feature groups: connected, pure on a two-colour image, and one set of
// groups per sample when a method runs with --feature-mask slic:K.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "explain/slic.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using namespace xdnn::testing;

TEST_CASE("SLIC superpixels: connected, pure on a two-colour image, per-sample groups in the methods") {
  // (1, 16, 16): columns 0..6 dark, 7..15 bright. Every superpixel must lie on one side of the edge.
  Tensor img({1, 16, 16}, DType::F64);
  for (int64_t i = 0; i < 256; ++i) img.set_item(i, i % 16 < 7 ? 0.1 : 0.9);
  const Tensor labels = slic_labels(img, 8, 0.1);
  REQUIRE(labels.shape() == Shape{16, 16});
  const int64_t* l = labels.data<int64_t>();
  const int64_t G = *std::max_element(l, l + 256) + 1;
  CHECK(G >= 4);
  CHECK(G <= 16);
  std::vector<int> side(G, -1), seen(G, 0);
  for (int64_t i = 0; i < 256; ++i) {
    const int s = i % 16 < 7 ? 0 : 1;
    if (side[l[i]] < 0) side[l[i]] = s;
    CHECK(side[l[i]] == s);
    seen[l[i]] = 1;
  }
  for (int64_t g = 0; g < G; ++g) CHECK(seen[g] == 1);
  // Each label is one 4-connected region: flood fill from its first pixel reaches all of its pixels.
  for (int64_t g = 0; g < G; ++g) {
    std::vector<char> mark(256, 0);
    std::vector<int64_t> stack{static_cast<int64_t>(std::find(l, l + 256, g) - l)};
    mark[stack[0]] = 1;
    int64_t reached = 0;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++reached;
      const int64_t y = p / 16, x = p % 16;
      for (int64_t q : {x > 0 ? p - 1 : -1, x < 15 ? p + 1 : -1, y > 0 ? p - 16 : -1, y < 15 ? p + 16 : -1})
        if (q >= 0 && !mark[q] && l[q] == g) mark[q] = 1, stack.push_back(q);
    }
    CHECK(reached == std::count(l, l + 256, g));
  }
  // Same image, same labels (deterministic).
  const Tensor again = slic_labels(img, 8, 0.1);
  CHECK(std::equal(l, l + 256, again.data<int64_t>()));

  // LIME with superpixels on a batch of two different images: each sample gets its own groups, and its
  // attribution is constant on each of them.
  Rng rng(40);
  const Model lin = linear_model(
      [&] {
        std::vector<double> w(256);
        for (double& v : w) v = rng.uniform(-1, 1);
        return w;
      }(),
      0.0);
  Tensor x({2, 1, 16, 16}, DType::F64);
  x.slice_batch(0, 1).copy_from(img.reshape({1, 1, 16, 16}));
  for (int64_t i = 0; i < 256; ++i) x.set_item(256 + i, (i / 16) < 9 ? 0.8 : 0.2);  // a horizontal edge
  const Attribution a =
      run("lime", lin, x, {0, 0}, {{"feature-mask", "slic:8"}, {"samples", "300"}, {"ridge", "1e-6"}});
  CHECK(a.parameters.at("intercept").find(',') != std::string::npos);  // one surrogate per sample
  for (int64_t n = 0; n < 2; ++n) {
    const Tensor lab = slic_labels(x.slice_batch(n, n + 1).reshape({1, 16, 16}), 8, 0.1);
    int64_t differ = 0;
    for (int64_t i = 0; i < 256; ++i)
      for (int64_t j = i + 1; j < 256; ++j)
        differ += lab.data<int64_t>()[i] == lab.data<int64_t>()[j] &&
                  a.values.item(n * 256 + i) != a.values.item(n * 256 + j);
    CHECK(differ == 0);
  }
}
