#include "batch_source.hpp"

#include <algorithm>
#include <numeric>

#include "dataset.hpp"

namespace pinnacle {

ShuffledBatches::ShuffledBatches(const Dataset& rows, const LoaderSpec& loader)
    : ShuffledBatches(rows, loader, Shard{rows.rows(), 0, 1, nullptr}) {}

ShuffledBatches::ShuffledBatches(const Dataset& rows, const LoaderSpec& loader, Shard shard)
    : rows_(rows), loader_(loader), shard_(shard), rng_(loader.seed) {}

void ShuffledBatches::start_epoch() {
  order_.resize(shard_.global_rows);
  std::iota(order_.begin(), order_.end(), 0);
  if (loader_.shuffle) std::shuffle(order_.begin(), order_.end(), rng_);
  cursor_ = 0;
}

torch::Tensor ShuffledBatches::next_batch() {
  size_t batch = static_cast<size_t>(loader_.batch_size);
  size_t remaining = order_.size() - cursor_;
  if (remaining == 0 || (loader_.drop_last && remaining < batch)) {
    start_epoch();
    remaining = order_.size();
  }
  int64_t take = static_cast<int64_t>(std::min(batch, remaining));
  const int64_t* global_index = order_.data() + cursor_;
  cursor_ += take;
  global_batch_rows_ = take;
  if (shard_.world == 1)
    return rows_.all().index_select(0, torch::from_blob(const_cast<int64_t*>(global_index), {take}, torch::kInt64));
  return local_rows(global_index, take);
}

// This rank's rows of a global batch, in the batch's order (possibly none).
torch::Tensor ShuffledBatches::local_rows(const int64_t* global_index, int64_t count) const {
  std::vector<int64_t> mine;
  if (shard_.positions) {
    const std::vector<int64_t>& held = *shard_.positions;
    for (int64_t i = 0; i < count; ++i) {
      auto at = std::lower_bound(held.begin(), held.end(), global_index[i]);
      if (at != held.end() && *at == global_index[i]) mine.push_back(at - held.begin());
    }
  } else {
    for (int64_t i = 0; i < count; ++i)
      if (global_index[i] % shard_.world == shard_.rank) mine.push_back(global_index[i] / shard_.world);
  }
  torch::Tensor index = torch::from_blob(mine.data(), {static_cast<int64_t>(mine.size())}, torch::kInt64);
  return rows_.all().index_select(0, index);
}

torch::Tensor SharedBatches::next_batch() {
  torch::Tensor batch = source_->next_batch();
  global_batch_rows_ = batch.size(0);
  return batch.slice(0, rank_, batch.size(0), world_).contiguous();
}

}  // namespace pinnacle
