// Quoting only: which columns and values is the record's business.
#include "harness/results/results_csv.hpp"

namespace allocmeter {

namespace {

std::string quoted(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string line_of(const std::vector<std::string>& fields) {
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) line += ',';
        line += quoted(fields[i]);
    }
    return line + "\n";
}

}  // namespace

std::string csv_header_line() { return line_of(csv_columns()); }

std::string csv_line(const cell_record& cell) { return line_of(csv_row(cell)); }

}  // namespace allocmeter
