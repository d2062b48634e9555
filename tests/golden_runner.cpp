// Golden-case runner: what /work/shared/golden/check.py does, without Python, so `meson test` can hold
// the engine to the golden contract (tests/golden/README.md).
//
//   golden_runner --bin PATH_TO_XDNN --cases DIR [--filter PREFIX]... [--exclude PREFIX]...
//                 [--keep OUTDIR] [--timeout S] [--append ARG]...
//
// Every folder below DIR holding a case.json is a case, named by its path relative to DIR. A case is run
// when its name starts with one of the --filter prefixes (all cases when none is given) and with none of
// the --exclude prefixes. For each case the binary runs with the case's "command" in the case folder, the
// value after "--out" redirected to a scratch folder; the output must be a float32 .npy of the expected
// shape with no NaN/Inf, and rel_err = ||out − expected||₂ / ||expected||₂ (plain ||out||₂ when the
// expected array is all zero) must not exceed the case's tolerance. One line per case, then
// "N passed, M failed". --append adds arguments after each case's command (bench/gpu_check.sh runs every
// case with `--append --device --append cuda`). Exit status 0 only when nothing failed and at least one case ran: a
// method that is not implemented fails its cases (non-zero exit of the binary), nothing is skipped.
#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "models/io/npy.h"

namespace fs = std::filesystem;

