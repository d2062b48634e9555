// GRU: everything lives in the shared recurrent driver (layers/rnn.cpp) and the GRU cell
// (engine/cpu/rnn_cells.cpp); this file registers the test examples.
#include "layers/gru.h"

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration gru_simple{
    {"GRU/1layer", [](Rng& rng) {
       auto layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 1, false, true}, DType::F64);
       layer->init(rng);
       return LayerExample{layer, {random_tensor({2, 5, 3}, rng)}};
     }}};
LayerExampleRegistration gru_stacked_bidi{
    {"GRU/2layer-bidirectional-lengths-h0", [](Rng& rng) {
       auto layer = std::make_shared<GRU>("gru", RecurrentConfig{3, 4, 2, true, true}, DType::F64);
       layer->init(rng);
       Tensor lengths = Tensor::from_vector({3}, std::vector<int64_t>{4, 1, 3});
       return LayerExample{layer, {random_tensor({3, 4, 3}, rng), lengths, random_tensor({3, 4, 4}, rng)}};
     }}};
}  // namespace
}  // namespace xdnn
