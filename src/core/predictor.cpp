#include "predictor.hpp"

#include "serialize.hpp"

namespace pinnacle {

Predictor::Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths,
                     const std::string& weights)
    : spec_(parse_spec(spec_json)), widths_(column_widths), layout_(Layout::of(spec_, widths_)) {
  model_ = build_model(spec_.layers, layout_.input_width);
  load_from_bytes(*model_.net, weights);
  model_.net->eval();
}

void Predictor::predict(const float* row, float* out) {
  torch::NoGradGuard no_grad;
  torch::Tensor input = torch::from_blob(const_cast<float*>(row), {1, layout_.input_width}, torch::kFloat32);
  torch::Tensor output = model_.net->forward(input).contiguous();
  std::memcpy(out, output.data_ptr<float>(), output_width() * sizeof(float));
}

}  // namespace pinnacle
