// ONNX Einsum (opset 12+) for the patterns of attention and linear maps, rewritten at import into the
// layers that already carry every pass: Transpose, ReduceSum, Unsqueeze / Squeeze and MatMul.
//
// One operand: a permutation, summing the letters absent from the output ("ij->ji", "bij->bj").
// Two operands, letters classified against the output:
//   contracted  in both operands, not in the output (at most one: the K of a matrix product)
//   L / R       the last output letter found only in A / only in B (the matrix product's rows / columns)
//   batch       every other output letter; an operand lacking one gets a size-1 axis (MatMul broadcasts)
//   summed      in one operand only and not in the output: summed first
// A is permuted to (batch..., L, K) and B to (batch..., K, R), with size-1 axes standing in for an absent
// L, R or K; MatMul gives (batch..., L, R); the stand-in axes are squeezed and the result permuted to the
// output order. "bhqd,bhkd->bhqk", "bhqk,bhkd->bhqd", "bij,jk->bik", "bi,bi->b", "i,j->ij" all fit.
// Not supported (one-line error): a letter repeated within an operand (diagonals), two or more
// contracted letters, ellipses, three or more operands.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "layers/matmul.h"
#include "layers/reduce.h"
#include "layers/reshape.h"
#include "layers/transpose.h"
#include "models/onnx/import.h"

