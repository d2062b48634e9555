// Saved (layers/saved.h): named entries, replacement, and one-line errors for names that are missing or
// of another kind — a layer pass given the wrong saved state throws instead of reading past a vector.
#include <doctest/doctest.h>

#include <string>

#include "engine/error.h"
#include "layers/relu.h"
#include "layers/transformer_encoder.h"

using namespace xdnn;

TEST_CASE("Saved: entries by name, of every kind; putting a name again replaces it") {
  Saved s;
  CHECK(s.empty());
  const Tensor x = Tensor::full({2, 3}, 1.5);
  s.put("x", x);
  s.set_int("heads", 4);
  s.set_ints("pads", {1, 2, 3});
  s.set_double("eps", 1e-5);
  s.put_list("inputs", {x, Tensor()});
  s.put_sub("inner").put("y", Tensor::full({1}, 7.0));
  CHECK(s.has("x"));
  CHECK_FALSE(s.has("y"));
  CHECK(s.tensor("x").raw_data() == x.raw_data());  // kept, not copied
  CHECK(s.get_int("heads") == 4);
  CHECK(s.get_ints("pads") == std::vector<int64_t>{1, 2, 3});
  CHECK(s.get_double("eps") == 1e-5);
  CHECK(s.list("inputs").size() == 2);
  CHECK_FALSE(s.list("inputs")[1].defined());
  CHECK(s.sub("inner").tensor("y").item(0) == 7.0);
  // Names are compared by content, not by pointer.
  const std::string name = "heads";
  CHECK(s.get_int(name.c_str()) == 4);
  s.set_int("heads", 8);
  CHECK(s.get_int("heads") == 8);
  s.put("heads", x);  // a name put again as another kind replaces the entry
  CHECK(s.tensor("heads").numel() == 6);
  s.clear();
  CHECK(s.empty());
}

TEST_CASE("Saved: a missing name or the wrong kind is a one-line error naming the entry") {
  Saved s;
  CHECK_THROWS_WITH_AS(s.tensor("x"), doctest::Contains("saved state has no tensor 'x'"), Error);
  s.put("x", Tensor::full({1}, 1.0));
  s.set_int("inputs", 2);
  CHECK_THROWS_WITH_AS(s.tensor("mask"), "saved state has no tensor 'mask' (it has: x, inputs)", Error);
  CHECK_THROWS_WITH_AS(s.get_int("x"), "saved state: entry 'x' holds a value of kind tensor, not integer", Error);
  CHECK_THROWS_WITH_AS(s.list("inputs"),
                       doctest::Contains("entry 'inputs' holds a value of kind integer, not tensor list"), Error);
  CHECK_THROWS_WITH_AS(s.sub("attn"), doctest::Contains("no inner state 'attn'"), Error);
  CHECK_THROWS_WITH_AS(s.get_double("eps"), doctest::Contains("no double 'eps'"), Error);
}

TEST_CASE("Saved: a layer pass given state its forward did not write throws naming the entry") {
  ReLU relu;
  Saved empty;
  CHECK_THROWS_WITH_AS(relu.backward({Tensor::full({2}, 1.0)}, empty, {}), doctest::Contains("'x'"), Error);
  TransformerEncoderLayer enc("enc", TransformerEncoderConfig{4, 2, 6, false, false, false, 1e-5}, DType::F64);
  Saved wrong;
  relu.forward({Tensor::full({2, 3, 4}, 1.0, DType::F64)}, wrong, {});
  CHECK_THROWS_WITH_AS(enc.backward({Tensor::full({2, 3, 4}, 1.0, DType::F64)}, wrong, {}),
                       doctest::Contains("no inner state 'attn'"), Error);
  CHECK(enc.intermediates(wrong).empty());
}
