// Convolution epilogues fused for inference (issue 15): in a forward-only graph, a chain
//   Conv2d → [Identity (a BatchNorm folded by fold_batchnorm_for_inference)] → [Add residual] → [ReLU | Clip]
// (at least one of Add and the activation) becomes one node that computes the chain's last value with
// ops::conv2d_forward_fused (engine/conv_epilogue.h): the convolution's output is stored once, with bias,
// residual and activation applied in the store, instead of being written, read and written again by each
// node. Same bits as the unfused chain (tests/test_conv_epilogue.cpp).
//
// The fused node sits at the chain's last node (the residual is computed by then); the chain's other nodes
// read and write nothing, so their values (the convolution's output, the sum before the ReLU) are absent
// from a forward pass's tape. A chain is fused only when each of its inner values is read by the next node
// alone and is not a model output. The fused node has no backward pass (its pre-activation is never
// stored): the graph is for consumers that call the model only forward (explain/inference_graph.h:
// `run` and the perturbation methods), never for gradients, relevance or named intermediate tensors.
// The original model is not changed (the copy shares every untouched layer).
//
// A fused chain whose last value is read only by a 2x2 stride-2 MaxPool2d (no padding, dilation or
// ceil_mode; up to last_node) takes the pool too: ops::conv2d_forward_fused_pool (engine/conv_pool.h)
// stores only the maxima, the chain's full-resolution value is never written (CPU; other devices run the
// two steps). Same bits (tests/test_conv_epilogue.cpp).
//
// Every other MaxPool2d node (up to last_node) becomes a forward-only max-pool too: it computes the maxima alone
// (ops::maxpool2d_forward_values, engine/ops_pool_values.h), without the arg-max indices or tap codes that
// MaxPool2d::forward writes for a backward pass; same bits (tests/test_maxpool_values.cpp), no backward.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn {

// last_node: only chains whose nodes all have an index <= last_node are fused (Grad-CAM runs the backward
// of the nodes after its layer's producer only, so the chains up to that producer need none).
Model fuse_conv_epilogues_for_inference(const Model& model, std::vector<std::string>* fused = nullptr,
                                        int last_node = std::numeric_limits<int>::max());

}  // namespace xdnn
