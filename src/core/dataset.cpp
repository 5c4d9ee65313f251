#include "dataset.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>

#include "wire.h"

namespace pinnacle {

Dataset::Dataset(std::vector<std::string> column_names, int64_t memory_limit)
    : names_(std::move(column_names)), memory_limit_(memory_limit) {}

// Checks a row's column width against the first row's; the first row fixes them.
// A padded input's width is the longest so far.
void Dataset::start_row(size_t column, uint32_t count) {
  if (column < padded_inputs_) {
    if (count == 0)
      throw std::runtime_error("column \"" + names_[column] + "\", row " + std::to_string(rows_ + 1) +
                               ": an empty array cannot be trained on");
    if (widths_.size() <= column) widths_.resize(column + 1);
    widths_[column] = std::max<int64_t>(widths_[column], count);
    lengths_.push_back(count);
    return;
  }
  if (rows_ == 0) {
    if (widths_.size() <= column) widths_.resize(column + 1);
    widths_[column] = count;
    if (count == 0)
      throw std::runtime_error("column \"" + names_[column] + "\", row 1: an empty array cannot be trained on");
    return;
  }
  if (count != widths_[column])
    throw std::runtime_error("column \"" + names_[column] + "\", row " + std::to_string(rows_ + 1) + ": has " +
                             std::to_string(count) + " values, the first row had " + std::to_string(widths_[column]));
}

void Dataset::check_memory(size_t values) const {
  int64_t bytes = static_cast<int64_t>(values * sizeof(float));
  if (memory_limit_ > 0 && bytes > memory_limit_)
    throw std::runtime_error("the training rows need more than the memory limit of " +
                             std::to_string(memory_limit_ / 1024) +
                             " kB; raise compute_kwargs.memory_limit or set \"in_memory\": false");
}

void Dataset::append_wire_rows(const char* data, size_t size) {
  const char* end = data + size;
  auto read_u32 = [&](const char* p) {
    if (p + sizeof(uint32_t) > end) throw std::runtime_error("truncated rows message");
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  uint32_t count = read_u32(data);
  const char* p = data + sizeof(uint32_t);
  for (uint32_t r = 0; r < count; ++r) {
    for (size_t c = 0; c < names_.size(); ++c) {
      uint32_t n = read_u32(p);
      p += sizeof(uint32_t);
      start_row(c, n);
      if (p + n * sizeof(float) > end) throw std::runtime_error("truncated rows message");
      size_t at = values_.size();
      values_.resize(at + n);
      std::memcpy(values_.data() + at, p, n * sizeof(float));
      p += n * sizeof(float);
    }
    if (rows_ == 0) {
      row_width_ = std::accumulate(widths_.begin(), widths_.end(), int64_t{0});
      reserve_expected();
    }
    ++rows_;
  }
  if (spilled()) drain_to_spill();
  check_memory(values_.size());
}

void Dataset::reserve_expected() {
  if (spilled() || padded_inputs_ > 0 || expected_rows_ <= 0) return;
  int64_t values;
  if (__builtin_mul_overflow(expected_rows_, row_width_, &values)) values = INT64_MAX;
  if (memory_limit_ > 0) values = std::min<int64_t>(values, memory_limit_ / sizeof(float));
  try {
    values_.reserve(values);
  } catch (const std::exception&) {
    // an estimate too large for this machine (stale statistics, no overcommit): grow instead
  }
}

void Dataset::spill(int64_t chunk_rows, double held_out, uint64_t seed) {
  writer_ = std::make_unique<SpillWriter>(names_, chunk_rows);
  held_out_ = std::make_unique<Dataset>(names_, memory_limit_);
  held_out_fraction_ = held_out;
  split_rng_.seed(seed);
}

// Moves the rows decoded from one message to the spill file, or to the held-out rows.
void Dataset::drain_to_spill() {
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (size_t at = 0; at < values_.size(); at += row_width_) {
    if (held_out_fraction_ > 0 && coin(split_rng_) < held_out_fraction_) {
      held_out_->widths_ = widths_;
      held_out_->row_width_ = row_width_;
      held_out_->values_.insert(held_out_->values_.end(), values_.begin() + at, values_.begin() + at + row_width_);
      ++held_out_->rows_;
    } else {
      writer_->append_row(values_.data() + at, row_width_);
    }
  }
  values_.clear();
  held_out_->check_memory(held_out_->values_.size());
}

SpilledRows Dataset::finish_spill() { return writer_->finish(); }

Dataset Dataset::take_held_out() {
  if (held_out_->rows() == 0) throw std::runtime_error("validation.split held out none of the streamed rows");
  return std::move(*held_out_);
}

void Dataset::append_row(const std::vector<std::vector<float>>& columns) {
  if (columns.size() != names_.size()) throw std::invalid_argument("append_row: wrong number of columns");
  for (size_t c = 0; c < columns.size(); ++c) {
    start_row(c, static_cast<uint32_t>(columns[c].size()));
    values_.insert(values_.end(), columns[c].begin(), columns[c].end());
  }
  if (rows_ == 0) row_width_ = std::accumulate(widths_.begin(), widths_.end(), int64_t{0});
  ++rows_;
  if (spilled()) drain_to_spill();
  check_memory(values_.size());
}

torch::Tensor Dataset::all() const {
  if (spilled()) throw std::logic_error("the rows of a spilled dataset are read through a ChunkedBatchReader");
  return torch::from_blob(const_cast<float*>(values_.data()), {rows_, row_width_}, torch::kFloat32);
}

void Dataset::replace_rows(const torch::Tensor& rows, std::vector<int64_t> widths) {
  torch::Tensor flat = rows.to(torch::kFloat32).contiguous();
  values_.assign(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  widths_ = std::move(widths);
  row_width_ = flat.size(1);  // padded inputs' lengths follow the key columns
  check_memory(values_.size());
}

void Dataset::finish_padding(std::vector<int64_t> widths) {
  if (padded_inputs_ == 0) return;
  if (widths.empty()) widths = widths_;
  int64_t padded_width = std::accumulate(widths.begin(), widths.end(), int64_t{0}) + padded_inputs_;
  check_memory(rows_ * padded_width);  // before allocating: one long row can make padding huge
  RowValues padded(rows_ * padded_width, 0.0f);
  const float* from = values_.data();
  for (int64_t r = 0; r < rows_; ++r) {
    float* to = padded.data() + r * padded_width;
    for (size_t c = 0; c < widths.size(); ++c) {
      int64_t n = c < padded_inputs_ ? lengths_[r * padded_inputs_ + c] : widths[c];
      if (n > widths[c])
        throw std::runtime_error("column \"" + names_[c] + "\", row " + std::to_string(r + 1) + ": has " +
                                 std::to_string(n) + " values, more than the longest training row's " +
                                 std::to_string(widths[c]));
      std::copy(from, from + n, to);
      from += n;
      to += widths[c];
    }
    for (size_t c = 0; c < padded_inputs_; ++c) to[c] = static_cast<float>(lengths_[r * padded_inputs_ + c]);
  }
  values_ = std::move(padded);
  lengths_.clear();
  widths_ = std::move(widths);
  row_width_ = padded_width;
  padded_inputs_ = 0;  // the rows are fixed-width from here on
  check_memory(values_.size());
}

Dataset Dataset::split_off(double fraction, uint64_t seed) {
  std::vector<int64_t> order(rows_);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  int64_t held_out = std::max<int64_t>(1, static_cast<int64_t>(rows_ * fraction));
  if (held_out >= rows_)
    throw std::runtime_error("validation.split leaves no training rows out of " + std::to_string(rows_));

  std::vector<bool> is_held(rows_, false);
  for (int64_t i = 0; i < held_out; ++i) is_held[order[i]] = true;

  Dataset held(names_, 0);
  held.widths_ = widths_;
  held.row_width_ = row_width_;
  RowValues kept;
  kept.reserve((rows_ - held_out) * row_width_);
  for (int64_t r = 0; r < rows_; ++r) {
    const float* row = values_.data() + r * row_width_;
    RowValues& target = is_held[r] ? held.values_ : kept;
    target.insert(target.end(), row, row + row_width_);
  }
  held.rows_ = held_out;
  values_ = std::move(kept);
  rows_ -= held_out;
  return held;
}

}  // namespace pinnacle
