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

void Dataset::spill(int64_t chunk_rows) { writer_ = std::make_unique<SpillWriter>(names_, chunk_rows); }

// Moves the rows decoded from one message to the spill file.
void Dataset::drain_to_spill() {
  if (!values_.empty()) writer_->append_rows(values_.data(), static_cast<int64_t>(values_.size()) / row_width_, row_width_);
  values_.clear();
}

SpilledRows Dataset::finish_spill() { return writer_->finish(); }

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

namespace {

// Which rows validation.split holds out: exactly `fraction` of them (at least one), seeded.
std::vector<bool> pick_held_out(int64_t rows, double fraction, uint64_t seed) {
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  int64_t held_out = std::max<int64_t>(1, static_cast<int64_t>(rows * fraction));
  if (held_out >= rows)
    throw std::runtime_error("validation.split leaves no training rows out of " + std::to_string(rows));
  std::vector<bool> is_held(rows, false);
  for (int64_t i = 0; i < held_out; ++i) is_held[order[i]] = true;
  return is_held;
}

}  // namespace

Dataset Dataset::split_off(SpilledRows& spilled, double fraction, uint64_t seed) const {
  spilled.held_out = pick_held_out(spilled.rows, fraction, seed);
  Dataset held(names_, memory_limit_);
  held.widths_ = widths_;
  held.row_width_ = spilled.row_width;
  std::vector<float> chunk;
  int64_t first_row = 0;
  for (size_t i = 0; i < spilled.chunk_rows.size(); ++i) {
    chunk.resize(spilled.chunk_rows[i] * spilled.row_width);
    read_chunk(spilled, i, chunk.data());
    for (int64_t r = 0; r < spilled.chunk_rows[i]; ++r)
      if (spilled.held_out[first_row + r]) {
        const float* row = chunk.data() + r * spilled.row_width;
        held.values_.insert(held.values_.end(), row, row + spilled.row_width);
        ++held.rows_;
      }
    first_row += spilled.chunk_rows[i];
    held.check_memory(held.values_.size());
  }
  spilled.held_out_rows = held.rows_;
  return held;
}

Dataset Dataset::shard(int rank, int world) const {
  if (spilled()) throw std::logic_error("a spilled dataset is read by one rank");
  Dataset part(names_, memory_limit_);
  part.widths_ = widths_;
  part.row_width_ = row_width_;
  part.values_.reserve(((rows_ + world - 1) / world) * row_width_);
  for (int64_t r = rank; r < rows_; r += world) {
    const float* row = values_.data() + r * row_width_;
    part.values_.insert(part.values_.end(), row, row + row_width_);
    ++part.rows_;
  }
  return part;
}

std::vector<bool> Dataset::held_out_rows(int64_t rows, double fraction, uint64_t seed) {
  return pick_held_out(rows, fraction, seed);
}

void Dataset::set_widths_of_empty(std::vector<int64_t> widths) {
  if (rows_ != 0 || spilled()) throw std::logic_error("set_widths_of_empty on a set with rows");
  row_width_ = std::accumulate(widths.begin(), widths.end(), int64_t{0});
  widths_ = std::move(widths);
}

Dataset Dataset::split_off(double fraction, uint64_t seed) { return split_off(pick_held_out(rows_, fraction, seed)); }

Dataset Dataset::split_off(const std::vector<bool>& is_held) {
  if (static_cast<int64_t>(is_held.size()) != rows_) throw std::logic_error("split_off: one flag per row");
  int64_t held_out = std::count(is_held.begin(), is_held.end(), true);

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
