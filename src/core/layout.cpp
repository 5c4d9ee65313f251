#include "layout.hpp"

#include <numeric>

namespace pinnacle {

Layout Layout::of(const TrainSpec& spec, const std::vector<int64_t>& column_widths) {
  size_t inputs = spec.key.inputs.size();
  if (column_widths.size() != spec.key.columns().size())
    throw std::logic_error("Layout::of: column widths do not match the key");
  Layout layout;
  layout.input_widths.assign(column_widths.begin(), column_widths.begin() + inputs);
  layout.input_width = std::accumulate(layout.input_widths.begin(), layout.input_widths.end(), int64_t{0});
  layout.target_width = spec.key.has_target() ? column_widths.back() : layout.input_width;
  layout.class_index = spec.objective.wants_class_index();
  layout.has_target = spec.key.has_target();
  layout.padded = spec.collate_fn == "pad";
  if (layout.class_index && layout.target_width != 1)
    throw SpecError("key", "the target \"" + spec.key.target + "\" of " + spec.objective.name +
                               " must be one class index per row, it has " + std::to_string(layout.target_width) +
                               " values");
  return layout;
}

std::vector<torch::Tensor> Layout::inputs(const torch::Tensor& rows) const {
  std::vector<torch::Tensor> columns;
  int64_t offset = 0;
  for (int64_t width : input_widths) {
    columns.push_back(rows.narrow(1, offset, width));
    offset += width;
  }
  return columns;
}

torch::Tensor Layout::targets(const torch::Tensor& rows) const {
  if (!has_target) return rows.narrow(1, 0, input_width);  // the input is the target
  torch::Tensor target = rows.narrow(1, input_width, target_width);
  return class_index ? target.squeeze(1).to(torch::kInt64) : target;
}

std::vector<torch::Tensor> Layout::lengths(const torch::Tensor& rows) const {
  if (!padded) return {};
  int64_t offset = input_width + (has_target ? target_width : 0);
  std::vector<torch::Tensor> lengths;
  for (size_t c = 0; c < input_widths.size(); ++c) lengths.push_back(rows.select(1, offset + c).to(torch::kInt64));
  return lengths;
}

void Layout::check_output(const TrainSpec& spec, const std::vector<int64_t>& output_shape) const {
  std::string target_name = spec.key.has_target() ? "the target \"" + spec.key.target + "\"" : "the input";
  const char* field = spec.torchscript.empty() ? "model.layers" : "model.torchscript";
  if (output_shape.size() != 1)
    throw SpecError(field, "the model gives " + std::to_string(output_shape.size()) +
                                        "-dimensional rows; end with Flatten or Linear to give one value list per row");
  if (class_index) {
    if (output_shape[0] < 2)
      throw SpecError(field, spec.objective.name + " needs one output per class (at least 2), the model gives " +
                                          std::to_string(output_shape[0]));
    return;
  }
  if (output_shape[0] != target_width)
    throw SpecError(field, "the model gives " + std::to_string(output_shape[0]) + " values per row but " +
                                        target_name + " has " + std::to_string(target_width));
}

}  // namespace pinnacle
