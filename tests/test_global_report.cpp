// The global report's frame (explain/global/section.h): a section registered here, the checks that run
// before any section (unknown name, option taken by no section, required option), and the page.
#include <doctest/doctest.h>

#include "engine/error.h"
#include "explain/global/section.h"
#include "explain/html.h"
#include "model_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

int g_runs = 0;

// A section that reports what it was given, so the test sees the context and the resolved options.
const GlobalSectionRegistration kEchoSection(
    {"test-echo",
     "Echo",
     "test only: shows the data shape and its option",
     {{"factor", "2", "a number", "INT"}},
     [](const GlobalContext& c) {
       ++g_runs;
       return html_table({"rows", "factor"}, {{std::to_string(c.data.dim(0)), c.options.get("factor", "?")}});
     }});

GlobalReportRequest request(const Model& model) {
  GlobalReportRequest req;
  req.context.model = &model;
  req.context.model_label = "mlp <test>";
  req.context.data = Tensor::zeros({5, 3}, DType::F64);
  req.sections = {"test-echo"};
  return req;
}

}  // namespace

TEST_CASE("global report: sections render in a self-contained page with their options") {
  Rng rng(7);
  Model model = testing::mlp_f64(rng, "x", 3, 4, 2);
  GlobalReportRequest req = request(model);
  req.options = {{"factor", "5"}};
  g_runs = 0;
  const std::string page = render_global_report(req);
  CHECK(g_runs == 1);
  CHECK(page.find("<h2 id=\"test-echo\">Echo") != std::string::npos);
  CHECK(page.find("<td>5</td><td>5</td>") != std::string::npos);  // 5 rows, factor 5
  CHECK(page.find("mlp &lt;test&gt;") != std::string::npos);      // escaped label
  CHECK(page.find("<script") == std::string::npos);
  CHECK(global_section_names().find("test-echo") != std::string::npos);
}

TEST_CASE("global report: names and options are checked before any section runs") {
  Rng rng(7);
  Model model = testing::mlp_f64(rng, "x", 3, 4, 2);
  g_runs = 0;
  GlobalReportRequest unknown = request(model);
  unknown.sections = {"test-echo", "no-such-section"};
  CHECK_THROWS_WITH_AS(render_global_report(unknown), doctest::Contains("unknown global section 'no-such-section'"),
                       Error);
  GlobalReportRequest stray = request(model);
  stray.options = {{"colour", "red"}};
  CHECK_THROWS_WITH_AS(render_global_report(stray), doctest::Contains("--global-option colour"), Error);
  GlobalReportRequest typed = request(model);
  typed.options = {{"factor", "two"}};
  CHECK_THROWS_AS(render_global_report(typed), Error);
  GlobalReportRequest twice = request(model);
  twice.sections = {"test-echo", "test-echo"};
  CHECK_THROWS_WITH_AS(render_global_report(twice), doctest::Contains("named twice"), Error);
  CHECK(g_runs == 0);
}
