// Where the training loop's batches come from, whatever holds the rows:
//   ShuffledBatches      rows in memory (a Dataset), reshuffled each epoch
//   ChunkedBatchReader   rows spilled to a file ("in_memory": false), see spill.hpp
//   MappedBatches        another source's batches through a function (a transform)
// Every source hands out (batch x row width) float32 rows, rolls over into the next epoch by
// itself, and honours loader_kwargs (batch_size, shuffle, drop_last, seed).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

class Dataset;

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual torch::Tensor next_batch() = 0;
};

// The rows of `rows`, which must outlive it, in a new seeded order every epoch.
class ShuffledBatches : public BatchSource {
 public:
  ShuffledBatches(const Dataset& rows, const LoaderSpec& loader);
  torch::Tensor next_batch() override;

 private:
  void start_epoch();

  const Dataset& rows_;
  LoaderSpec loader_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
};

class MappedBatches : public BatchSource {
 public:
  MappedBatches(std::unique_ptr<BatchSource> source, std::function<torch::Tensor(const torch::Tensor&)> map)
      : source_(std::move(source)), map_(std::move(map)) {}
  torch::Tensor next_batch() override { return map_(source_->next_batch()); }

 private:
  std::unique_ptr<BatchSource> source_;
  std::function<torch::Tensor(const torch::Tensor&)> map_;
};

}  // namespace pinnacle
