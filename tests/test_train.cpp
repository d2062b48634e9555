// Training: optimizer steps against hand computations, cross-entropy and whole-model gradients against
// finite differences (float64), loss falls on a fixed batch, bit-identical runs (same seed; 1 vs 2
// threads; resumed vs uninterrupted), checkpoint round trips and every mismatch error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/parallel.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"
#include "tests/file_fixtures.h"
#include "tests/gradcheck.h"

using namespace xdnn;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("xdnn_test_train_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A learnable synthetic image task: class k lights up a k-dependent 6x6 patch (plus noise).
LabeledData synthetic_images(int64_t n, uint64_t seed) {
  Rng rng(seed);
  LabeledData d{Tensor({n, 1, 28, 28}), Tensor({n}, DType::I64)};
  float* x = d.x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng.below(10));
    d.y.data<int64_t>()[i] = k;
    for (int64_t p = 0; p < 784; ++p) x[i * 784 + p] = static_cast<float>(0.3 * rng.uniform());
    const int64_t r0 = (k / 5) * 14 + 4, c0 = (k % 5) * 5 + 1;
    for (int64_t r = r0; r < r0 + 6; ++r)
      for (int64_t c = c0; c < c0 + 4; ++c) x[i * 784 + r * 28 + c] += 0.7f;
  }
  return d;
}

bool same_params(Model& a, Model& b) {
  auto pa = a.params(), pb = b.params();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    if (pa[i]->name != pb[i]->name || !bitwise_equal(pa[i]->value, pb[i]->value)) return false;
  return true;
}

using testing::error_of;

}  // namespace

TEST_CASE("optim: SGD with momentum, nesterov and weight decay matches hand-computed steps") {
  Param p{"w", Tensor::from_vector({2}, std::vector<double>{1.0, -2.0}), {}};
  OptimizerConfig c;
  c.name = "sgd";
  c.lr = 0.1;
  c.momentum = 0.9;
  c.weight_decay = 0.01;
  Optimizer opt(c, {&p});
  // step 1: g = (0.5, 0.25) + 0.01 θ = (0.51, 0.23); buf = g; θ = θ − 0.1 g
  p.grad = Tensor::from_vector({2}, std::vector<double>{0.5, 0.25});
  opt.step();
  CHECK(p.value.item(0) == doctest::Approx(1.0 - 0.1 * 0.51).epsilon(1e-15));
  CHECK(p.value.item(1) == doctest::Approx(-2.0 - 0.1 * 0.23).epsilon(1e-15));
  // step 2: g = (−1, 1) + 0.01 θ₁; buf = 0.9 buf + g; θ = θ₁ − 0.1 buf
  const double t0 = 1.0 - 0.051, t1 = -2.0 - 0.023;
  p.grad = Tensor::from_vector({2}, std::vector<double>{-1.0, 1.0});
  opt.step();
  const double b0 = 0.9 * 0.51 + (-1.0 + 0.01 * t0), b1 = 0.9 * 0.23 + (1.0 + 0.01 * t1);
  CHECK(p.value.item(0) == doctest::Approx(t0 - 0.1 * b0).epsilon(1e-15));
  CHECK(p.value.item(1) == doctest::Approx(t1 - 0.1 * b1).epsilon(1e-15));

  // Nesterov: θ −= lr (g + μ buf)
  Param q{"q", Tensor::from_vector({1}, std::vector<double>{1.0}), {}};
  c.weight_decay = 0;
  c.nesterov = true;
  Optimizer nag(c, {&q});
  q.grad = Tensor::from_vector({1}, std::vector<double>{2.0});
  nag.step();  // buf = 2; θ = 1 − 0.1 (2 + 1.8)
  CHECK(q.value.item(0) == doctest::Approx(1.0 - 0.1 * 3.8).epsilon(1e-15));
  // Plain SGD: no buffer kept.
  c.momentum = 0;
  c.nesterov = false;
  Optimizer plain(c, {&q});
  q.grad = Tensor::from_vector({1}, std::vector<double>{1.0});
  plain.step();
  CHECK(q.value.item(0) == doctest::Approx(1.0 - 0.38 - 0.1).epsilon(1e-15));
  CHECK(plain.state_tensors().size() == 1);  // only "step"
}

