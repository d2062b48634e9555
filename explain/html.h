// Small HTML pieces shared by the pages xdnn writes (explain/report.h, explain/global/section.h): escaping,
// PNG images inlined as data URIs, and tables. Pages are self-contained: no scripts, no external files.
#pragma once
#include <string>
#include <vector>

#include "explain/heatmap.h"

namespace xdnn::explain {

// & < > " as entities; everything else unchanged.
std::string html_escape(const std::string& s);
// <img> holding `img` as a base64 PNG data URI, with its width, height and alt text.
std::string html_img(const RgbImage& img, const std::string& alt);
// A <table>: one header row, then the rows; every cell is escaped text.
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace xdnn::explain
