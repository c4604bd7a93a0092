// results.csv: one row per cell, the record's column names and values, quoted as RFC 4180 asks.
#pragma once

#include <string>

#include "harness/results/record.hpp"

namespace allocmeter {

/// The header line, with its newline.
std::string csv_header_line();

/// One cell's line, with its newline.
std::string csv_line(const cell_record& cell);

}  // namespace allocmeter
