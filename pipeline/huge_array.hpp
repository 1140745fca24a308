// HugeArray<T>: a fixed-size array allocated once, on 2 MiB transparent huge pages where the
// kernel gives them (transparent_hugepage "madvise" mode, Debian's default, asks for madvise()).
//
// For the tables a hot path reaches at random (the TCP loss estimator's flow table, several MiB
// a worker): with 4 KiB pages nearly every lookup also missed the TLB, and the profile put most of
// the estimator's prefetches on the page walk. Without huge pages it is an ordinary mapping.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace taprec {

template <typename T>
class HugeArray {
public:
    static constexpr size_t huge_page = size_t{2} << 20;

    HugeArray() = default;
    // `count` value-initialised elements. Throws std::bad_alloc when the memory is not there.
    explicit HugeArray(size_t count) : count_(count) {
        static_assert(std::is_trivially_destructible_v<T>, "the destructor only unmaps");
        if (count == 0) return;
        bytes_ = (count * sizeof(T) + huge_page - 1) / huge_page * huge_page;
        // A huge page must start on a 2 MiB boundary: map one page more, keep the aligned part.
        void* p = ::mmap(nullptr, bytes_ + huge_page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        const uintptr_t start = reinterpret_cast<uintptr_t>(p);
        const uintptr_t aligned = (start + huge_page - 1) / huge_page * huge_page;
        if (aligned != start) ::munmap(p, aligned - start);
        if (const size_t tail = huge_page - (aligned - start); tail != 0)
            ::munmap(reinterpret_cast<void*>(aligned + bytes_), tail);
        ::madvise(reinterpret_cast<void*>(aligned), bytes_, MADV_HUGEPAGE);  // advice only
        data_ = reinterpret_cast<T*>(aligned);
        std::uninitialized_value_construct_n(data_, count_);
    }
    ~HugeArray() {
        if (data_ != nullptr) ::munmap(data_, bytes_);
    }
    HugeArray(HugeArray&& other) noexcept { swap(other); }
    HugeArray& operator=(HugeArray&& other) noexcept {
        HugeArray(std::move(other)).swap(*this);
        return *this;
    }
    HugeArray(const HugeArray&) = delete;
    HugeArray& operator=(const HugeArray&) = delete;

    T& operator[](size_t i) noexcept { return data_[i]; }
    const T& operator[](size_t i) const noexcept { return data_[i]; }
    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }

private:
    void swap(HugeArray& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(count_, other.count_);
        std::swap(bytes_, other.bytes_);
    }

    T* data_ = nullptr;
    size_t count_ = 0;
    size_t bytes_ = 0;
};

}  // namespace taprec
