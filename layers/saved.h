// Saved: what a layer's forward call keeps for the backward, relevance and R-operator passes of the
// same call, by name, so a reader of the layer sees what it keeps and why:
//   tensors                put("x", x)                 tensor("x")
//   lists of tensors       put_list("inputs", xs)      list("inputs")        (Concat's inputs, per-layer states)
//   integers, int lists    set_int("heads", h)         get_int("heads")      set_ints / get_ints
//   doubles                set_double("eps", e)        get_double("eps")
//   inner layers' state    put_sub("attn")             sub("attn")           (a layer built from layers)
// Names are string literals (kept as pointers, compared by content). A layer keeps a handful of entries,
// so they sit in one flat vector searched linearly: no map, one allocation per forward call. Putting a
// name again replaces its entry. Reading a name that is not there, or as the wrong kind, throws
// xdnn::Error naming the entry and what the state holds — never undefined behaviour.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace xdnn {

class Saved {
 public:
  void put(const char* name, Tensor t);
  const Tensor& tensor(const char* name) const;
  void put_list(const char* name, std::vector<Tensor> tensors);
  const std::vector<Tensor>& list(const char* name) const;
  void set_int(const char* name, int64_t value);
  int64_t get_int(const char* name) const;
  void set_ints(const char* name, std::vector<int64_t> values);
  const std::vector<int64_t>& get_ints(const char* name) const;
  void set_double(const char* name, double value);
  double get_double(const char* name) const;
  // A fresh, empty Saved stored under `name`, for an inner layer's forward call.
  Saved& put_sub(const char* name);
  const Saved& sub(const char* name) const;

  bool has(const char* name) const { return find(name) != nullptr; }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

 private:
  enum class Kind : uint8_t { Tensor, List, Int, Ints, Double, Sub };
  struct Entry {
    const char* name;
    Kind kind;
    xdnn::Tensor tensor;
    std::vector<xdnn::Tensor> list;
    std::vector<int64_t> ints;  // Int: one value
    double number = 0.0;
    std::shared_ptr<Saved> sub;
  };
  const Entry* find(const char* name) const;
  const Entry& get(const char* name, Kind kind) const;  // throws when absent or of another kind
  Entry& slot(const char* name, Kind kind);             // the (cleared) entry of that name, or a new one
  std::vector<Entry> entries_;
};

}  // namespace xdnn
