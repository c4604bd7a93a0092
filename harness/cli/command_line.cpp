// Shared argument helpers.
#include "harness/cli/command_line.hpp"

namespace allocmeter {

std::vector<std::string> split_list(std::string_view text, char sep) {
    std::vector<std::string> out;
    std::string item;
    for (const char c : std::string(text) + sep) {
        if (c == sep) {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return out;
}

}  // namespace allocmeter
