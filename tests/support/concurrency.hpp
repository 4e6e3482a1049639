#pragma once
// Helpers for calls that must overlap or must not rely on alignment.
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace convkit::test {

// Runs body(i) for i in [0, count) on `count` threads released together by a start barrier, so
// their calls overlap instead of running one after another as thread start-up staggers them.
template <class Body>
void run_together(int count, Body body) {
  std::mutex mutex;
  std::condition_variable released;
  int arrived = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mutex);
        if (++arrived == count) {
          released.notify_all();
        } else {
          released.wait(lock, [&] { return arrived == count; });
        }
      }
      body(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

// A copy of `values` one float past a 16-byte boundary (operator new aligns to 16 on x86-64), so
// no vector load or store of any instruction set finds it aligned.
class Misaligned {
 public:
  explicit Misaligned(const std::vector<float>& values) : storage_(values.size() + 1) {
    for (size_t i = 0; i < values.size(); ++i) storage_[i + 1] = values[i];
  }
  // An output of `count` elements, NaN until written.
  static Misaligned output(int64_t count) {
    return Misaligned(std::vector<float>(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN()));
  }
  float* data() { return storage_.data() + 1; }
  std::vector<float> values() const { return std::vector<float>(storage_.begin() + 1, storage_.end()); }

 private:
  std::vector<float> storage_;
};

}  // namespace convkit::test
