#include "predictor.hpp"

#include <cstring>
#include <numeric>

#include "trainer.hpp"

namespace pinnacle {

namespace {

// The widest column a stored model may claim: a catalog value is checked before it sizes anything.
constexpr int64_t kMaxColumnWidth = int64_t{1} << 28;

// Stored column widths are read back from the catalog, where a role could have edited them:
// one positive width per key column, or the model is refused before anything is built.
std::vector<int64_t> checked_widths(const TrainSpec& spec, const std::vector<int64_t>& widths) {
  size_t expected = spec.key.columns().size();
  if (widths.size() != expected)
    throw std::runtime_error("the stored column widths (" + std::to_string(widths.size()) + " of them) do not fit the " +
                             std::to_string(expected) + " key columns of the model's spec");
  for (int64_t width : widths)
    if (width <= 0 || width > kMaxColumnWidth)
      throw std::runtime_error("a stored column width of " + std::to_string(width) + " is out of range");
  return widths;
}

}  // namespace

Predictor::Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths,
                     const std::string& weights, const json& fitted_transform)
    : spec_(parse_spec(spec_json)),
      widths_(checked_widths(spec_, column_widths)),
      raw_input_widths_(widths_.begin(), widths_.begin() + spec_.key.inputs.size()),
      raw_input_width_(std::accumulate(raw_input_widths_.begin(), raw_input_widths_.end(), int64_t{0})),
      transformer_(Transformer::from_fitted(fitted_transform, spec_.key.columns(), spec_.key.inputs.size())),
      layout_(Layout::of(spec_, transformer_.output_widths(widths_))),
      // a TorchScript model's weights are the whole trained module
      model_(build_network(spec_, transformer_, layout_, weights)) {
  model_.load(weights);
  model_.set_training(false);
  model_.freeze();
  output_width_ = model_.probe(layout_.input_widths, layout_.padded).at(0);
  if (output_width_ <= 0) throw std::runtime_error("the model returns no values");
  model_.set_training(false);
  plan_ = InferencePlan::build(model_.layers(), transformer_, raw_input_widths_);
}

torch::Tensor Predictor::run(const std::vector<torch::Tensor>& raw_inputs, const std::vector<torch::Tensor>& lengths) {
  if (transformer_.empty()) return model_.forward(raw_inputs, lengths);
  // one input column (the common case) needs no concatenation: predict is per row, every op counts
  torch::Tensor rows = raw_inputs.size() == 1 ? raw_inputs[0] : torch::cat(raw_inputs, 1);
  torch::Tensor transformed = transformer_.apply(rows, raw_input_widths_);
  return model_.forward(layout_.inputs(transformed), lengths);
}

void Predictor::predict(const float* row, float* out, const int64_t* lengths) {
  if (plan_) return plan_->run(row, out);  // lengths reach only sequence layers, which it has none of
  c10::InferenceMode inference;  // per-row calls: skip autograd and version tracking
  // a tensor of its own: a module may keep its input, so it must not view the caller's memory
  torch::Tensor input = torch::from_blob(const_cast<float*>(row), {1, raw_input_width_}, torch::kFloat32).clone();
  std::vector<torch::Tensor> columns;
  int64_t offset = 0;
  for (int64_t width : raw_input_widths_) {
    columns.push_back(input.narrow(1, offset, width));
    offset += width;
  }
  std::vector<torch::Tensor> column_lengths;
  if (layout_.padded)
    for (size_t c = 0; c < columns.size(); ++c) column_lengths.push_back(torch::tensor({lengths[c]}));
  torch::Tensor output = checked_output(run(columns, column_lengths));
  std::memcpy(out, output.data_ptr<float>(), output_width_ * sizeof(float));
}

// A module's output is checked before a byte of it is copied: a tensor of floating point or
// integer values, one row of exactly the width probed at load.
torch::Tensor Predictor::checked_output(const torch::Tensor& output) const {
  if (!output.defined()) throw std::runtime_error("the model returned an undefined tensor");
  if (!output.is_floating_point() && output.scalar_type() != torch::kLong && output.scalar_type() != torch::kInt)
    throw std::runtime_error(std::string("the model returned values of type ") +
                             std::string(c10::toString(output.scalar_type())) + ", not numbers");
  if (output.dim() < 1 || output.size(0) != 1)
    throw std::runtime_error("the model returned a tensor of shape " + c10::str(output.sizes()) +
                             " for one row, not one row of values");
  if (output.numel() != output_width_)
    throw std::runtime_error("the model returned " + std::to_string(output.numel()) + " values for a row, not " +
                             std::to_string(output_width_));
  return output.to(torch::kFloat32).contiguous();
}

std::string Predictor::export_torchscript() {
  std::vector<torch::Tensor> example;
  for (int64_t width : raw_input_widths_) example.push_back(torch::zeros({2, width}));
  size_t columns = example.size();
  if (layout_.padded)  // forward(inputs..., lengths...)
    for (int64_t width : raw_input_widths_) example.push_back(torch::tensor({width, int64_t{1}}));
  return trace_to_torchscript(
      [this, columns](const std::vector<torch::Tensor>& args) {
        std::vector<torch::Tensor> inputs(args.begin(), args.begin() + columns);
        return run(inputs, std::vector<torch::Tensor>(args.begin() + columns, args.end()));
      },
      example);
}

}  // namespace pinnacle
