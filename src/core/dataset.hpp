// Training rows held in memory: one row-major float32 buffer, each row the key columns'
// values side by side (inputs in key order, then the target). Batches are tensors cut
// from it without copying the whole set.
// With padded inputs (collate_fn "pad") the input columns may vary in length from row to
// row; finish_padding() right-pads them with zeros and appends each row's input lengths
// after its key columns, so that every later step sees fixed-width rows.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/mman.h>

#include <torch/torch.h>

#include "spec.hpp"
#include "spill.hpp"

namespace pinnacle {

// The memory of the rows, tuned for the feed (measured: a 188 MB set was received at half
// the speed with std::vector's defaults). A new element is left uninitialized instead of
// zeroed, since the rows are written right after; a large buffer asks the kernel for huge
// pages, so that writing it takes hundreds of page faults instead of tens of thousands.
template <class T>
struct RowAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = 2 << 20;

  RowAllocator() = default;
  template <class U>
  RowAllocator(const RowAllocator<U>&) {}

  T* allocate(size_t n) {
    if (n * sizeof(T) < 2 * kHugePage) return std::allocator<T>().allocate(n);
    size_t bytes = (n * sizeof(T) + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, bytes);
    if (p == nullptr) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without huge pages the buffer works the same
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < 2 * kHugePage)
      std::allocator<T>().deallocate(p, n);
    else
      std::free(p);
  }
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const RowAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const RowAllocator<U>&) const { return false; }
};
using RowValues = std::vector<float, RowAllocator<float>>;

class Dataset {
 public:
  // `memory_limit` in bytes; 0 for none.
  Dataset(std::vector<std::string> column_names, int64_t memory_limit);

  // Appends the rows of one wire message body (after its kind byte and padding, see wire.h).
  void append_wire_rows(const char* data, size_t size);
  void append_row(const std::vector<std::vector<float>>& columns);
  // The planner's estimate of the rows to come: the buffer is sized for it once the first
  // row gives the width (within the memory limit), instead of growing by copies.
  void expect_rows(int64_t rows) { expected_rows_ = rows; }

  // The first `input_columns` columns may vary in length (collate_fn "pad"); call before
  // appending rows.
  void pad_inputs(size_t input_columns) { padded_inputs_ = input_columns; }
  // Right-pads every padded input to `widths` (the longest row's unless given: validation
  // rows take the training rows' widths) and appends the lengths. Throws naming the row
  // when one is longer.
  void finish_padding(std::vector<int64_t> widths = {});

  // Streams the rows to a spill file in chunks of `chunk_rows` instead of holding them
  // ("in_memory": false).
  void spill(int64_t chunk_rows);
  bool spilled() const { return writer_ != nullptr; }
  SpilledRows finish_spill();

  int64_t rows() const { return spilled() ? writer_->rows() : rows_; }
  int64_t received_rows() const { return rows_; }  // spilled and held-out rows included
  int64_t memory_limit() const { return memory_limit_; }
  // The bytes of memory the rows held here occupy (a spill file's rows are not held).
  int64_t memory_bytes() const {
    return static_cast<int64_t>(values_.capacity() * sizeof(float) + lengths_.capacity() * sizeof(uint32_t));
  }
  size_t columns() const { return names_.size(); }
  int64_t width(size_t column) const { return widths_.at(column); }
  // The key columns' widths; a padded input's is its longest row's.
  std::vector<int64_t> widths() const { return widths_; }
  int64_t row_width() const { return row_width_; }  // padded inputs' lengths included

  // A (rows x row_width) view of the buffer, valid while this dataset lives and is not appended to.
  torch::Tensor all() const;

  // Replaces every row (rows x sum(widths), then any lengths), e.g. by their transformed values.
  void replace_rows(const torch::Tensor& rows, std::vector<int64_t> widths);

  // A rank's rows of a data-parallel run: row i for every i with i mod world == rank, in order.
  Dataset shard(int rank, int world) const;

  // Moves a seeded random `fraction` of the rows into a new dataset.
  Dataset split_off(double fraction, uint64_t seed);
  // The same rows of a spilled set (the same fraction and seed pick the same rows as in
  // memory): copies them into a new dataset and marks them held out in `spilled`.
  Dataset split_off(SpilledRows& spilled, double fraction, uint64_t seed) const;
  // Moves the rows marked in `is_held` (one flag per row) into a new dataset, in order.
  Dataset split_off(const std::vector<bool>& is_held);
  // Which rows of a set of `rows` a split of `fraction` with `seed` holds out (as split_off).
  static std::vector<bool> held_out_rows(int64_t rows, double fraction, uint64_t seed);
  // The widths of a set that holds no rows, given by the other ranks' rows.
  void set_widths_of_empty(std::vector<int64_t> widths);

 private:
  void start_row(size_t column, uint32_t count);
  void check_memory(size_t values) const;
  void reserve_expected();
  void drain_to_spill();

  std::vector<std::string> names_;
  int64_t memory_limit_;
  std::vector<int64_t> widths_;   // fixed by the first row
  int64_t row_width_ = 0;
  int64_t rows_ = 0;
  RowValues values_;
  int64_t expected_rows_ = 0;
  size_t padded_inputs_ = 0;
  std::vector<uint32_t> lengths_;  // before finish_padding: each row's padded inputs' lengths

  std::unique_ptr<SpillWriter> writer_;
};

}  // namespace pinnacle