TEST_CASE("optim: Adam with bias correction and L2 weight decay matches hand-computed steps") {
  Param p{"w", Tensor::from_vector({2}, std::vector<double>{0.5, -1.5}), {}};
  OptimizerConfig c;
  c.name = "adam";
  c.lr = 0.01;
  c.weight_decay = 0.1;
  Optimizer opt(c, {&p});
  double theta[2] = {0.5, -1.5}, m[2] = {0, 0}, v[2] = {0, 0};
  const double grads[3][2] = {{0.2, -0.4}, {-0.1, 0.3}, {0.05, 0.05}};
  for (int t = 1; t <= 3; ++t) {
    p.grad = Tensor::from_vector({2}, std::vector<double>{grads[t - 1][0], grads[t - 1][1]});
    opt.step();
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i] + 0.1 * theta[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mhat = m[i] / (1 - std::pow(0.9, t)),
                   vhat_sqrt = std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t));
      theta[i] -= 0.01 * mhat / (vhat_sqrt + 1e-8);
      CHECK(p.value.item(i) == doctest::Approx(theta[i]).epsilon(1e-13));
    }
  }
  CHECK(opt.steps() == 3);
}

TEST_CASE("optim: state round trip, and bad state is an error naming the tensor") {
  Param p{"w", Tensor::from_vector({3}, std::vector<float>{1, 2, 3}), {}};
  OptimizerConfig c;
  Optimizer a(c, {&p});
  p.grad = Tensor::from_vector({3}, std::vector<float>{0.1f, -0.2f, 0.3f});
  a.step();
  Param p2{"w", p.value.clone(), {}};
  Optimizer b(c, {&p2});
  b.load_state_tensors(a.state_tensors(), "state.safetensors");
  p.grad = Tensor::from_vector({3}, std::vector<float>{0.3f, 0.2f, -0.1f});
  p2.grad = p.grad.clone();
  a.step();
  b.step();
  CHECK(bitwise_equal(p.value, p2.value));
  auto st = a.state_tensors();
  st["exp_avg/w"] = Tensor({4});
  CHECK(error_of([&] { b.load_state_tensors(st, "s.safetensors"); }) ==
        "s.safetensors: optimizer state tensor exp_avg/w is float32 (4,), parameter is float32 (3,)");
  st = a.state_tensors();
  st["exp_avg/nope"] = Tensor({3});
  CHECK(error_of([&] { b.load_state_tensors(st, "s.safetensors"); }).find("names no model parameter") !=
        std::string::npos);
  OptimizerConfig bad;
  bad.name = "rmsprop";
  CHECK(error_of([&] { Optimizer o(bad, {}); }) == "unknown optimizer 'rmsprop'");
}

TEST_CASE("train: cross-entropy gradient matches finite differences") {
  Rng rng(3);
  Tensor logits({4, 5}, DType::F64);
  for (int64_t i = 0; i < logits.numel(); ++i) logits.set_item(i, rng.uniform(-3, 3));
  Tensor labels = Tensor::from_vector({4}, std::vector<int64_t>{0, 4, 2, 2});
  Tensor g;
  const double loss = softmax_cross_entropy(logits, labels, &g);
  CHECK(loss > 0);
  Tensor num = testing::numeric_gradient([&] { return softmax_cross_entropy(logits, labels, nullptr); }, logits);
  CHECK(testing::max_rel_diff(g, num) < 1e-8);
  CHECK(error_of([&] {
          softmax_cross_entropy(logits, Tensor::from_vector({4}, std::vector<int64_t>{0, 5, 0, 0}), nullptr);
        }).find("label 5 of sample 1") != std::string::npos);
}

