// How a row of key-column values splits into the model's input and the objective's target,
// and the check that the model's output fits that target.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

struct Layout {
  int64_t input_width = 0;    // the input columns, concatenated in key order
  std::vector<int64_t> input_widths;  // each input column
  int64_t target_width = 0;   // the target column; the input again when the key has no target
  bool class_index = false;   // the target is an integer class index
  bool has_target = false;
  bool padded = false;        // collate_fn "pad": each input column's lengths follow the key columns

  static Layout of(const TrainSpec& spec, const std::vector<int64_t>& column_widths);

  // The input columns of a batch of rows, one (rows x width) view each.
  std::vector<torch::Tensor> inputs(const torch::Tensor& rows) const;
  torch::Tensor targets(const torch::Tensor& rows) const;
  // Padded inputs: each input column's lengths (rows, int64); empty otherwise.
  std::vector<torch::Tensor> lengths(const torch::Tensor& rows) const;

  // Throws SpecError when the model's per-row output cannot be compared with the target.
  void check_output(const TrainSpec& spec, const std::vector<int64_t>& output_shape) const;
};

}  // namespace pinnacle
