#include "models/zoo.h"

#include <memory>

#include "layers/add.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/relu.h"

namespace xdnn {
namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

Model image_model() {
  Model m;
  m.add_input("input");
  m.input_shape = {1, 28, 28};
  m.class_names = kFashionClasses;
  return m;
}

std::shared_ptr<Linear> linear(const std::string& name, int64_t in, int64_t out, Rng& rng) {
  auto l = std::make_shared<Linear>(name, in, out);
  l->init(rng);
  return l;
}

std::shared_ptr<Conv2d> conv3x3(const std::string& name, int64_t in, int64_t out, Rng& rng, bool bias = true) {
  auto c = std::make_shared<Conv2d>(name, in, out, 3, 3, Conv2dOptions::same(1, 1, 1, 1, bias));
  c->init(rng);
  return c;
}

Model fashion_mlp(Rng& rng) {
  Model m = image_model();
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc1", linear("fc1", 784, 64, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("fc2", linear("fc2", 64, 10, rng));
  return m;
}

Model fashion_cnn(Rng& rng) {
  Model m = image_model();
  m.append("conv1", conv3x3("conv1", 1, 8, rng));  // (N, 8, 28, 28)
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));  // (N, 8, 14, 14)
  m.append("conv2", conv3x3("conv2", 8, 16, rng));    // (N, 16, 14, 14)
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));  // (N, 16, 7, 7)
  m.append("flatten", std::make_shared<Flatten>());   // (N, 784)
  m.append("fc", linear("fc", 784, 10, rng));
  return m;
}

// fashion-resnet: two conv-BN-ReLU-pool stages, one residual block (He et al. 2016, "basic block",
// Fig. 2: x + BN(conv(ReLU(BN(conv(x))))), then ReLU) and an MLP head. PyTorch equivalent:
//   conv1 Conv2d(1,16,3,p1,bias=False), bn1, ReLU, MaxPool2d(2)          (N, 16, 14, 14)
//   conv2 Conv2d(16,32,3,p1,bias=False), bn2, ReLU, MaxPool2d(2)         (N, 32, 7, 7)
//   block.conv1/bn1, ReLU, block.conv2/bn2, + identity, ReLU             (N, 32, 7, 7)
//   Flatten, fc1 Linear(1568,128), ReLU, fc2 Linear(128,10)
// About 2.1 M multiply-adds per image (7x fashion-cnn); convs before BN carry no bias (BN's β is it).
Model fashion_resnet(Rng& rng) {
  Model m = image_model();
  m.append("conv1", conv3x3("conv1", 1, 16, rng, false));
  m.append("bn1", std::make_shared<BatchNorm2d>("bn1", 16));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", conv3x3("conv2", 16, 32, rng, false));
  m.append("bn2", std::make_shared<BatchNorm2d>("bn2", 32));
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));
  m.append("block.conv1", conv3x3("block.conv1", 32, 32, rng, false));
  m.append("block.bn1", std::make_shared<BatchNorm2d>("block.bn1", 32));
  m.append("block.relu1", std::make_shared<ReLU>());
  m.append("block.conv2", conv3x3("block.conv2", 32, 32, rng, false));
  m.append("block.bn2", std::make_shared<BatchNorm2d>("block.bn2", 32));
  m.add_node("block.add", std::make_shared<Add>(), {"pool2", "block.bn2"}, {"block.add"});
  m.append("block.relu2", std::make_shared<ReLU>());
  m.append("flatten", std::make_shared<Flatten>());  // (N, 1568)
  m.append("fc1", linear("fc1", 32 * 7 * 7, 128, rng));
  m.append("relu3", std::make_shared<ReLU>());
  m.append("fc2", linear("fc2", 128, 10, rng));
  return m;
}

}  // namespace

std::vector<std::string> zoo_names() { return {"fashion-mlp", "fashion-cnn", "fashion-resnet"}; }

bool is_zoo_name(const std::string& name) {
  for (const auto& n : zoo_names())
    if (n == name) return true;
  return false;
}

Model build_zoo_model(const std::string& name, uint64_t seed) {
  Rng rng(seed);
  if (name == "fashion-mlp") return fashion_mlp(rng);
  if (name == "fashion-cnn") return fashion_cnn(rng);
  if (name == "fashion-resnet") return fashion_resnet(rng);
  std::string valid;
  for (const auto& n : zoo_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown model '" + name + "'", "valid zoo models: " + valid + " (or a path to an .onnx file)");
}

}  // namespace xdnn
