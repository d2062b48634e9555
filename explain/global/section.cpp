#include "explain/global/section.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/html.h"
#include "explain/registry.h"

namespace xdnn::explain {
namespace {

// Function-local so that registrations in other translation units may run in any order.
std::vector<GlobalSection>& registered_sections() {
  static std::vector<GlobalSection> sections;
  return sections;
}

const char* kGlobalStyle = R"(body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 4px}p.meta{color:#555;font-size:13px;margin:0 0 16px}
p.summary{color:#444;font-size:13px;margin:0 0 10px}table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;font-size:13px}th{background:#f4f4f4}
pre{font-size:12px;background:#f8f8f8;padding:8px;overflow-x:auto}.seconds{color:#777;font-size:12px;font-weight:normal}
)";

}  // namespace

GlobalSectionRegistration::GlobalSectionRegistration(GlobalSection section) {
  for (const auto& s : registered_sections())
    if (s.name == section.name) throw Error("global section '" + section.name + "' is registered twice");
  registered_sections().push_back(std::move(section));
}

std::vector<const GlobalSection*> global_sections() {
  std::vector<const GlobalSection*> out;
  for (const auto& s : registered_sections()) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](const GlobalSection* a, const GlobalSection* b) { return a->name < b->name; });
  return out;
}

std::string global_section_names() {
  std::string names;
  for (const GlobalSection* s : global_sections()) names += (names.empty() ? "" : ", ") + s->name;
  return names;
}

const GlobalSection& find_global_section(const std::string& name) {
  for (const auto& s : registered_sections())
    if (s.name == name) return s;
  throw Error("unknown global section '" + name + "'", "known: " + global_section_names());
}

std::string render_global_report(const GlobalReportRequest& req) {
  check(req.context.model != nullptr, "global report: no model");
  if (req.sections.empty()) throw Error("--global: no section named", "known: " + global_section_names());
  // Names and options first: a typo fails before minutes of work.
  std::vector<const GlobalSection*> sections;
  std::set<std::string> taken;
  for (const auto& name : req.sections) {
    const GlobalSection& s = find_global_section(name);
    if (std::find(sections.begin(), sections.end(), &s) != sections.end())
      throw Error("--global: section '" + name + "' is named twice");
    sections.push_back(&s);
    for (const auto& spec : s.options) taken.insert(spec.name);
  }
  for (const auto& [name, value] : req.options)
    if (!taken.count(name))
      throw Error("--global-option " + name + " is taken by none of the chosen sections",
                  "sections: " + global_section_names());
  std::vector<Options> options;
  for (const GlobalSection* s : sections) {
    std::map<std::string, std::string> given;
    for (const auto& spec : s->options)
      if (auto it = req.options.find(spec.name); it != req.options.end()) given[spec.name] = it->second;
    options.push_back(resolve_option_specs(s->options, "global section '" + s->name + "'", given));
    load_option_files(s->options, options.back());
  }
  std::string body;
  for (size_t i = 0; i < sections.size(); ++i) {
    GlobalContext context = req.context;
    context.options = options[i];
    const auto start = std::chrono::steady_clock::now();
    std::string html = sections[i]->render_html(context);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char timing[64];
    std::snprintf(timing, sizeof timing, "%.2f s", seconds);
    body += "<h2 id=\"" + html_escape(sections[i]->name) + "\">" + html_escape(sections[i]->title) +
            " <span class=\"seconds\">" + timing + "</span></h2>\n<p class=\"summary\">" +
            html_escape(sections[i]->summary) + "</p>\n" + html + "\n";
  }
  const GlobalContext& c = req.context;
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                     html_escape(req.title) + "</title><style>" + kGlobalStyle + "</style></head><body>\n<h1>" +
                     html_escape(req.title) + "</h1>\n<p class=\"meta\">model <b>" + html_escape(c.model_label) +
                     "</b>";
  if (c.data.defined()) page += " &middot; data " + html_escape(c.data.describe());
  if (!c.checkpoints.empty()) page += " &middot; " + std::to_string(c.checkpoints.size()) + " checkpoint(s)";
  page += "</p>\n";
  return page + body + "</body></html>\n";
}

void write_global_report(const std::string& path, const GlobalReportRequest& req) {
  const std::string page = render_global_report(req);
  write_file_atomic(path, {page});
}

}  // namespace xdnn::explain
