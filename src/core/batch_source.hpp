// Where the training loop's batches come from, whatever holds the rows:
//   ShuffledBatches      rows in memory (a Dataset), reshuffled each epoch; on a rank of a
//                        data-parallel run, that rank's part of each global batch
//   ChunkedBatchReader   rows spilled to a file ("in_memory": false), see spill.hpp
//   MappedBatches        another source's batches through a function (a transform)
//   SharedBatches        a rank's share of another source's batches (data-parallel runs)
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

// A source that hands a rank of a data-parallel run its part of each global batch.
class RankShare {
 public:
  virtual ~RankShare() = default;
  // The rows of the latest batch on every rank together.
  virtual int64_t global_batch_rows() const = 0;
};

// Which rows of the training set a rank holds: row i lives on rank i mod world, as its row
// i / world. One rank holds them all.
struct Shard {
  int64_t global_rows = 0;  // of every rank together
  int rank = 0;
  int world = 1;
  // When the ranks hold rows of their own (rows on several servers): the set's positions of
  // this rank's rows, ascending (its row k is the set's row positions[k]), instead of i mod world.
  std::shared_ptr<const std::vector<int64_t>> positions;
};

// The rows of `rows`, which must outlive it, in a new seeded order every epoch. On a rank of
// a data-parallel run the whole set's rows are ordered and cut into batches exactly as on
// one rank, and each rank takes its own rows of each batch, so that N ranks step through the
// same global batches as one.
class ShuffledBatches : public BatchSource, public RankShare {
 public:
  ShuffledBatches(const Dataset& rows, const LoaderSpec& loader);
  ShuffledBatches(const Dataset& rows, const LoaderSpec& loader, Shard shard);
  torch::Tensor next_batch() override;
  int64_t global_batch_rows() const override { return global_batch_rows_; }

 private:
  void start_epoch();
  torch::Tensor local_rows(const int64_t* global_index, int64_t count) const;

  const Dataset& rows_;
  LoaderSpec loader_;
  Shard shard_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
  int64_t global_batch_rows_ = 0;
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

// Every rank reads the whole source (streamed rows, read ahead from a spill file that the
// ranks share), and keeps the rows at positions rank, rank + world, ... of each batch: the
// same global batches as one rank, each row computed once.
class SharedBatches : public BatchSource, public RankShare {
 public:
  SharedBatches(std::unique_ptr<BatchSource> source, int rank, int world)
      : source_(std::move(source)), rank_(rank), world_(world) {}
  torch::Tensor next_batch() override;
  int64_t global_batch_rows() const override { return global_batch_rows_; }

 private:
  std::unique_ptr<BatchSource> source_;
  int rank_;
  int world_;
  int64_t global_batch_rows_ = 0;
};

}  // namespace pinnacle