TEST_CASE("train: whole-model parameter gradients match finite differences (float64)") {
  // Training mode: BatchNorm uses the batch statistics, so the loss is a smooth function of every
  // parameter (the running statistics it updates on the side do not enter the output).
  for (const std::string name : {"fashion-mlp", "fashion-cnn", "fashion-resnet"}) {
    CAPTURE(name);
    Model m = build_zoo_model(name, 5);
    m.to(DType::F64);
    for (auto& node : m.nodes())
      for (Param* b : node.layer->buffers()) b->value = b->value.to(DType::F64);
    LabeledData d = synthetic_images(3, 9);
    Tensor x = d.x.to(DType::F64);
    const int out = m.outputs()[0];
    ForwardOptions train_mode;
    train_mode.training = true;
    auto loss = [&] { return softmax_cross_entropy(m.forward({x}, train_mode).values[out], d.y, nullptr); };
    Tape tape = m.forward({x}, train_mode);
    Tensor gl;
    softmax_cross_entropy(tape.values[out], d.y, &gl);
    for (Param* p : m.params()) p->grad = Tensor();
    BackwardOptions bo;
    bo.param_grad = ParamGrad::Accumulate;
    m.backward(tape, {{out, gl}}, bo);
    Rng pick(1);
    for (Param* p : m.params()) {
      CAPTURE(p->name);
      REQUIRE(p->grad.defined());
      // 12 random coordinates per tensor keep the test fast; all of them for small tensors.
      const int64_t n = p->value.numel(), k = std::min<int64_t>(n, 12);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t i = n <= 12 ? j : static_cast<int64_t>(pick.below(static_cast<uint64_t>(n)));
        const double v = p->value.item(i), h = 1e-6;
        p->value.set_item(i, v + h);
        const double fp = loss();
        p->value.set_item(i, v - h);
        const double fm = loss();
        p->value.set_item(i, v);
        const double num = (fp - fm) / (2 * h), ana = p->grad.item(i);
        CHECK(std::abs(num - ana) <= 1e-6 * std::max(1.0, std::abs(num)));
      }
    }
  }
}

TEST_CASE("zoo: names, PyTorch state-dict names and shapes, seeded init, unknown names") {
  Model cnn = build_zoo_model("fashion-cnn", 1);
  std::vector<std::string> names;
  for (Param* p : cnn.params()) names.push_back(p->name + " " + shape_str(p->value.shape()));
  CHECK(names == std::vector<std::string>{"conv1.weight (8, 1, 3, 3)", "conv1.bias (8,)", "conv2.weight (16, 8, 3, 3)",
                                          "conv2.bias (16,)", "fc.weight (10, 784)", "fc.bias (10,)"});
  Model mlp = build_zoo_model("fashion-mlp", 1);
  CHECK(mlp.params().size() == 4);
  CHECK(mlp.find_param("fc1.weight")->value.shape() == Shape{64, 784});
  // Seeded: same seed same bits, other seed other bits; PyTorch's bound 1/sqrt(fan_in).
  Model cnn2 = build_zoo_model("fashion-cnn", 1), cnn3 = build_zoo_model("fashion-cnn", 2);
  CHECK(same_params(cnn, cnn2));
  CHECK_FALSE(same_params(cnn, cnn3));
  const Tensor& w = cnn.find_param("conv2.weight")->value;
  double mx = 0;
  for (int64_t i = 0; i < w.numel(); ++i) mx = std::max(mx, std::abs(w.item(i)));
  CHECK(mx <= 1.0 / std::sqrt(72.0));
  CHECK(mx > 0.9 / std::sqrt(72.0));
  for (const auto& n : zoo_names()) {
    Model z = build_zoo_model(n, 0);
    CHECK(z.predict(Tensor({2, 1, 28, 28})).shape() == Shape{2, 10});
  }
  try {
    build_zoo_model("fashion-vit");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "unknown model 'fashion-vit'");
    CHECK(e.hint().find("fashion-cnn") != std::string::npos);
  }
}

