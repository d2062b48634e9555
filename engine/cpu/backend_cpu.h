// The CPU table of engine/backend.h: each engine/cpu/<family>.cpp fills its own entries, so an op's CPU
// implementation, its checks and its table entry stay in one file.
#pragma once
#include "engine/backend.h"

namespace xdnn {
// The CPU implementations (engine/cpu/backend_cpu.cpp).
const Backend& cpu_backend_table();
}  // namespace xdnn

namespace xdnn::ops {
void add_cpu_matmul(Backend& b);
void add_cpu_elementwise(Backend& b);
void add_cpu_conv(Backend& b);
void add_cpu_pooling(Backend& b);
void add_cpu_avgpool(Backend& b);
void add_cpu_activations(Backend& b);
void add_cpu_softmax(Backend& b);
void add_cpu_batchnorm(Backend& b);
void add_cpu_sequence(Backend& b);
void add_cpu_rnn_cells(Backend& b);
void add_cpu_pointwise(Backend& b);
void add_cpu_data_movement(Backend& b);
void add_cpu_fill(Backend& b);
void add_cpu_optim(Backend& b);
void add_cpu_reduce_axes(Backend& b);
void add_cpu_resize(Backend& b);
void add_cpu_mod_range(Backend& b);
void add_cpu_influence(Backend& b);
void add_cpu_sort(Backend& b);
}  // namespace xdnn::ops
