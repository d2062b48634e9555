// `xdnn visualize --model M [--layer L --objective channel|unit --units 0,1,2|all] [--steps S --lr A --l2 λ
//                 --l1 λ --tv λ --jitter J --box LO,HI --seed S] [--generator G.safetensors]
//                 [--input X.npy | --fashion-test N] --out DIR`
// `xdnn visualize --train-generator [--epochs E --latent d --hidden H --limit N --seed S] --out G.safetensors`
//
// Activation maximisation (explain/global/activation_max.h): one image per unit, DIR/unit-K.png, the grid
// DIR/grid.png and every image as DIR/images.npy; prints each unit's activation at the start and the end,
// and, with a data set, the largest activation of any of its examples. --train-generator trains the VAE
// whose decoder --generator takes (explain/global/vae.h) on the Fashion-MNIST training images.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/global/activation_max.h"
#include "explain/global/image_grid.h"
#include "explain/global/vae.h"
#include "explain/heatmap.h"
#include "explain/options.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {
namespace {

struct VisualizeArgs {
  std::string model, layer, objective = "channel", units = "all", box = "0,1", generator, input, out, device = "cpu";
  int64_t fashion_test = 0, scale = 4;
  explain::VisualizeSettings s;
  bool train_generator = false;
  explain::VaeConfig vae;
  int64_t limit = -1;
  CommonOptions common;
};

void run_train_generator(const VisualizeArgs& a, Device device) {
  check_output_path(a.out, "--out", {});
  a.common.apply();
  const LabeledImages train = load_fashion_mnist("train", "", a.limit);
  Rng rng(a.vae.seed);
  explain::Vae vae = explain::build_vae({1, 28, 28}, a.vae.latent, a.vae.hidden, rng);
  // Built (drawn) on the host, trained on `device`: each batch and its noise go there (explain/global/vae.h).
  vae.encoder.to(device);
  vae.decoder.to(device);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<double> losses = explain::train_vae(vae, train.images, a.vae, [](int64_t epoch, double loss) {
    std::printf("epoch %lld: mean negative ELBO %.3f nats per image\n", static_cast<long long>(epoch), loss);
    std::fflush(stdout);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  explain::save_vae_decoder(a.out, vae,
                            {{"epochs", std::to_string(a.vae.epochs)},
                             {"seed", std::to_string(a.vae.seed)},
                             {"train_size", std::to_string(train.images.dim(0))},
                             {"loss", std::to_string(losses.back())}});
  std::printf("trained in %.1f s on %lld images\n", seconds, static_cast<long long>(train.images.dim(0)));
  print_wrote(a.out, "VAE decoder, latent " + std::to_string(a.vae.latent));
}

void parse_box(const std::string& text, explain::VisualizeSettings& s) {
  const size_t comma = text.find(',');
  if (comma == std::string::npos) throw Error("--box '" + text + "': expected LOW,HIGH such as 0,1");
  s.low = explain::parse_number(text.substr(0, comma), "--box low");
  s.high = explain::parse_number(text.substr(comma + 1), "--box high");
  if (!(std::isfinite(s.low) && std::isfinite(s.high) && s.low < s.high))
    throw Error("--box '" + text + "': expected finite LOW < HIGH");
}

void run_visualize(const VisualizeArgs& a, Device device) {
  if (a.model.empty()) throw Error("--model: required (or --train-generator)");
  if (a.fashion_test > 0 && !a.input.empty()) throw Error("give either --input or --fashion-test, not both");
  explain::VisualizeSettings s = a.s;
  parse_box(a.box, s);
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  model.to(device);  // the image, the forward and backward passes, the penalties and Adam all run there
  model.freeze();    // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  Tensor data;
  if (!a.input.empty()) data = load_model_input(a.input, "--input", model, a.common.allow_nonfinite);
  if (a.fashion_test > 0) data = load_fashion_mnist("test", "", a.fashion_test).images;
  Shape input_shape = model.input_shape;
  bool known = !input_shape.empty();
  for (int64_t d : input_shape) known = known && d > 0;
  if (data.defined()) {
    if (data.ndim() < 2) throw Error("--input " + a.input + ": expected a batch (N, ...), got " + data.describe());
    const Shape given(data.shape().begin() + 1, data.shape().end());
    if (known && given != input_shape)
      throw Error("--input " + a.input + ": examples of shape " + shape_str(given) + ", the model takes " +
                  shape_str(input_shape));
    input_shape = given;
    known = true;
  }
  if (!known) throw Error("the model declares no fixed input shape: give --input X.npy with a few examples");
  explain::VisualizeTarget target;
  target.layer = a.layer;
  target.channel = a.objective == "channel";
  target.device = device;
  target.units = explain::parse_units(model, input_shape, target, a.units);
  explain::resolve_target(model, input_shape, target);  // unknown layer or unit: before any other work
  std::unique_ptr<Model> generator;
  if (!a.generator.empty()) {
    Shape drawn;
    generator = std::make_unique<Model>(explain::load_vae_decoder(a.generator, &drawn));
    generator->to(device);
    if (drawn != input_shape)
      throw Error("--generator " + a.generator + ": draws images of shape " + shape_str(drawn) + ", the model takes " +
                  shape_str(input_shape));
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(a.out)) {
    const fs::path parent = fs::path(a.out).parent_path();
    if (!parent.empty() && !fs::is_directory(parent))
      throw Error("--out " + a.out + ": folder '" + parent.string() + "' does not exist");
    if (fs::exists(a.out)) throw Error("--out " + a.out + ": exists and is not a folder");
    fs::create_directory(a.out, ec);
    if (ec) throw Error("--out " + a.out + ": cannot create the folder: " + ec.message());
  }
  const auto start = std::chrono::steady_clock::now();
  const explain::VisualizeResult r = explain::visualize(model, input_shape, target, s, generator.get());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Tensor best;
  if (data.defined()) best = explain::unit_activations(model, data, target);
  const int64_t U = static_cast<int64_t>(target.units.size());
  // Pictures in [0, 1] for display: the box mapped onto it (the generator draws in (0, 1)).
  Tensor shown = r.images.to(DType::F64).clone();
  const double lo = generator ? 0.0 : s.low, span = generator ? 1.0 : s.high - s.low;
  for (int64_t i = 0; i < shown.numel(); ++i) shown.data<double>()[i] = (shown.data<double>()[i] - lo) / span;
  std::vector<std::string> captions;
  std::printf("%-28s %12s %12s%s\n", "unit", "start", "maximised", data.defined() ? "  data-set max" : "");
  for (int64_t u = 0; u < U; ++u) {
    double data_max = -INFINITY;
    if (best.defined())
      for (int64_t n = 0; n < best.dim(0); ++n) data_max = std::max(data_max, best.data<double>()[n * U + u]);
    std::printf("%-28s %12.4f %12.4f", r.labels[u].c_str(), r.start[u], r.activation[u]);
    if (best.defined()) std::printf("  %12.4f", data_max);
    std::printf("\n");
    char value[32];
    std::snprintf(value, sizeof value, "%.3g", r.activation[u]);
    captions.push_back(r.labels[u] + "\na = " + value);
    const std::string path = a.out + "/unit-" + std::to_string(target.units[u]) + ".png";
    explain::save_png(path, explain::grid_picture(shown, u, static_cast<int>(a.scale)));
  }
  std::printf("%lld units x %lld steps in %.3f s\n", static_cast<long long>(U), static_cast<long long>(s.steps),
              seconds);
  print_wrote(a.out + "/unit-K.png", std::to_string(U) + " images, one per unit");
  explain::GridOptions grid;
  grid.scale = static_cast<int>(a.scale);
  explain::save_png(a.out + "/grid.png", explain::image_grid(shown, captions, grid));
  print_wrote(a.out + "/grid.png", "grid of " + std::to_string(U) + " images");
  save_npy(a.out + "/images.npy", r.images);
  print_wrote(a.out + "/images.npy", "maximising inputs, " + r.images.describe());
}

}  // namespace

void add_visualize_command(CLI::App& app) {
  auto a = std::make_shared<VisualizeArgs>();
  CLI::App* cmd = app.add_subcommand("visualize",
                                     "activation maximisation: the input a unit responds to most "
                                     "(Erhan 2009; Simonyan 2014; Olah 2017; Nguyen 2016)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "ONNX file, zoo name or checkpoint");
  cmd->add_option("--layer", a->layer, "tensor to maximise (default: the model's output, the class logits)");
  cmd->add_option("--objective", a->objective, "channel (mean over positions) or unit (one element)")
      ->check(CLI::IsMember({"channel", "unit"}))
      ->capture_default_str();
  cmd->add_option("--units", a->units, "channels or flat unit indices, e.g. 0,3,5, or all")->capture_default_str();
  cmd->add_option("--steps", a->s.steps, "gradient-ascent steps")->check(between(1, 100000))->capture_default_str();
  cmd->add_option("--lr", a->s.lr, "Adam step size")->check(greater_than(0))->capture_default_str();
  cmd->add_option("--l2", a->s.l2, "L2 decay weight (on the latent with --generator)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--l1", a->s.l1, "L1 decay weight")->check(at_least(0))->capture_default_str();
  cmd->add_option("--tv", a->s.tv, "total-variation weight")->check(at_least(0))->capture_default_str();
  cmd->add_option("--jitter", a->s.jitter, "largest random shift per step, pixels")
      ->check(between(0, 64))
      ->capture_default_str();
  cmd->add_option("--box", a->box, "LOW,HIGH: the pixels' range")->capture_default_str();
  cmd->add_option("--seed", a->s.seed, "seed of the start and the shifts")->capture_default_str();
  cmd->add_option("--generator", a->generator, "VAE decoder (--train-generator): optimise its latent");
  cmd->add_option("--input", a->input, "data set .npy: print each unit's largest activation over it");
  cmd->add_option("--fashion-test", a->fashion_test, "the first N Fashion-MNIST test images as the data set")
      ->check(between(0, 10000));
  cmd->add_option("--scale", a->scale, "PNG pixels per input pixel")->check(between(1, 32))->capture_default_str();
  cmd->add_option("--out", a->out, "output folder (or the decoder .safetensors with --train-generator)")->required();
  cmd->add_flag("--train-generator", a->train_generator, "train the VAE generator on Fashion-MNIST instead");
  cmd->add_option("--epochs", a->vae.epochs, "VAE training epochs")->check(between(1, 1000))->capture_default_str();
  cmd->add_option("--latent", a->vae.latent, "VAE latent size")->check(between(1, 1024))->capture_default_str();
  cmd->add_option("--hidden", a->vae.hidden, "VAE hidden width")->check(between(1, 65536))->capture_default_str();
  cmd->add_option("--limit", a->limit, "VAE: train on the first N training images (default all)")
      ->check(between(1, 60000));
  add_common_options(cmd, a->common);
  cmd->add_option("--device", a->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([a] {
    const Device device = select_device(a->device, "--device");  // before loading anything
    a->vae.seed = a->s.seed;
    if (a->train_generator)
      run_train_generator(*a, device);
    else
      run_visualize(*a, device);
  });
}

}  // namespace xdnn::cli
