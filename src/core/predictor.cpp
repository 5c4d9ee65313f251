#include "predictor.hpp"

#include <cstring>
#include <numeric>

#include "serialize.hpp"

namespace pinnacle {

Predictor::Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths,
                     const std::string& weights, const json& fitted_transform)
    : spec_(parse_spec(spec_json)),
      widths_(column_widths),
      raw_input_width_(std::accumulate(widths_.begin(), widths_.begin() + spec_.key.inputs.size(), int64_t{0})),
      transformer_(Transformer::from_fitted(fitted_transform, spec_.key.columns(), spec_.key.inputs.size())),
      layout_(Layout::of(spec_, transformer_.output_widths(widths_))) {
  model_ = build_model(layers_with_input_shape(spec_.layers, transformer_), layout_.input_width);
  load_from_bytes(*model_.net, weights);
  model_.net->eval();
}

void Predictor::predict(const float* row, float* out) {
  torch::NoGradGuard no_grad;
  torch::Tensor input = torch::from_blob(const_cast<float*>(row), {1, raw_input_width_}, torch::kFloat32);
  if (!transformer_.empty()) {
    std::vector<int64_t> input_widths(widths_.begin(), widths_.begin() + spec_.key.inputs.size());
    input = transformer_.apply(input, input_widths);
  }
  torch::Tensor output = model_.net->forward(input).contiguous();
  std::memcpy(out, output.data_ptr<float>(), output_width() * sizeof(float));
}

}  // namespace pinnacle
