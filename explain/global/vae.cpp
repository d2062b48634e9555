// The VAE generator prior: see vae.h for the networks, the loss and its gradients.
#include "explain/global/vae.h"

#include <cmath>
#include <memory>
#include <numeric>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/sigmoid.h"
#include "models/train/checkpoint.h"
#include "models/train/optim.h"

namespace xdnn::explain {
namespace {

constexpr const char* kFormat = "xdnn-vae-decoder-1";

std::shared_ptr<Linear> linear(const std::string& name, int64_t in, int64_t out, Rng& rng) {
  auto l = std::make_shared<Linear>(name, in, out);
  l->init(rng);
  return l;
}

int64_t product(const Shape& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
  return p;
}

std::string shape_text(const Shape& s) {
  std::string t;
  for (int64_t d : s) {
    if (!t.empty()) t += ',';
    t += std::to_string(d);
  }
  return t;
}

}  // namespace

Vae build_vae(const Shape& image_shape, int64_t latent, int64_t hidden, Rng& rng) {
  check(latent >= 1 && latent <= 1024 && hidden >= 1 && hidden <= 65536,
        "vae: expected latent size 1..1024 and hidden size 1..65536, got " + std::to_string(latent) + " and " +
            std::to_string(hidden));
  const int64_t P = product(image_shape);
  check(!image_shape.empty() && P >= 1, "vae: empty image shape");
  Vae v;
  v.image_shape = image_shape;
  v.encoder.add_input("x");
  v.encoder.append("flatten", std::make_shared<Flatten>());
  v.encoder.append("fc1", linear("encoder.fc1", P, hidden, rng));
  v.encoder.append("relu1", std::make_shared<ReLU>());
  v.encoder.append("fc2", linear("encoder.fc2", hidden, 2 * latent, rng));
  v.decoder.add_input("z");
  v.decoder.input_shape = {latent};
  v.decoder.append("fc1", linear("decoder.fc1", latent, hidden, rng));
  v.decoder.append("relu1", std::make_shared<ReLU>());
  v.decoder.append("fc2", linear("decoder.fc2", hidden, P, rng));
  v.decoder.append("pixels", std::make_shared<Sigmoid>());
  return v;
}

double vae_loss(const Vae& vae, const Tensor& x, const Tensor& eps, bool accumulate) {
  const int64_t B = x.dim(0), d = eps.dim(1);
  check(eps.dtype() == DType::F64 && eps.ndim() == 2 && eps.dim(0) == B, "vae_loss: expected float64 noise (B, d)");
  const BackwardOptions opt{BackwardMode::Gradient, accumulate ? ParamGrad::Accumulate : ParamGrad::None, true};
  // Everything below runs on x's device (the encoder's): the noise goes there as one copy.
  const Device device = x.device();
  const Tensor e = eps.to(device);
  const Tape enc = vae.encoder.forward({x.to(vae.encoder.dtype())});
  const Tensor h = enc.values.at(vae.encoder.outputs()[0]).to(DType::F64);  // (B, 2d) = [μ, log σ²]
  check(h.ndim() == 2 && h.dim(1) == 2 * d, "vae_loss: the noise has " + std::to_string(d) +
                                                " columns, the encoder gives " + std::to_string(h.dim(1) / 2) +
                                                " latents");
  const Tensor mu = ops::strided_slice(h, {0, 0}, {1, 1}, {B, d});
  const Tensor log_var = ops::strided_slice(h, {0, d}, {1, 1}, {B, d});
  const Tensor sigma = ops::unary(ops::Unary::Exp, ops::scale(log_var, 0.5));  // exp(½ log σ²) (B, d)
  const Tensor z = ops::add(mu, ops::mul(sigma, e));                           // μ + σ ⊙ ε (B, d)
  const Tape dec = vae.decoder.forward({z.to(vae.decoder.dtype())});
  const int logits_id = vae.decoder.value_id("fc2");
  const Tensor l = dec.values.at(logits_id).to(DType::F64);  // (B, P)
  const Tensor x64 = x.to(DType::F64).reshape(l.shape());
  // Σ softplus(l) − x ⊙ l (the Bernoulli likelihood) + ½ Σ μ² + σ² − log σ² − 1 (the KL to N(0, I)).
  const Tensor bce = ops::sub(ops::pointwise(ops::Pointwise::Softplus, l), ops::mul(x64, l));
  const Tensor variance = ops::unary(ops::Unary::Exp, log_var);  // σ² (B, d)
  const Tensor kl_terms = ops::sub(ops::add(ops::unary(ops::Unary::Square, mu), variance), log_var);
  const Tensor kl = ops::scale(ops::add_scalar(kl_terms, -1.0), 0.5);
  const double loss = (ops::sum_all(bce) + ops::sum_all(kl)) / static_cast<double>(B);
  if (!accumulate) return loss;
  const Tensor batch = ops::full({1}, static_cast<double>(B), DType::F64, device);       // the mean's divisor
  const Tensor gl = ops::div(ops::sub(ops::unary(ops::Unary::Sigmoid, l), x64), batch);  // (σ(l) − x) / B
  const std::vector<Tensor> gd = vae.decoder.backward(dec, {{logits_id, gl.to(vae.decoder.dtype())}}, opt);
  const Tensor gz = gd.at(vae.decoder.inputs()[0]).to(DType::F64);  // ∂L/∂z (B, d)
  // ∂L/∂μ = ∂L/∂z + μ / B;  ∂L/∂log σ² = ½ ∂L/∂z ⊙ ε ⊙ σ + ½ (σ² − 1) / B.
  const Tensor g_mu = ops::add(gz, ops::div(mu, batch));
  const Tensor g_log_var = ops::add(ops::mul(ops::mul(ops::scale(gz, 0.5), e), sigma),
                                    ops::div(ops::scale(ops::add_scalar(variance, -1.0), 0.5), batch));
  const Tensor gh = ops::concat_axis({g_mu, g_log_var}, 1);  // (B, 2d)
  BackwardOptions enc_opt = opt;
  enc_opt.input_grad = false;
  vae.encoder.backward(enc, {{vae.encoder.outputs()[0], gh.to(vae.encoder.dtype())}}, enc_opt);
  return loss;
}

std::vector<double> train_vae(Vae& vae, const Tensor& images, const VaeConfig& cfg,
                              const std::function<void(int64_t, double)>& log) {
  check(cfg.epochs >= 1 && cfg.epochs <= 10'000, "--epochs " + std::to_string(cfg.epochs) + ": expected 1..10000");
  check(cfg.batch_size >= 1 && cfg.batch_size <= 65536,
        "--batch-size " + std::to_string(cfg.batch_size) + ": expected 1..65536");
  check(std::isfinite(cfg.lr) && cfg.lr > 0, "--lr: expected a learning rate > 0");
  const int64_t N = images.dim(0);
  check(N >= 1 && images.numel() / N == product(vae.image_shape), "vae: training images " + images.describe() +
                                                                      " do not match the image shape (" +
                                                                      shape_text(vae.image_shape) + ")");
  const int64_t d = vae.decoder.input_shape[0];
  std::vector<Param*> params = vae.encoder.params();
  check(!params.empty(), "vae: the encoder has no parameters");
  const Device device = params[0]->value.device();  // the networks' device: each batch goes there
  for (Param* p : vae.decoder.params()) params.push_back(p);
  OptimizerConfig oc;
  oc.lr = cfg.lr;
  Optimizer adam(oc, params);
  Rng rng(cfg.seed ^ 0x5641450000000000ULL);  // "VAE": a stream apart from the initialisation's
  std::vector<int64_t> order(N);
  std::vector<double> losses;
  const int64_t P = images.numel() / N;
  const Tensor flat = images.reshape({N, P});
  for (int64_t epoch = 1; epoch <= cfg.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = N - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    double sum = 0;
    for (int64_t begin = 0; begin < N; begin += cfg.batch_size) {
      const int64_t B = std::min(cfg.batch_size, N - begin);
      Tensor x({B, P}, flat.dtype());
      for (int64_t n = 0; n < B; ++n)
        x.slice_batch(n, n + 1).copy_from(flat.slice_batch(order[begin + n], order[begin + n] + 1));
      // The noise drawn serially on the host (the same draws on every device), then one copy.
      std::vector<double> eps(static_cast<size_t>(B * d));
      for (double& v : eps) v = rng.normal();
      Shape shape = {B};
      shape.insert(shape.end(), vae.image_shape.begin(), vae.image_shape.end());
      adam.zero_grad();
      const double loss = vae_loss(vae, x.reshape(shape).to(device), Tensor::from_vector({B, d}, eps).to(device), true);
      check(std::isfinite(loss), "vae: the loss became " + std::to_string(loss) + " in epoch " + std::to_string(epoch),
            "lower --lr");
      adam.step();
      sum += loss * static_cast<double>(B);
    }
    losses.push_back(sum / static_cast<double>(N));
    if (log) log(epoch, losses.back());
  }
  return losses;
}

void save_vae_decoder(const std::string& path, Vae& vae, const Metadata& extra) {
  Metadata m = extra;
  m["format"] = kFormat;
  m["latent"] = std::to_string(vae.decoder.input_shape[0]);
  m["hidden"] = std::to_string(vae.decoder.params()[0]->value.dim(0));
  m["image_shape"] = shape_text(vae.image_shape);
  save_checkpoint(path, vae.decoder, m);
}

Model load_vae_decoder(const std::string& path, Shape* image_shape) {
  const Metadata m = read_checkpoint_metadata(path);
  const std::string format = metadata_get(m, "format", path);
  check(format == kFormat, path + ": format '" + format + "' is not a VAE decoder (" + kFormat + ")",
        "train one with: xdnn visualize --train-generator --out G.safetensors");
  const int64_t latent = metadata_get_int(m, "latent", path), hidden = metadata_get_int(m, "hidden", path);
  Shape shape;
  const std::string text = metadata_get(m, "image_shape", path);
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, comma - begin);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    check(!item.empty() && *end == '\0' && v >= 1 && v <= 1'000'000,
          path + ": metadata image_shape '" + text + "': expected sizes such as 1,28,28");
    shape.push_back(v);
    begin = comma + 1;
  }
  Rng rng(0);
  Vae v = build_vae(shape, latent, hidden, rng);
  load_checkpoint(path, v.decoder);
  if (image_shape) *image_shape = shape;
  return std::move(v.decoder);
}

}  // namespace xdnn::explain