namespace xdnn {
namespace {

struct Equation {
  std::vector<std::string> operands;
  std::string output;
};

Equation parse_equation(const OnnxNodeContext& ctx, std::string eq) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  if (eq.find("...") != std::string::npos) throw ctx.error("Einsum with an ellipsis ('...') is not supported");
  Equation e;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  size_t start = 0;
  for (size_t i = 0; i <= lhs.size(); ++i)
    if (i == lhs.size() || lhs[i] == ',') e.operands.push_back(lhs.substr(start, i - start)), start = i + 1;
  std::map<char, int> count;
  for (const auto& op : e.operands)
    for (char c : op) {
      if (!std::isalpha(static_cast<unsigned char>(c))) throw ctx.error("invalid Einsum equation '" + eq + "'");
      if (std::count(op.begin(), op.end(), c) > 1)
        throw ctx.error("Einsum: letter '" + std::string(1, c) + "' repeated within operand '" + op +
                        "' (diagonals) is not supported");
      ++count[c];
    }
  if (arrow != std::string::npos) {
    e.output = eq.substr(arrow + 2);
  } else {  // implicit output: the letters used once, in alphabetical order
    for (const auto& [c, n] : count)
      if (n == 1) e.output += c;
  }
  for (char c : e.output)
    if (!count.count(c)) throw ctx.error("Einsum: output letter '" + std::string(1, c) + "' is in no operand");
  return e;
}

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// Adds layers for one step; returns the new value name.
struct Builder {
  OnnxNodeContext& ctx;
  int step = 0;
  std::string add(std::shared_ptr<Layer> layer, const std::vector<std::string>& ins, const std::string& what,
                  const std::string& out = "") {
    const std::string y = out.empty() ? ctx.temp_name(what + std::to_string(step)) : out;
    ctx.add_layer(std::move(layer), ins, {y}, ctx.temp_name(what + std::to_string(step)));
    ++step;
    return y;
  }
  // Permutes value v with letters `have` into the order `want` (same letters).
  std::string permute(const std::string& v, const std::string& have, const std::string& want,
                      const std::string& out = "") {
    if (have == want && out.empty()) return v;
    std::vector<int64_t> perm;
    for (char c : want) perm.push_back(static_cast<int64_t>(have.find(c)));
    return add(std::make_shared<Transpose>(perm), {v}, "Transpose", out);
  }
  // Sums the letters of `letters` that `keep` rejects; updates `letters`.
  std::string sum_out(const std::string& v, std::string& letters, const std::function<bool(char)>& keep) {
    std::vector<int64_t> axes;
    std::string kept;
    for (size_t i = 0; i < letters.size(); ++i)
      if (keep(letters[i]))
        kept += letters[i];
      else
        axes.push_back(static_cast<int64_t>(i));
    if (axes.empty()) return v;
    letters = kept;
    return add(std::make_shared<Reduce>(Reduce::Op::Sum, axes, false), {v}, "ReduceSum");
  }
};

void convert_einsum(OnnxNodeContext& ctx) {
  ctx.check_attrs({"equation"});
  const Equation e = parse_equation(ctx, ctx.attr_string("equation", ""));
  if (static_cast<int>(e.operands.size()) != ctx.num_inputs())
    throw ctx.error("equation has " + std::to_string(e.operands.size()) + " operands, the node " +
                    std::to_string(ctx.num_inputs()) + " inputs");
  Builder b{ctx};
  const std::string& out = e.output;
  if (e.operands.size() == 1) {
    std::string letters = e.operands[0];
    const std::string v = b.sum_out(ctx.input(0), letters, [&](char c) { return has(out, c); });
    if (letters == out) {
      b.add(std::make_shared<Identity>(), {v}, "Identity", ctx.output(0));
      return;
    }
    b.permute(v, letters, out, ctx.output(0));
    return;
  }
  if (e.operands.size() != 2) throw ctx.error("Einsum with more than two operands is not supported");
  std::string la = e.operands[0], lb = e.operands[1];
  std::string a = b.sum_out(ctx.input(0), la, [&](char c) { return has(out, c) || has(lb, c); });
  std::string bb = b.sum_out(ctx.input(1), lb, [&](char c) { return has(out, c) || has(la, c); });
  std::string contracted, batch;
  char L = 0, R = 0;
  for (char c : la)
    if (has(lb, c) && !has(out, c)) contracted += c;
  if (contracted.size() > 1)
    throw ctx.error("Einsum contracting more than one letter ('" + contracted + "') is not supported");
  for (char c : out) {
    if (has(la, c) && !has(lb, c)) L = c;
    if (has(lb, c) && !has(la, c)) R = c;
  }
  for (char c : out)
    if (c != L && c != R) batch += c;
  // Stand-in size-1 axes for letters an operand lacks, appended and then permuted into place.
  auto prepare = [&](std::string v, std::string letters, const std::string& want) {
    std::vector<int64_t> axes;
    std::string with = letters;
    for (char c : want)
      if (!has(letters, c)) axes.push_back(static_cast<int64_t>(with.size())), with += c;
    if (!axes.empty()) v = b.add(std::make_shared<Reshape>(Reshape::Kind::Unsqueeze, axes), {v}, "Unsqueeze");
    return b.permute(v, with, want);
  };
  const char kL = L ? L : '<', kR = R ? R : '>', kK = contracted.empty() ? '^' : contracted[0];
  const std::string want_a = batch + kL + kK, want_b = batch + kK + kR;
  a = prepare(a, la, want_a);
  bb = prepare(bb, lb, want_b);
  std::string letters = batch + kL + kR;
  std::vector<int64_t> squeeze;
  if (!L) squeeze.push_back(static_cast<int64_t>(batch.size()));
  if (!R) squeeze.push_back(static_cast<int64_t>(batch.size()) + 1);
  if (squeeze.empty() && letters == out) {  // the MatMul writes the output itself (CP-LRP looks for it)
    b.add(std::make_shared<MatMul>(), {a, bb}, "MatMul", ctx.output(0));
    return;
  }
  std::string y = b.add(std::make_shared<MatMul>(), {a, bb}, "MatMul");
  if (!squeeze.empty()) {
    y = b.add(std::make_shared<Reshape>(Reshape::Kind::Squeeze, squeeze), {y}, "Squeeze");
    std::string kept;
    for (char c : letters)
      if (c != '<' && c != '>') kept += c;
    letters = kept;
  }
  if (letters == out)
    b.add(std::make_shared<Identity>(), {y}, "Identity", ctx.output(0));
  else
    b.permute(y, letters, out, ctx.output(0));
}

OnnxOpRegistration reg_einsum("Einsum", convert_einsum);

}  // namespace
}  // namespace xdnn
