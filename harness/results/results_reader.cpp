// Finding the file and reading its text; the parsing is the record's.
#include "harness/results/results_reader.hpp"

#include <fstream>
#include <sstream>

namespace allocmeter {

loaded_results read_results(const std::string& given) {
    std::filesystem::path p = given;
    if (std::filesystem::is_directory(p)) p /= "results.json";
    std::ifstream in(p, std::ios::binary);
    if (!in) throw results_error(p.string() + ": cannot open; give a results.json or a run folder such as results/latest");
    std::ostringstream text;
    text << in.rdbuf();
    return {p, results_from_json_text(text.str(), p.string())};
}

}  // namespace allocmeter
