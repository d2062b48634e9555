// SVCCA's defining invariance (Raghu et al. 2017 §2: CCA is invariant to invertible linear maps) and the
// convergence over checkpoints (explain/global/svcca_convergence.h): a layer whose checkpoint state is an
// invertible linear map of its final state has similarity 1, an unrelated one less; a checkpoint of another
// architecture is a one-line error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/error.h"
#include "engine/random.h"
#include "explain/global/svcca_convergence.h"
#include "explain/svcca.h"
#include "model_fixtures.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;
namespace fs = std::filesystem;

namespace {

Tensor random_tensor(Shape shape, Rng& rng) {
  Tensor t(shape, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = rng.normal();
  return t;
}

// M = I + 0.3·G, G standard normal (F, F): invertible with probability 1, and far from orthogonal.
std::vector<double> mixing_matrix(int64_t F, Rng& rng) {
  std::vector<double> m(static_cast<size_t>(F * F));
  for (int64_t i = 0; i < F; ++i)
    for (int64_t j = 0; j < F; ++j) m[i * F + j] = (i == j ? 1.0 : 0.0) + 0.3 * rng.normal();
  return m;
}

}  // namespace

TEST_CASE("svcca: a layer against an invertible linear map of itself gives all ones") {
  Rng rng(11);
  const int64_t N = 120, F = 7;
  const Tensor a = random_tensor({N, F}, rng);
  const std::vector<double> m = mixing_matrix(F, rng);
  Tensor b({N, F}, DType::F64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < F; ++j) {
      double v = 5.0 * j;  // a translation too: SVCCA centres the neurons
      for (int64_t i = 0; i < F; ++i) v += a.data<double>()[n * F + i] * m[i * F + j];
      b.data<double>()[n * F + j] = v;
    }
  const SvccaResult r = svcca(a, b, 1.0);
  REQUIRE(r.correlations.size() == static_cast<size_t>(F));
  for (double rho : r.correlations) CHECK(rho == doctest::Approx(1.0).epsilon(1e-10));
  // Control: an unrelated layer of the same size is not all ones.
  const SvccaResult other = svcca(a, random_tensor({N, F}, rng), 1.0);
  CHECK(other.correlations.back() < 0.9);

  // Convolutional layout (N, C, h, w): channels mixed by M at every position.
  const int64_t C = 3, hw = 4;
  const Tensor x = random_tensor({10, C, 2, 2}, rng);
  const std::vector<double> mc = mixing_matrix(C, rng);
  Tensor y({10, C, 2, 2}, DType::F64);
  for (int64_t n = 0; n < 10; ++n)
    for (int64_t j = 0; j < C; ++j)
      for (int64_t q = 0; q < hw; ++q) {
        double v = 0.0;
        for (int64_t i = 0; i < C; ++i) v += x.data<double>()[(n * C + i) * hw + q] * mc[i * C + j];
        y.data<double>()[(n * C + j) * hw + q] = v;
      }
  for (double rho : svcca(x, y, 1.0).correlations) CHECK(rho == doctest::Approx(1.0).epsilon(1e-10));
}

TEST_CASE("svcca convergence: a checkpoint that is a linear map of the final layer scores 1, another less") {
  const int64_t D = 12, H = 6, C = 3;
  Rng r1(5), r2(5), r3(99), rx(3);
  Model final_model = testing::mlp_f64(r1, "x", D, H, C);
  Model mapped = testing::mlp_f64(r2, "x", D, H, C);  // the same weights, then fc1 ← M·fc1
  Model unrelated = testing::mlp_f64(r3, "x", D, H, C);
  const std::vector<double> m = mixing_matrix(H, rx);
  for (const std::string name : {"fc1.weight", "fc1.bias"}) {
    Param* p = mapped.find_param(name);
    REQUIRE(p != nullptr);
    const int64_t cols = p->value.numel() / H;
    const Tensor w = p->value.to(DType::F64);
    for (int64_t i = 0; i < H; ++i)
      for (int64_t c = 0; c < cols; ++c) {
        double v = 0.0;
        for (int64_t k = 0; k < H; ++k) v += m[i * H + k] * w.data<double>()[k * cols + c];
        p->value.data<double>()[i * cols + c] = v;
      }
  }
  const Tensor x = random_tensor({80, D}, rx);
  const SvccaConvergence c =
      svcca_convergence({&unrelated, &mapped, &final_model}, {"early", "mapped", "final"}, x, {"fc1", "fc2"}, 1.0);
  REQUIRE(c.similarity.size() == 2);
  CHECK(c.similarity[0][1] == doctest::Approx(1.0).epsilon(1e-10));  // fc1 of `mapped`: M·(final fc1)
  CHECK(c.similarity[0][0] < 0.95);                                  // fc1 of an unrelated init
  CHECK(c.similarity[0][2] == doctest::Approx(1.0).epsilon(1e-10));  // the final state itself
  CHECK(c.similarity[1][2] == doctest::Approx(1.0).epsilon(1e-10));
  CHECK(c.kept[0][1] == H);
  CHECK_NOTHROW(plot_svcca_convergence(c));
}

TEST_CASE("svcca convergence: checkpoint files; one of another architecture is a one-line error") {
  const fs::path dir = fs::temp_directory_path() / ("xdnn_test_svcca_conv_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto save = [&](const std::string& arch, uint64_t seed) {
    Model m = build_zoo_model(arch, seed);
    const std::string path = (dir / (arch + "-" + std::to_string(seed) + ".safetensors")).string();
    save_checkpoint(path, m, {{"format", "xdnn-checkpoint-1"}, {"architecture", arch}});
    return path;
  };
  const std::string a = save("fashion-mlp", 1), b = save("fashion-mlp", 2), cnn = save("fashion-cnn", 1);
  Rng rng(4);
  Tensor x({40, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(rng.uniform());
  const SvccaConvergence c =
      svcca_convergence_of_files({a, b}, x, parameter_layer_outputs(build_zoo_model("fashion-mlp")), 0.99);
  REQUIRE(c.layers == std::vector<std::string>{"fc1", "fc2"});
  for (size_t l = 0; l < 2; ++l) {
    CHECK(c.similarity[l][1] == doctest::Approx(1.0).epsilon(1e-9));
    CHECK(c.similarity[l][0] < 0.999);
  }
  CHECK_THROWS_WITH_AS(svcca_convergence_of_files({cnn, a, b}, x, {"fc1"}, 0.99),
                       doctest::Contains("is not of the final checkpoint's architecture"), Error);
  CHECK_THROWS_WITH_AS(svcca_convergence_of_files({b}, x, {"fc1"}, 0.99), doctest::Contains("at least 2 checkpoints"),
                       Error);
  CHECK_THROWS_WITH_AS(svcca_convergence_of_files({a, b}, x, {"nope"}, 0.99), doctest::Contains("nope"), Error);
  fs::remove_all(dir);
}