namespace {

struct Args {
  std::string bin, cases, keep;
  std::vector<std::string> filters, excludes, append;
  double timeout = 120.0;
};

struct Outcome {
  bool ok = false;
  double err = -1;  // < 0: not computed
  double tol = NAN;
  std::string reason;
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  return last.empty() ? "(no message)" : last;
}

// Runs argv in `cwd`, stdout discarded, stderr to `err_path`. Returns the exit status, -1 on timeout,
// -2 when the binary could not be started.
int run_process(const std::vector<std::string>& argv, const std::string& cwd, const std::string& err_path,
                double timeout) {
  pid_t pid = fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (devnull >= 0) dup2(devnull, 0), dup2(devnull, 1);
    if (err >= 0) dup2(err, 2);
    if (chdir(cwd.c_str()) != 0) _exit(127);
    std::vector<char*> c;
    for (const auto& a : argv) c.push_back(const_cast<char*>(a.c_str()));
    c.push_back(nullptr);
    execv(c[0], c.data());
    std::fprintf(stderr, "cannot run %s\n", c[0]);
    _exit(127);
  }
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (r < 0) return -2;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Outcome run_case(const Args& args, const fs::path& case_dir, const fs::path& scratch) {
  Outcome o;
  nlohmann::json c;
  {
    std::ifstream f(case_dir / "case.json");
    c = nlohmann::json::parse(f);
  }
  o.tol = c.at("tolerance").get<double>();
  std::vector<std::string> argv{args.bin};
  const std::string out_name = c.at("output").get<std::string>();
  fs::create_directories(scratch);
  const fs::path out_path = scratch / fs::path(out_name).filename();
  fs::remove(out_path);
  bool replaced = false;
  for (const auto& a : c.at("command")) {
    std::string s = a.get<std::string>();
    if (argv.size() >= 2 && argv.back() == "--out" && s == out_name) {
      s = out_path.string();
      replaced = true;
    }
    argv.push_back(s);
  }
  if (!replaced) {
    o.reason = "case.json has no '--out " + out_name + "' argument";
    return o;
  }
  argv.insert(argv.end(), args.append.begin(), args.append.end());
  const fs::path err_path = scratch / "stderr.txt";
  const int rc = run_process(argv, case_dir.string(), err_path.string(), args.timeout);
  if (rc == -1) {
    std::ostringstream s;
    s << "timeout after " << args.timeout << " s";
    o.reason = s.str();
    return o;
  }
  if (rc == -2) {
    o.reason = "cannot run binary " + args.bin;
    return o;
  }
  if (rc != 0) {
    o.reason = "exit " + std::to_string(rc) + ": " + last_line(err_path.string());
    return o;
  }
  if (!fs::exists(out_path)) {
    o.reason = "missing output (exit 0 but no output file written)";
    return o;
  }
  xdnn::Tensor out, expected;
  try {
    out = xdnn::load_npy(out_path.string());
  } catch (const std::exception& e) {
    o.reason = std::string("bad output .npy: ") + e.what();
    return o;
  }
  expected = xdnn::load_npy((case_dir / c.at("expected").get<std::string>()).string());
  if (out.dtype() != xdnn::DType::F32) {
    o.reason = std::string("output dtype ") + xdnn::dtype_name(out.dtype()) + ", expected float32";
    return o;
  }
  if (out.shape() != expected.shape()) {
    o.reason = "shape " + xdnn::shape_str(out.shape()) + " != expected " + xdnn::shape_str(expected.shape());
    return o;
  }
  double num = 0, den = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double a = out.item(i), b = expected.item(i);
    if (!std::isfinite(a)) {
      o.reason = "output holds NaN or Inf";
      return o;
    }
    num += (a - b) * (a - b);
    den += b * b;
  }
  o.err = den > 0 ? std::sqrt(num) / std::sqrt(den) : std::sqrt(num);
  o.ok = o.err <= o.tol;
  return o;
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "error: %s\nusage: golden_runner --bin XDNN --cases DIR [--filter PREFIX]... [--exclude PREFIX]... "
               "[--keep DIR] [--timeout S] [--append ARG]...\n",
               msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--bin")
      args.bin = v;
    else if (a == "--cases")
      args.cases = v;
    else if (a == "--filter")
      args.filters.push_back(v);
    else if (a == "--exclude")
      args.excludes.push_back(v);
    else if (a == "--keep")
      args.keep = v;
    else if (a == "--timeout")
      args.timeout = std::atof(v.c_str());
    else if (a == "--append")
      args.append.push_back(v);
    else
      return usage(("unknown argument " + a).c_str());
  }
  if (args.bin.empty() || args.cases.empty()) return usage("--bin and --cases are required");
  args.bin = fs::absolute(args.bin).string();
  const fs::path root = fs::absolute(args.cases);
  if (!fs::is_directory(root)) return usage(("no such folder: " + args.cases).c_str());

  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.path().filename() != "case.json") continue;
    const std::string name = fs::relative(entry.path().parent_path(), root).string();
    bool in = args.filters.empty();
    for (const auto& f : args.filters) in = in || starts_with(name, f);
    for (const auto& x : args.excludes) in = in && !starts_with(name, x);
    if (in) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) return usage("no case.json found matching the filters");

  fs::path scratch_root;
  if (!args.keep.empty()) {
    scratch_root = fs::absolute(args.keep);
  } else {
    std::string tmpl = (fs::temp_directory_path() / "xdnn-golden-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return usage("cannot create a scratch folder");
    scratch_root = tmpl;
  }
  size_t width = 0;
  for (const auto& n : names) width = std::max(width, n.size());
  int passed = 0, failed = 0;
  for (const auto& name : names) {
    Outcome o;
    try {
      o = run_case(args, root / name, scratch_root / name);
    } catch (const std::exception& e) {
      o.ok = false;
      o.reason = std::string("broken case: ") + e.what();
    }
    char tol[32];
    std::snprintf(tol, sizeof tol, "%.0e", o.tol);
    if (o.ok) {
      ++passed;
      std::printf("%-*s  PASS  rel_err %.3e  tol %s\n", static_cast<int>(width), name.c_str(), o.err, tol);
    } else {
      ++failed;
      if (o.err >= 0)
        std::printf("%-*s  FAIL  rel_err %.3e  tol %s\n", static_cast<int>(width), name.c_str(), o.err, tol);
      else
        std::printf("%-*s  FAIL  tol %s  %s\n", static_cast<int>(width), name.c_str(), tol, o.reason.c_str());
    }
    std::fflush(stdout);
  }
  if (args.keep.empty()) {
    std::error_code ec;
    fs::remove_all(scratch_root, ec);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