TEST_CASE("train: loss falls on a fixed batch") {
  Model m = build_zoo_model("fashion-cnn", 0);
  LabeledData d = synthetic_images(32, 4);
  OptimizerConfig c;
  c.lr = 3e-3;
  Optimizer opt(c, m.params());
  const int out = m.outputs()[0];
  BackwardOptions bo;
  bo.param_grad = ParamGrad::Accumulate;
  ForwardOptions fo;
  fo.training = true;
  double first = 0, last = 0;
  for (int s = 0; s < 40; ++s) {
    Tape t = m.forward({d.x}, fo);
    Tensor g;
    last = softmax_cross_entropy(t.values[out], d.y, &g);
    if (s == 0) first = last;
    opt.zero_grad();
    m.backward(t, {{out, g}}, bo);
    opt.step();
  }
  CHECK(first > 2.0);
  CHECK(last < 0.3 * first);
}

TEST_CASE("train: same seed -> bit-identical parameters; 1 vs 2 threads -> bit-identical") {
  LabeledData train = synthetic_images(160, 11), test = synthetic_images(40, 12);
  TrainConfig cfg;
  cfg.architecture = "fashion-cnn";
  cfg.seed = 7;
  cfg.batch_size = 32;
  cfg.epochs = 1;
  cfg.progress = false;
  const int saved_threads = num_threads();
  auto run = [&](int threads) {
    set_num_threads(threads);
    Model m = build_zoo_model(cfg.architecture, cfg.seed);
    auto r = train_model(m, train, test, cfg);
    REQUIRE(r.size() == 1);
    return m;
  };
  Model a = run(2), b = run(2), c = run(1);
  set_num_threads(saved_threads);
  CHECK(same_params(a, b));
  CHECK(same_params(a, c));
  Model init = build_zoo_model(cfg.architecture, cfg.seed);
  CHECK_FALSE(same_params(a, init));  // training changed something
}

TEST_CASE("train: resuming from epoch-1 continues bit-identically to the uninterrupted run") {
  for (const std::string opt_name : {"adam", "sgd"}) {
    CAPTURE(opt_name);
    fs::path dir = temp_dir("resume_" + opt_name);
    LabeledData train = synthetic_images(96, 21), test = synthetic_images(32, 22);
    TrainConfig cfg;
    cfg.architecture = "fashion-cnn";
    cfg.seed = 3;
    cfg.batch_size = 16;
    cfg.progress = false;
    cfg.optimizer.name = opt_name;
    if (opt_name == "sgd") {
      cfg.optimizer.lr = 0.05;
      cfg.optimizer.momentum = 0.9;
      cfg.optimizer.weight_decay = 1e-4;
      cfg.lr_decay = 0.5;  // epoch K uses 0.05 · 0.5^(K−1)
    }
    // Uninterrupted: 3 epochs.
    cfg.epochs = 3;
    cfg.out_dir = (dir / "full").string();
    Model full = build_zoo_model(cfg.architecture, cfg.seed);
    auto rf = train_model(full, train, test, cfg);
    REQUIRE(rf.size() == 3);
    // Interrupted after 1 epoch, then resumed to 3.
    cfg.epochs = 1;
    cfg.out_dir = (dir / "part").string();
    Model part = build_zoo_model(cfg.architecture, cfg.seed);
    train_model(part, train, test, cfg);
    cfg.epochs = 3;
    cfg.resume = (dir / "part" / "epoch-1.safetensors").string();
    Model resumed = build_zoo_model(cfg.architecture, cfg.seed + 0);
    auto rr = train_model(resumed, train, test, cfg);
    REQUIRE(rr.size() == 2);
    CHECK(rr[0].epoch == 2);
    CHECK(same_params(full, resumed));
    CHECK(rr[1].train_loss == rf[2].train_loss);
    CHECK(rr[1].test.accuracy == rf[2].test.accuracy);
    // Checkpoint metadata carries what TracIn and resuming need.
    Metadata m = read_checkpoint_metadata((dir / "full" / "epoch-2.safetensors").string());
    CHECK(m.at("architecture") == "fashion-cnn");
    CHECK(m.at("epoch") == "2");
    CHECK(m.at("seed") == "3");
    CHECK(std::stod(m.at("lr")) == cfg.optimizer.lr * (opt_name == "sgd" ? 0.5 : 1.0));
    CHECK(rf[1].lr == std::stod(m.at("lr")));
    CHECK(std::stod(m.at("base_lr")) == cfg.optimizer.lr);
    CHECK(m.at("optimizer").rfind(opt_name + "(", 0) == 0);
    // The checkpoint of epoch 3 holds the final weights.
    Model reloaded = load_model((dir / "full" / "epoch-3.safetensors").string());
    CHECK(same_params(full, reloaded));
    // A resume with other settings is refused, naming the setting.
    cfg.seed = 4;
    Model other = build_zoo_model(cfg.architecture, cfg.seed);
    CHECK(error_of([&] { train_model(other, train, test, cfg); }).find("checkpoint has seed 3, this run has 4") !=
          std::string::npos);
    fs::remove_all(dir);
  }
}

