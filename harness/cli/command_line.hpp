// What every command's argument handling shares: splitting comma-separated lists.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace allocmeter {

/// Splits "a,b,c" at `sep` (spaces ignored, empty items dropped).
std::vector<std::string> split_list(std::string_view text, char sep = ',');

}  // namespace allocmeter
