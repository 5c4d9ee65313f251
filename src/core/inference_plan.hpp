// Per-row inference without torch for the common model: a layer list of Linear layers and
// elementwise activations, after elementwise transform steps. Predict runs once per SQL row,
// and through torch each op of a one-row forward costs more in dispatch and allocation than
// in arithmetic; here a row is a few loops over preallocated buffers.
// Outputs match the torch path to float rounding (the sums may be added in another order).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "transform.hpp"

namespace pinnacle {

class InferencePlan {
 public:
  // The plan for `net` (in eval mode) fed by `transformer` over input columns of `input_widths`,
  // or null when a layer or a transform step is outside what a plan covers; the torch path
  // then serves the model.
  static std::unique_ptr<InferencePlan> build(const torch::nn::Sequential& net, const Transformer& transformer,
                                              const std::vector<int64_t>& input_widths);

  int64_t output_width() const { return width_; }

  // One row of input values (the input columns side by side, before the transform) to
  // output_width() floats.
  void run(const float* row, float* out);

  // An elementwise transform step on one input column's values.
  struct ColumnStep {
    TransformStep::Kind kind;
    int64_t offset, width;
    float factor;                       // scale, shift
    std::vector<float> center, spread;  // standardize, min_max
  };
  // A Linear layer's weights are read kPanelRows output rows at a time, kChunk inputs at a time.
  static constexpr int64_t kPanelRows = 4, kChunk = 8;
  static constexpr int64_t padded(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

  struct Layer {
    enum class Kind { linear, relu, leaky_relu, tanh, sigmoid, gelu, silu };
    Kind kind;
    int64_t in = 0, out = 0;    // linear
    std::vector<float> weight;  // linear: in panels of kPanelRows rows (inference_plan.cpp)
    std::vector<float> bias;    // linear: empty when the layer has none
    float slope = 0;            // leaky_relu
  };

 private:
  InferencePlan() = default;

  std::vector<ColumnStep> steps_;
  std::vector<Layer> layers_;
  int64_t input_width_ = 0;
  int64_t width_ = 0;  // of the output
  std::vector<float> current_, next_;
};

}  // namespace pinnacle
