// The Python module `xdnn` (pybind11): the public C++ API (explain/api/xdnn.h) with NumPy arrays in and
// out. Names and options are the command line's, so `xdnn.explain(m, x, "integrated-gradients",
// target=3, steps=50)` is `xdnn explain --method integrated-gradients --target 3 --steps 50`, bit for bit.
//
//   import xdnn
//   m = xdnn.load("model.onnx")            # any --model spec: .onnx, zoo name, checkpoint
//   logits = m(x)                          # x: float32/float64 (N, ...) or int64 token ids (N, T)
//   a = xdnn.explain(m, x, method="saliency", target=None, **options)
//   s = xdnn.influence("tracin", ["c1.safetensors", "c2.safetensors"], train_x, train_y, test_x, test_y)
//   xdnn.train(train_x, train_y, test_x, test_y, model="fashion-mlp", epochs=2, out_dir="run")
//
// Arrays: float32, float64 or int64, C-contiguous (anything else is a TypeError naming the argument and
// what to pass); they are copied into the library's arrays once. Errors of the library are xdnn.Error
// (a ValueError) carrying the command line's one-line message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "explain/api/xdnn.h"

namespace py = pybind11;
namespace api = xdnn::api;

namespace {

api::Array from_numpy(const py::handle& obj, const std::string& what) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(what + ": expected a NumPy array, got " +
                         std::string(py::str(obj.get_type().attr("__name__"))));
  const py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.flags() & py::array::c_style))
    throw py::type_error(what + ": expected a C-contiguous array; pass np.ascontiguousarray(" + what + ")");
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  api::DType dtype;
  if (a.dtype().is(py::dtype::of<float>()))
    dtype = api::DType::F32;
  else if (a.dtype().is(py::dtype::of<double>()))
    dtype = api::DType::F64;
  else if (a.dtype().is(py::dtype::of<int64_t>()))
    dtype = api::DType::I64;
  else
    throw py::type_error(what + ": expected float32, float64 or int64 elements, got " +
                         std::string(py::str(a.dtype())));
  api::Array out(dtype, shape);
  const size_t bytes = static_cast<size_t>(out.size()) * (dtype == api::DType::F32 ? 4 : 8);
  void* dst = dtype == api::DType::F32   ? static_cast<void*>(out.data<float>())
              : dtype == api::DType::F64 ? static_cast<void*>(out.data<double>())
                                         : static_cast<void*>(out.data<int64_t>());
  if (bytes) std::memcpy(dst, a.data(), bytes);
  return out;
}

py::array to_numpy(const api::Array& a) {
  std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end());
  if (a.dtype() == api::DType::F32) return py::array_t<float>(shape, a.data<float>());
  if (a.dtype() == api::DType::F64) return py::array_t<double>(shape, a.data<double>());
  return py::array_t<int64_t>(shape, a.data<int64_t>());
}

// Keyword options -> the command line's text: True -> "true" (a flag), False -> left out, numbers and
// strings as str() writes them, lists joined by commas ("0.1,0.1").
api::Options options_from(const py::kwargs& kwargs) {
  api::Options out;
  for (const auto& [key, value] : kwargs) {
    const std::string name = py::str(key);
    if (py::isinstance<py::bool_>(value)) {
      if (value.cast<bool>()) out[name] = "true";
    } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
      std::string joined;
      for (const auto& v : value) {
        if (!joined.empty()) joined += ',';
        joined += std::string(py::str(v));
      }
      out[name] = joined;
    } else {
      out[name] = py::str(value);
    }
  }
  return out;
}

std::vector<int64_t> targets_from(const py::object& target) {
  if (target.is_none()) return {};
  if (py::isinstance<py::int_>(target)) return {target.cast<int64_t>()};
  if (py::isinstance<py::array>(target)) {
    const api::Array t = from_numpy(target, "target");
    if (t.dtype() != api::DType::I64) throw py::type_error("target: expected an int64 array");
    return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.size());
  }
  return target.cast<std::vector<int64_t>>();
}

}  // namespace

