// The steps of the spec's "transform", as read from JSON and written back: no torch here, so
// that the spec is checked where libtorch is not loaded (the caller's backend). Fitting and
// applying them is transform.hpp's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spec.hpp"

namespace pinnacle {

struct TransformStep {
  enum class Kind { scale, shift, standardize, min_max, one_hot, reshape, cast };
  Kind kind;
  double factor = 0;               // scale, shift
  int64_t classes = 0;             // one_hot
  std::vector<int64_t> shape;      // reshape
  std::string dtype;               // cast
  std::vector<float> center, spread;  // fitted: standardize (mean, std), min_max (min, range)
};

// Per key column (inputs first), its steps: `spec_transform` is the spec's "transform" object
// or a fitted one. Throws SpecError naming "transform.<column>[i]".
std::vector<std::vector<TransformStep>> read_transform_steps(const json& spec_transform,
                                                             const std::vector<std::string>& column_names,
                                                             size_t input_columns);

json write_transform_step(const TransformStep& step);

// "transform.<column>[i]", the field a step's error names
std::string transform_step_field(const std::string& column, size_t i);

}  // namespace pinnacle
