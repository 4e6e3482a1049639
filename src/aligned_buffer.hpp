#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace convkit::detail {

// A cache-line-aligned float array (64 bytes: one AVX-512 vector, one line).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t floats) : size_(floats) {
    if (floats == 0) return;
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
  }
  float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

// Scratch memory a plan hands out to its calls. Concurrent calls each get a buffer of their
// own; a returned buffer is reused, so a plan run in a loop allocates only on its first call.
class WorkspacePool {
 public:
  class Lease {
   public:
    Lease(WorkspacePool& pool, AlignedBuffer buffer) : pool_(pool), buffer_(std::move(buffer)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.give_back(std::move(buffer_)); }
    float* data() const { return buffer_.data(); }

   private:
    WorkspacePool& pool_;
    AlignedBuffer buffer_;
  };

  // A buffer of at least `floats` floats, exclusively the caller's until the lease ends.
  Lease acquire(size_t floats) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < free_.size(); ++i) {
        if (free_[i].size() >= floats) {
          AlignedBuffer found = std::move(free_[i]);
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          return Lease(*this, std::move(found));
        }
      }
    }
    return Lease(*this, AlignedBuffer(floats));
  }

 private:
  void give_back(AlignedBuffer buffer) {
    if (buffer.size() == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(buffer));
  }
  std::mutex mutex_;
  std::vector<AlignedBuffer> free_;
};

}  // namespace convkit::detail
