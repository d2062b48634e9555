#include "layers/saved.h"

#include <cstring>
#include <string>

#include "engine/error.h"

namespace xdnn {

namespace {
const char* kind_name(int kind) {
  static const char* const names[] = {"tensor", "tensor list", "integer", "integer list", "double", "inner state"};
  return names[kind];
}
}  // namespace

const Saved::Entry* Saved::find(const char* name) const {
  for (const Entry& e : entries_)
    if (e.name == name || std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

const Saved::Entry& Saved::get(const char* name, Kind kind) const {
  const Entry* e = find(name);
  if (e && e->kind == kind) return *e;
  if (e)
    throw Error(std::string("saved state: entry '") + name + "' holds a value of kind " +
                kind_name(static_cast<int>(e->kind)) + ", not " + kind_name(static_cast<int>(kind)));
  std::string have;
  for (const Entry& x : entries_) have += (have.empty() ? "" : ", ") + std::string(x.name);
  throw Error(std::string("saved state has no ") + kind_name(static_cast<int>(kind)) + " '" + name +
              "' (it has: " + (have.empty() ? "nothing; was the forward pass run with it?" : have) + ")");
}

Saved::Entry& Saved::slot(const char* name, Kind kind) {
  for (Entry& e : entries_)
    if (e.name == name || std::strcmp(e.name, name) == 0) {
      e = Entry{name, kind, {}, {}, {}, 0.0, nullptr};
      return e;
    }
  if (entries_.empty()) entries_.reserve(4);
  entries_.push_back(Entry{name, kind, {}, {}, {}, 0.0, nullptr});
  return entries_.back();
}

void Saved::put(const char* name, Tensor t) { slot(name, Kind::Tensor).tensor = std::move(t); }
const Tensor& Saved::tensor(const char* name) const { return get(name, Kind::Tensor).tensor; }

void Saved::put_list(const char* name, std::vector<Tensor> tensors) {
  slot(name, Kind::List).list = std::move(tensors);
}
const std::vector<Tensor>& Saved::list(const char* name) const { return get(name, Kind::List).list; }

void Saved::set_int(const char* name, int64_t value) { slot(name, Kind::Int).ints = {value}; }
int64_t Saved::get_int(const char* name) const { return get(name, Kind::Int).ints[0]; }

void Saved::set_ints(const char* name, std::vector<int64_t> values) { slot(name, Kind::Ints).ints = std::move(values); }
const std::vector<int64_t>& Saved::get_ints(const char* name) const { return get(name, Kind::Ints).ints; }

void Saved::set_double(const char* name, double value) { slot(name, Kind::Double).number = value; }
double Saved::get_double(const char* name) const { return get(name, Kind::Double).number; }

Saved& Saved::put_sub(const char* name) {
  Entry& e = slot(name, Kind::Sub);
  e.sub = std::make_shared<Saved>();
  return *e.sub;
}
const Saved& Saved::sub(const char* name) const { return *get(name, Kind::Sub).sub; }

}  // namespace xdnn