TEST_CASE("checkpoint: round trip, and missing / extra / mis-shaped / truncated files name file and tensor") {
  fs::path dir = temp_dir("ckpt");
  const std::string path = (dir / "ckpt.safetensors").string();
  Model a = build_zoo_model("fashion-cnn", 1);
  save_checkpoint(path, a, {{"architecture", "fashion-cnn"}});
  Model b = build_zoo_model("fashion-cnn", 2);
  Metadata meta = load_checkpoint(path, b);
  CHECK(meta.at("architecture") == "fashion-cnn");
  CHECK(same_params(a, b));
  // Spec forms of load_model.
  Model l1 = load_model(path), l2 = load_model("fashion-cnn:" + path);
  CHECK(same_params(a, l1));
  CHECK(same_params(a, l2));
  CHECK(load_model("fashion-mlp").params().size() == 4);

  TensorList tensors;
  for (Param* p : a.params()) tensors.emplace_back(p->name, p->value);
  auto write_and_load = [&](const TensorList& list) {
    save_safetensors(path, list, {});
    Model m = build_zoo_model("fashion-cnn", 0);
    return error_of([&] { load_checkpoint(path, m); });
  };
  TensorList wrong = tensors;
  wrong[0].second = Tensor({8, 1, 5, 5});
  CHECK(write_and_load(wrong) == path + ": tensor conv1.weight has shape (8, 1, 5, 5), model expects (8, 1, 3, 3)");
  TensorList missing(tensors.begin() + 1, tensors.end());
  CHECK(write_and_load(missing) == path + ": tensor conv1.weight is missing (model expects float32 (8, 1, 3, 3))");
  TensorList extra = tensors;
  extra.emplace_back("fc2.weight", Tensor({2, 2}));
  CHECK(write_and_load(extra).rfind(path + ": unexpected tensor fc2.weight float32 (2, 2)", 0) == 0);
  TensorList f64 = tensors;
  f64[5].second = f64[5].second.to(DType::F64);
  CHECK(write_and_load(f64) == path + ": tensor fc.bias is float64, model expects float32");
  // No architecture in the metadata: the spec must name it.
  save_safetensors(path, tensors, {});
  try {
    load_model(path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("no 'architecture'") != std::string::npos);
    CHECK(e.hint() == "name it: --model fashion-cnn:" + path);
  }
  // A truncated file names the file; a failed load leaves the model untouched.
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  Model c = build_zoo_model("fashion-cnn", 2), c0 = build_zoo_model("fashion-cnn", 2);
  CHECK(error_of([&] { load_checkpoint(path, c); }).rfind(path, 0) == 0);
  CHECK(same_params(c, c0));
  CHECK(error_of([&] { load_checkpoint((dir / "nope.safetensors").string(), c); }).find("nope.safetensors") !=
        std::string::npos);
  // Golden weights (written by PyTorch) load into the zoo architectures of the same name.
  Model g = load_model("fashion-cnn:" XDNN_TESTS_DIR "/golden/models/cnn.safetensors");
  CHECK(g.find_param("fc.weight")->value.shape() == Shape{10, 784});
  Model gm = load_model("fashion-mlp:" XDNN_TESTS_DIR "/golden/models/mlp.safetensors");
  CHECK(gm.params().size() == 4);
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: fashion-resnet saves BatchNorm buffers under PyTorch's names and restores them") {
  fs::path dir = temp_dir("bn");
  const std::string path = (dir / "resnet.safetensors").string();
  Model a = build_zoo_model("fashion-resnet", 1);
  ForwardOptions fo;
  fo.training = true;
  a.forward({synthetic_images(8, 1).x}, fo);  // moves the running statistics away from (0, 1)
  save_checkpoint(path, a, {{"architecture", "fashion-resnet"}});
  Metadata meta;
  auto file = load_safetensors(path, &meta);
  REQUIRE(file.count("bn1.running_mean"));
  REQUIRE(file.count("block.bn2.running_var"));
  REQUIRE(file.count("bn1.num_batches_tracked"));
  CHECK(file.at("bn1.num_batches_tracked").dtype() == DType::I64);
  CHECK(file.at("bn1.num_batches_tracked").item(0) == 1.0);
  CHECK(file.at("bn1.running_mean").item(0) != 0.0);
  CHECK(file.count("block.conv1.weight"));
  CHECK(file.count("conv1.bias") == 0);  // conv before BN has no bias
  Model b = load_model(path);
  CHECK(same_params(a, b));
  auto buffers = [](Model& m) {
    std::vector<Tensor> out;
    for (auto& node : m.nodes())
      for (Param* p : node.layer->buffers()) out.push_back(p->value);
    return out;
  };
  auto ba = buffers(a), bb = buffers(b);
  REQUIRE(ba.size() == 8);
  REQUIRE(bb.size() == 8);
  for (size_t i = 0; i < ba.size(); ++i) CHECK(bitwise_equal(ba[i], bb[i]));
  // Inference uses the running statistics: same logits after the reload.
  Tensor x = synthetic_images(4, 2).x;
  CHECK(bitwise_equal(a.predict(x), b.predict(x)));
  fs::remove_all(dir);
}