PYBIND11_MODULE(xdnn, m) {
  m.doc() = "xdnn: a framework-free deep-learning and explainability engine (see xdnn/xdnn.h)";
  static py::exception<api::Error> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const api::Error& e) {
      error(e.what());
    }
  });

  py::class_<api::Model>(m, "Model", "a loaded model; call it on an array for its first output (logits)")
      .def("__call__",
           [](const api::Model& model, const py::object& x) { return to_numpy(model.run(from_numpy(x, "x"))); })
      .def("layers",
           [](const api::Model& model) {
             std::vector<std::pair<std::string, std::string>> out;
             for (const auto& l : model.layers()) out.emplace_back(l.node, l.kind);
             return out;
           })
      .def("save_onnx", &api::Model::save_onnx, py::arg("path"));

  m.def("load", &api::Model::load, py::arg("spec"), "load a model: .onnx file, zoo name or xdnn checkpoint");
  m.def(
      "explain",
      [](const api::Model& model, const py::object& x, const std::string& method, const py::object& target,
         const py::kwargs& kwargs) {
        const api::Array in = from_numpy(x, "x");
        return to_numpy(api::explain(model, in, method, targets_from(target), options_from(kwargs)));
      },
      py::arg("model"), py::arg("x"), py::arg("method"), py::arg("target") = py::none(),
      "attribution of the model's prediction; options as `xdnn explain` takes them (steps=50, composite=...)");
  m.def("methods", [] {
    std::vector<py::dict> out;
    for (const auto& info : api::methods()) {
      py::dict options;
      for (const auto& o : info.options) options[py::str(o.name)] = py::make_tuple(o.default_value, o.help);
      out.push_back(py::dict(py::arg("name") = info.name, py::arg("description") = info.description,
                             py::arg("options") = options));
    }
    return out;
  });
  m.def(
      "influence",
      [](const std::string& method, const std::vector<std::string>& checkpoints, const py::object& train_x,
         const py::object& train_y, const py::object& test_x, const py::object& test_y, const py::kwargs& kwargs) {
        const api::Array tx = from_numpy(train_x, "train_x"), ty = from_numpy(train_y, "train_y");
        const api::Array ex = test_x.is_none() ? api::Array() : from_numpy(test_x, "test_x");
        const api::Array ey = test_y.is_none() ? api::Array() : from_numpy(test_y, "test_y");
        return to_numpy(api::influence(method, checkpoints, tx, ty, ex, ey, options_from(kwargs)));
      },
      py::arg("method"), py::arg("checkpoints"), py::arg("train_x"), py::arg("train_y"), py::arg("test_x") = py::none(),
      py::arg("test_y") = py::none(), "training-data influence scores, as `xdnn influence`");
  m.def(
      "train",
      [](const py::object& train_x, const py::object& train_y, const py::object& test_x, const py::object& test_y,
         const std::string& model, int epochs, const std::string& out_dir, uint64_t seed, const std::string& optimizer,
         double lr, int64_t batch_size) {
        api::TrainOptions o;
        o.model = model;
        o.epochs = epochs;
        o.out_dir = out_dir;
        o.seed = seed;
        o.optimizer = optimizer;
        o.lr = lr;
        o.batch_size = batch_size;
        const auto results = api::train(o, from_numpy(train_x, "train_x"), from_numpy(train_y, "train_y"),
                                        from_numpy(test_x, "test_x"), from_numpy(test_y, "test_y"));
        std::vector<py::dict> out;
        for (const auto& r : results)
          out.push_back(py::dict(py::arg("epoch") = r.epoch, py::arg("train_loss") = r.train_loss,
                                 py::arg("test_loss") = r.test_loss, py::arg("test_accuracy") = r.test_accuracy,
                                 py::arg("seconds") = r.seconds, py::arg("checkpoint") = r.checkpoint));
        return out;
      },
      py::arg("train_x"), py::arg("train_y"), py::arg("test_x"), py::arg("test_y"), py::arg("model") = "fashion-cnn",
      py::arg("epochs") = 2, py::arg("out_dir") = "", py::arg("seed") = 0, py::arg("optimizer") = "adam",
      py::arg("lr") = 1e-3, py::arg("batch_size") = 64, "train an image zoo model, as `xdnn train`");
  m.def(
      "fashion_mnist",
      [](const std::string& split, int64_t limit) {
        const api::LabeledArrays d = api::fashion_mnist(split, limit);
        return py::make_tuple(to_numpy(d.x), to_numpy(d.y));
      },
      py::arg("split"), py::arg("limit") = -1, "Fashion-MNIST images (N, 1, 28, 28) float32 and labels int64");
  m.attr("__version__") = api::version();
}
