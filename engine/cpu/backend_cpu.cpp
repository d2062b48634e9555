// The CPU table: host memory (64-byte aligned, engine/tensor.cpp's Storage allocates it directly) and
// the implementations in engine/cpu/<family>.cpp.
#include "engine/cpu/backend_cpu.h"

namespace xdnn {

const Backend& cpu_backend_table() {
  static const Backend table = [] {
    Backend b;
    b.name = "cpu";
    ops::add_cpu_matmul(b);
    ops::add_cpu_elementwise(b);
    ops::add_cpu_conv(b);
    ops::add_cpu_pooling(b);
    ops::add_cpu_avgpool(b);
    ops::add_cpu_activations(b);
    ops::add_cpu_softmax(b);
    ops::add_cpu_batchnorm(b);
    ops::add_cpu_sequence(b);
    ops::add_cpu_rnn_cells(b);
    ops::add_cpu_pointwise(b);
    ops::add_cpu_data_movement(b);
    ops::add_cpu_fill(b);
    ops::add_cpu_optim(b);
    ops::add_cpu_reduce_axes(b);
    ops::add_cpu_resize(b);
    ops::add_cpu_mod_range(b);
    ops::add_cpu_influence(b);
    ops::add_cpu_sort(b);
    return b;
  }();
  return table;
}

}  // namespace xdnn
