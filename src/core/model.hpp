// Builds a torch::nn::Sequential from a layer list written with torch.nn's own class and
// argument names. The first layer's input width comes from the data.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

struct BuiltModel {
  torch::nn::Sequential net;
  std::vector<int64_t> output_shape;  // per row, without the batch dimension
};

// A layer that reads right-padded sequences with their lengths (collate_fn "pad"): LSTM and
// GRU, which then stop at each row's last real step.
class SequenceLayer {
 public:
  virtual ~SequenceLayer() = default;
  // `input` (N, L, F), `steps` (N) int64: the real steps of each row, 1..L.
  virtual torch::Tensor forward_padded(const torch::Tensor& input, const torch::Tensor& steps) = 0;
  // For the export (script_export.hpp): torch.nn's LSTM or GRU that holds the parameters, and
  // whether the layer returns every step's output or each row's last.
  virtual const torch::nn::Module& rnn() const = 0;
  virtual bool all_steps() const = 0;
};

// torch.nn.Embedding wants int64 ids but rows arrive as float32: this one casts them first.
class TokenEmbeddingImpl final : public torch::nn::Cloneable<TokenEmbeddingImpl> {
 public:
  explicit TokenEmbeddingImpl(torch::nn::EmbeddingOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& ids);
  const torch::nn::EmbeddingImpl& embedding() const { return *embedding_; }

 private:
  torch::nn::EmbeddingOptions options_;
  torch::nn::Embedding embedding_{nullptr};
};

// torch.nn.MaxPool2d, but outside autograd, when its windows tile the input (stride equal to
// the kernel, no padding or dilation, floor mode), the elementwise maxima of the windows'
// strided slices: the values of torch's max_pool2d (NaN kept likewise), whose CPU kernel is
// a scalar loop (measured on the README's conv net: 28 instead of 64 - 100 us a row). Training
// takes torch's path, whose gradient goes to one element of a tied window.
class TiledMaxPool2dImpl final : public torch::nn::MaxPool2dImpl {
 public:
  using torch::nn::MaxPool2dImpl::MaxPool2dImpl;
  torch::Tensor forward(const torch::Tensor& input);
};
TORCH_MODULE(TiledMaxPool2d);

// Throws SpecError naming "model.layers[i]..." for a bad layer or an impossible shape.
// `input_shape`, from a reshape transform, is the shape each flat row takes before the first layer.
BuiltModel build_model(const json& layers, int64_t input_width, const std::vector<int64_t>& input_shape = {});

}  // namespace pinnacle
