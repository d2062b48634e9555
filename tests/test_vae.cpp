// The VAE generator prior (explain/global/vae.h): the loss's parameter gradients against float64 finite
// differences, training on a tiny subset lowers the loss, the decoder file round-trips, and activation
// maximisation through the decoder's latent raises its target with pictures the decoder draws.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "engine/error.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/global/activation_max.h"
#include "explain/global/vae.h"
#include "models/io/fashion_mnist.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;

TEST_CASE("vae: the loss's parameter gradients match float64 finite differences") {
  Rng rng(4);
  Vae vae = build_vae({1, 3, 4}, 2, 5, rng);
  vae.encoder.to(DType::F64);
  vae.decoder.to(DType::F64);
  Tensor x({3, 1, 3, 4}, DType::F64), eps({3, 2}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = rng.uniform();
  for (int64_t i = 0; i < eps.numel(); ++i) eps.data<double>()[i] = rng.normal();
  std::vector<Param*> params = vae.encoder.params();
  for (Param* p : vae.decoder.params()) params.push_back(p);
  for (Param* p : params) p->grad = Tensor();
  vae_loss(vae, x, eps, true);
  for (Param* p : params) {
    REQUIRE(p->grad.defined());
    for (int64_t i = 0; i < p->value.numel(); i += 3) {
      const double h = 1e-6, keep = p->value.data<double>()[i];
      p->value.data<double>()[i] = keep + h;
      const double up = vae_loss(vae, x, eps, false);
      p->value.data<double>()[i] = keep - h;
      const double down = vae_loss(vae, x, eps, false);
      p->value.data<double>()[i] = keep;
      const double fd = (up - down) / (2 * h), g = p->grad.data<double>()[i];
      INFO(p->name << "[" << i << "]: backward " << g << ", finite differences " << fd);
      CHECK(std::abs(fd - g) <= 1e-6 * (1 + std::abs(g)));
    }
  }
}

TEST_CASE("vae: training on 256 Fashion-MNIST images lowers the loss; the decoder file round-trips") {
  const LabeledImages train = load_fashion_mnist("train", "", 256);
  VaeConfig cfg;
  cfg.latent = 4;
  cfg.hidden = 64;
  cfg.epochs = 4;
  cfg.batch_size = 32;
  cfg.lr = 3e-3;
  Rng rng(1);
  Vae vae = build_vae({1, 28, 28}, cfg.latent, cfg.hidden, rng);
  const std::vector<double> losses = train_vae(vae, train.images, cfg);
  REQUIRE(losses.size() == 4);
  CHECK(losses.back() < 0.75 * losses.front());  // from ~543 nats (uniform pixels) towards the data's ~300

  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("xdnn_test_vae_" + std::to_string(::getpid()) + ".safetensors");
  save_vae_decoder(path.string(), vae, {{"epochs", "4"}});
  Shape shape;
  const Model loaded = load_vae_decoder(path.string(), &shape);
  CHECK(shape == Shape{1, 28, 28});
  CHECK(loaded.input_shape == Shape{4});
  Tensor z({2, 4}, DType::F32);
  for (int64_t i = 0; i < z.numel(); ++i) z.data<float>()[i] = static_cast<float>(rng.normal());
  const Tensor a = vae.decoder.predict(z), b = loaded.predict(z);
  bool same = a.numel() == b.numel();
  for (int64_t i = 0; same && i < a.numel(); ++i) same = a.data<float>()[i] == b.data<float>()[i];
  CHECK(same);

  // Activation maximisation through the decoder: the pictures are the decoder's, the target goes up.
  Model cnn = build_zoo_model("fashion-cnn", 2);
  VisualizeTarget t;
  t.units = {1, 8};
  VisualizeSettings s;
  s.steps = 40;
  s.lr = 0.1;
  s.l2 = 0;  // J = a_u: the ascent must raise the activation itself
  const VisualizeResult r = visualize(cnn, {1, 28, 28}, t, s, &loaded);
  for (size_t u = 0; u < t.units.size(); ++u) CHECK(r.activation[u] > r.start[u]);
  bool inside = true;
  for (int64_t i = 0; i < r.images.numel(); ++i) inside = inside && r.images.item(i) > 0 && r.images.item(i) < 1;
  CHECK(inside);

  // Not a decoder: a classifier checkpoint.
  save_checkpoint(path.string(), cnn, {{"format", "xdnn-checkpoint-1"}});
  CHECK_THROWS_WITH_AS(load_vae_decoder(path.string(), nullptr),
                       doctest::Contains("format 'xdnn-checkpoint-1' is not a VAE decoder"), Error);
  std::filesystem::remove(path);
}

TEST_CASE("vae: training is the same bits for 1 and 2 threads") {
  const LabeledImages train = load_fashion_mnist("train", "", 64);
  VaeConfig cfg;
  cfg.latent = 3;
  cfg.hidden = 16;
  cfg.epochs = 2;
  cfg.batch_size = 16;
  auto run = [&](int threads) {
    set_num_threads(threads);
    Rng rng(5);
    Vae vae = build_vae({1, 28, 28}, cfg.latent, cfg.hidden, rng);
    train_vae(vae, train.images, cfg);
    return vae;
  };
  const int saved = num_threads();
  Vae one = run(1), two = run(2);
  set_num_threads(saved);
  bool same = true;
  const std::vector<Param*> a = one.decoder.params(), b = two.decoder.params();
  for (size_t k = 0; k < a.size(); ++k)
    for (int64_t i = 0; i < a[k]->value.numel(); ++i)
      same = same && a[k]->value.data<float>()[i] == b[k]->value.data<float>()[i];
  CHECK(same);
}

TEST_CASE("vae: training on the Strict device gives the CPU's parameters and losses, same bytes") {
  // The reparameterisation, the ELBO's gradients and Adam run through ops:: on the networks' device.
  Rng data_rng(8);
  std::vector<double> pixels(20 * 1 * 6 * 5);
  for (double& p : pixels) p = data_rng.uniform();
  const Tensor images = Tensor::from_vector({20, 1, 6, 5}, pixels).to(DType::F32);
  VaeConfig cfg;
  cfg.latent = 2;
  cfg.hidden = 7;
  cfg.epochs = 2;
  cfg.batch_size = 8;  // batches of 8, 8, 4
  cfg.lr = 1e-2;
  auto train = [&](Device device, std::vector<double>& losses) {
    Rng rng(3);
    Vae vae = build_vae({1, 6, 5}, cfg.latent, cfg.hidden, rng);
    vae.encoder.to(device);
    vae.decoder.to(device);
    losses = train_vae(vae, images, cfg);
    return vae;
  };
  std::vector<double> cpu_losses, strict_losses;
  Vae cpu = train(Device::CPU, cpu_losses), strict = train(Device::Strict, strict_losses);
  CHECK(strict_losses == cpu_losses);
  for (Model* m : {&cpu.encoder, &cpu.decoder}) {
    const std::vector<Param*> a = m->params();
    const std::vector<Param*> b = (m == &cpu.encoder ? strict.encoder : strict.decoder).params();
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      INFO(a[k]->name);
      CHECK(b[k]->value.device() == Device::Strict);
      CHECK(bitwise_equal(b[k]->value, a[k]->value));
    }
  }
}
