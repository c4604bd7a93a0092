// fixed_vector: a vector whose capacity is set before the timed region, so that a workload's
// own bookkeeping never takes memory from the allocator under test while it is timed.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace allocmeter {

/// A vector with a capacity fixed before the timed region, so workloads never allocate
/// bookkeeping memory from the allocator under test while they are timed.
template <class T>
class fixed_vector {
public:
    explicit fixed_vector(std::size_t capacity) : data_(new T[capacity]), capacity_(capacity) {}
    void push_back(const T& v) noexcept {
        if (size_ == capacity_) [[unlikely]] overflow();
        data_[size_++] = v;
    }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& back() noexcept { return data_[size_ - 1]; }
    void pop_back() noexcept { --size_; }
    void clear() noexcept { size_ = 0; }
    T* begin() noexcept { return data_.get(); }
    T* end() noexcept { return data_.get() + size_; }

private:
    [[noreturn, gnu::noinline]] static void overflow() {
        std::fputs("allocmeter: internal error: a workload outgrew its preallocated table\n", stderr);
        std::abort();
    }
    std::unique_ptr<T[]> data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

}  // namespace allocmeter
