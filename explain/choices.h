// Registries of the smaller named choices a user makes: LRP composites (explain/lrp/composite.h),
// influence methods (explain/influence/influence.h), attacks (explain/attack.h) and integration rules
// (explain/integrated_gradients.h). Each is a list of entries with a `name`, a one-line `description` and
// what the choice does; the CLI's --help, the report and the benchmarks list the names from here, and an
// unknown name fails with one line that lists the known ones.
//
// The built-in entries are the list a registry starts with (a function-local static, so a registration
// made during static initialisation, e.g. a method's help text built from names(), finds them); add()
// appends more at run time. Entries keep the order they were added in: the papers' order, not A-Z.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace xdnn::explain {

template <class Entry>
class ChoiceRegistry {
 public:
  // `what` names the choice in messages: "LRP composite", "influence method", ...
  ChoiceRegistry(std::string what, std::vector<Entry> builtin) : what_(std::move(what)), entries_(std::move(builtin)) {}

  // Replaces an entry of the same name (a user's own composite may refine a built-in one).
  void add(Entry entry) {
    for (auto& e : entries_)
      if (e.name == entry.name) {
        e = std::move(entry);
        return;
      }
    entries_.push_back(std::move(entry));
  }

  const std::vector<Entry>& entries() const { return entries_; }

  bool contains(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return true;
    return false;
  }

  const Entry& find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return e;
    throw Error("unknown " + what_ + " '" + name + "'", "valid: " + names(", "));
  }

  // "epsilon-plus, epsilon-alpha2-beta1, ..." (sep ", ") or "fgsm | pgd" (sep " | ").
  std::string names(const std::string& sep) const {
    std::string s;
    for (const auto& e : entries_) s += (s.empty() ? "" : sep) + e.name;
    return s;
  }

 private:
  std::string what_;
  std::vector<Entry> entries_;
};

}  // namespace xdnn::explain
