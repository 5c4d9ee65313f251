// The spec's "transform": per input column, a list of preprocessing steps (scale, shift,
// standardize, min_max, one_hot, reshape, cast). Statistics are fitted on the training rows;
// the fitted steps are saved with the model version and applied again by predict.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"
#include "transform_steps.hpp"

namespace pinnacle {

class Transformer {
 public:
  Transformer() = default;
  // `spec_transform` is the spec's "transform" object; `column_names` the key's columns,
  // inputs first. Throws SpecError naming "transform.<column>[i]".
  Transformer(const json& spec_transform, const std::vector<std::string>& column_names, size_t input_columns);

  bool empty() const;

  // Fits the statistics on training rows (rows x sum of widths, columns side by side).
  void fit(const torch::Tensor& rows, const std::vector<int64_t>& widths);
  // The same on rows too many to hold: `each_chunk` calls its visitor with every training
  // row once, a chunk at a time, and may be called once per fitted step.
  using ChunkVisitor = std::function<void(const torch::Tensor&)>;
  using RowPass = std::function<void(const ChunkVisitor&)>;
  void fit(const RowPass& each_chunk, const std::vector<int64_t>& widths);
  // Reduces a fitted step's statistics (float64: counts and sums with `sum`, least and
  // greatest values with `minimum` and `maximum`, in place) over the ranks of a run whose
  // ranks hold rows of their own, so that every rank fits the same values on all the rows.
  struct Reduction {
    std::function<void(const torch::Tensor&)> sum, minimum, maximum;
  };
  void fit(const RowPass& each_chunk, const std::vector<int64_t>& widths, const Reduction* reduction);
  // Applies the fitted steps; the input columns may change width (one_hot). Values after the
  // columns of `widths` (padded inputs' lengths) pass through unchanged.
  torch::Tensor apply(const torch::Tensor& rows, const std::vector<int64_t>& widths) const;
  std::vector<int64_t> output_widths(const std::vector<int64_t>& widths) const;
  // The shape a reshape step gives the (single) input column, or empty.
  std::vector<int64_t> input_shape() const;

  // per key column, as fitted; empty when there is no transform
  const std::vector<std::vector<TransformStep>>& steps() const { return steps_; }

  json fitted() const;
  static Transformer from_fitted(const json& fitted, const std::vector<std::string>& column_names,
                                 size_t input_columns);

 private:
  std::vector<std::string> names_;
  size_t input_columns_ = 0;
  std::vector<std::vector<TransformStep>> steps_;  // per key column; empty when none
};

}  // namespace pinnacle
