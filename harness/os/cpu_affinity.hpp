// CPU sets for `run --pin-cpus`: a CPU list read from its text form ("0", "0-1", "1,3"), the
// CPUs this process may use (sched_getaffinity), and the mask a cell's process is restricted
// to between fork and exec (sched_setaffinity). The only place the harness touches affinity.
#pragma once

#include <sched.h>

#include <string>
#include <string_view>
#include <vector>

namespace allocmeter {

/// The CPUs `text` names, as CPU numbers and ranges ("0", "0-3", "1,3", "0-1,6"), ascending,
/// each once. Throws std::invalid_argument saying what in `text` is wrong.
std::vector<unsigned> parse_cpu_list(std::string_view text);

/// `cpus` (ascending) in the same form, ranges joined: {0, 1, 3} gives "0-1,3".
std::string cpu_list_text(const std::vector<unsigned>& cpus);

/// The CPUs this process may run on, ascending; empty when the kernel does not say.
std::vector<unsigned> allowed_cpus();

/// A set of CPUs to restrict a process to, built before fork so that applying it in the child
/// is one system call (async-signal-safe).
class cpu_mask {
public:
    /// `cpus` must be below CPU_SETSIZE (parse_cpu_list refuses the others).
    explicit cpu_mask(const std::vector<unsigned>& cpus) noexcept;
    /// Restricts the calling thread (in a fresh child: the process, and whatever it starts);
    /// 0 on success, else the errno.
    int apply() const noexcept;

private:
    cpu_set_t set_;
};

}  // namespace allocmeter
