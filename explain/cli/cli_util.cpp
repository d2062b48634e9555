// Small parsing helpers shared by the cmd_*.cpp files (declared in explain/cli/commands.h).
#include <sstream>

#include "explain/cli/commands.h"

namespace xdnn::cli {

std::vector<std::string> split_commas(const std::string& text, bool keep_empty) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (keep_empty || !item.empty()) out.push_back(item);
  return out;
}

}  // namespace xdnn::cli