TEST_CASE("zoo: fashion-mlp / fashion-cnn compute what the golden ONNX models compute, with their weights") {
  // The ONNX initializers carry the PyTorch state-dict names (golden models.json), so the ONNX model's
  // parameters, saved as a state dict, must load into the zoo architecture and give the same logits.
  fs::path dir = temp_dir("onnx");
  Rng rng(8);
  Tensor images({5, 1, 28, 28});
  for (int64_t i = 0; i < images.numel(); ++i) images.set_item(i, rng.uniform());
  for (const auto& names :
       std::vector<std::pair<std::string, std::string>>{{"fashion-cnn", "cnn"}, {"fashion-mlp", "mlp"}}) {
    const std::string& zoo = names.first;
    const std::string& golden = names.second;
    CAPTURE(zoo);
    Model onnx = load_model(XDNN_TESTS_DIR "/golden/models/" + golden + ".onnx");
    TensorList state;
    for (Param* p : onnx.params()) state.emplace_back(p->name, p->value);
    const std::string path = (dir / (golden + ".safetensors")).string();
    save_safetensors(path, state);
    Model z = load_model(zoo + ":" + path);
    CHECK(testing::max_rel_diff(z.predict(images), onnx.predict(images)) < 1e-5);
  }
  fs::remove_all(dir);
}
