#include "batch_source.hpp"

#include <numeric>

#include "dataset.hpp"

namespace pinnacle {

ShuffledBatches::ShuffledBatches(const Dataset& rows, const LoaderSpec& loader)
    : rows_(rows), loader_(loader), rng_(loader.seed) {}

void ShuffledBatches::start_epoch() {
  order_.resize(rows_.rows());
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
  torch::Tensor index = torch::from_blob(order_.data() + cursor_, {take}, torch::kInt64);
  cursor_ += take;
  return rows_.all().index_select(0, index);
}

}  // namespace pinnacle
