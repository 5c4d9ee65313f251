#include "transform.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace pinnacle {

namespace {

using Kind = TransformStep::Kind;

std::vector<float> floats(const json& values) { return values.get<std::vector<float>>(); }

// One step, as the spec writes it ("standardize", {"scale": 2}) or as fitted() saved it.
TransformStep read_step(const json& step, const std::string& field) {
  TransformStep s{};
  if (step.is_string()) {
    std::string name = step.get<std::string>();
    s.kind = name == "standardize" ? Kind::standardize : Kind::min_max;
    if (name == "standardize" || name == "min_max") return s;
    throw SpecError(field, "\"" + name + "\" is not a step; use \"standardize\", \"min_max\" or {\"scale\": k}, "
                                         "{\"shift\": b}, {\"one_hot\": n}, {\"reshape\": [...]}, {\"cast\": ...}");
  }
  if (!step.is_object() || step.size() != 1) throw SpecError(field, "must be a step name or an object with one step");
  const std::string& name = step.begin().key();
  const json& arg = step.begin().value();
  if (name == "scale" || name == "shift") {
    if (!arg.is_number()) throw SpecError(field + "." + name, "must be a number");
    s.kind = name == "scale" ? Kind::scale : Kind::shift;
    s.factor = arg.get<double>();
  } else if (name == "one_hot") {
    if (!arg.is_number_integer() || arg.get<int64_t>() < 2) throw SpecError(field + ".one_hot", "must be an integer of at least 2");
    s.kind = Kind::one_hot;
    s.classes = arg.get<int64_t>();
  } else if (name == "reshape") {
    if (!arg.is_array() || arg.empty()) throw SpecError(field + ".reshape", "must be a list of positive integers");
    for (const auto& d : arg) {
      if (!d.is_number_integer() || d.get<int64_t>() < 1) throw SpecError(field + ".reshape", "must be a list of positive integers");
      s.shape.push_back(d.get<int64_t>());
    }
    s.kind = Kind::reshape;
  } else if (name == "cast") {
    if (!arg.is_string() || (arg != "float32" && arg != "int64"))
      throw SpecError(field + ".cast", "must be \"float32\" or \"int64\"");
    s.kind = Kind::cast;
    s.dtype = arg.get<std::string>();
  } else if (name == "standardize" || name == "min_max") {  // fitted form
    s.kind = name == "standardize" ? Kind::standardize : Kind::min_max;
    s.center = floats(arg.at("center"));
    s.spread = floats(arg.at("spread"));
  } else {
    throw SpecError(field, "unknown step \"" + name + "\"");
  }
  return s;
}

json write_step(const TransformStep& s) {
  switch (s.kind) {
    case Kind::scale: return {{"scale", s.factor}};
    case Kind::shift: return {{"shift", s.factor}};
    case Kind::one_hot: return {{"one_hot", s.classes}};
    case Kind::reshape: return {{"reshape", s.shape}};
    case Kind::cast: return {{"cast", s.dtype}};
    case Kind::standardize: return {{"standardize", {{"center", s.center}, {"spread", s.spread}}}};
    case Kind::min_max: return {{"min_max", {{"center", s.center}, {"spread", s.spread}}}};
  }
  return nullptr;
}

std::string step_field(const std::string& column, size_t i) {
  return "transform." + column + "[" + std::to_string(i) + "]";
}

// Per value position, the statistics of the values reaching a standardize or min_max step,
// gathered chunk by chunk (in double, so that a million rows sum without drift).
struct Statistics {
  int64_t count = 0;
  torch::Tensor sum, sum_of_squares, min, max;

  void add(const torch::Tensor& chunk) {
    if (chunk.size(0) == 0) {
      if (count == 0 && !sum.defined()) {  // (a rank with no rows still joins the reduction)
        auto options = torch::TensorOptions().dtype(torch::kFloat64);
        sum = torch::zeros({chunk.size(1)}, options);
        sum_of_squares = torch::zeros({chunk.size(1)}, options);
        min = torch::full({chunk.size(1)}, std::numeric_limits<double>::infinity(), options);
        max = torch::full({chunk.size(1)}, -std::numeric_limits<double>::infinity(), options);
      }
      return;
    }
    torch::Tensor x = chunk.to(torch::kFloat64);
    torch::Tensor chunk_min = std::get<0>(x.min(0)), chunk_max = std::get<0>(x.max(0));
    bool first = count == 0;
    sum = first ? x.sum(0) : sum + x.sum(0);
    sum_of_squares = first ? (x * x).sum(0) : sum_of_squares + (x * x).sum(0);
    min = first ? chunk_min : torch::minimum(min, chunk_min);
    max = first ? chunk_max : torch::maximum(max, chunk_max);
    count += x.size(0);
  }

  void reduce(const Transformer::Reduction& reduction) {
    if (!sum.defined()) throw std::logic_error("statistics reduced before any rows were visited");
    torch::Tensor sums = torch::cat({torch::tensor({static_cast<double>(count)}, torch::kFloat64), sum, sum_of_squares});
    reduction.sum(sums);
    reduction.minimum(min);
    reduction.maximum(max);
    count = static_cast<int64_t>(std::llround(sums[0].item<double>()));
    sum = sums.narrow(0, 1, sum.numel()).clone();
    sum_of_squares = sums.narrow(0, 1 + sum.numel(), sum.numel()).clone();
  }

  void fit(TransformStep& s) const {
    if (count == 0) throw std::runtime_error("a transform cannot be fitted on no rows");
    torch::Tensor center, spread;
    if (s.kind == Kind::standardize) {
      center = sum / count;
      spread = (sum_of_squares / count - center * center).clamp_min(0).sqrt();
    } else {
      center = min;
      spread = max - min;
    }
    spread = torch::where(spread > 0, spread, torch::ones_like(spread));  // constant values stay finite
    center = center.to(torch::kFloat32).contiguous();
    spread = spread.to(torch::kFloat32).contiguous();
    s.center.assign(center.data_ptr<float>(), center.data_ptr<float>() + center.numel());
    s.spread.assign(spread.data_ptr<float>(), spread.data_ptr<float>() + spread.numel());
  }
};

torch::Tensor apply_step(const TransformStep& s, const torch::Tensor& x, const std::string& field) {
  switch (s.kind) {
    case Kind::scale: return x * s.factor;
    case Kind::shift: return x + s.factor;
    case Kind::standardize:
    case Kind::min_max: {
      if (static_cast<int64_t>(s.center.size()) != x.size(1))
        throw std::runtime_error(field + ": fitted on " + std::to_string(s.center.size()) + " values, given " +
                                 std::to_string(x.size(1)));
      return (x - torch::tensor(s.center)) / torch::tensor(s.spread);
    }
    case Kind::one_hot: {
      if (x.size(1) != 1) throw SpecError(field, "one_hot needs one value per row, the column has " + std::to_string(x.size(1)));
      torch::Tensor classes = x.squeeze(1).to(torch::kInt64);
      if (x.numel() > 0 && (classes.min().item<int64_t>() < 0 || classes.max().item<int64_t>() >= s.classes))
        throw std::runtime_error(field + ": one_hot of " + std::to_string(s.classes) + " classes got a value outside 0.." +
                                 std::to_string(s.classes - 1));
      return torch::one_hot(classes, s.classes).to(torch::kFloat32);
    }
    case Kind::reshape: {
      int64_t n = std::accumulate(s.shape.begin(), s.shape.end(), int64_t{1}, std::multiplies<int64_t>());
      if (n != x.size(1))
        throw SpecError(field, "reshape to " + std::to_string(n) + " values, but the column has " + std::to_string(x.size(1)));
      return x;  // the model sees the shape (input_shape); the rows stay flat
    }
    case Kind::cast: return s.dtype == "int64" ? x.trunc() : x;
  }
  return x;
}

}  // namespace

Transformer::Transformer(const json& spec_transform, const std::vector<std::string>& column_names,
                         size_t input_columns)
    : names_(column_names), input_columns_(input_columns), steps_(column_names.size()) {
  if (!spec_transform.is_object()) throw SpecError("transform", "must be an object keyed by input column name");
  for (const auto& item : spec_transform.items()) {
    auto at = std::find(names_.begin(), names_.begin() + input_columns_, item.key());
    if (at == names_.begin() + input_columns_)
      throw SpecError("transform." + item.key(),
                      std::find(names_.begin(), names_.end(), item.key()) != names_.end()
                          ? "transforms apply to input columns; the target is compared as stored"
                          : "is not an input column of key");
    if (!item.value().is_array()) throw SpecError("transform." + item.key(), "must be a list of steps");
    auto& steps = steps_[at - names_.begin()];
    for (size_t i = 0; i < item.value().size(); ++i) {
      steps.push_back(read_step(item.value()[i], step_field(item.key(), i)));
      if (steps.back().kind == Kind::reshape && (input_columns_ != 1 || i + 1 != item.value().size()))
        throw SpecError(step_field(item.key(), i), "reshape must be the last step of the only input column");
    }
  }
}

bool Transformer::empty() const {
  return std::all_of(steps_.begin(), steps_.end(), [](const auto& column) { return column.empty(); });
}

void Transformer::fit(const torch::Tensor& rows, const std::vector<int64_t>& widths) {
  fit([&](const ChunkVisitor& visit) { visit(rows); }, widths);
}

// One pass over the rows per fitted step: a step's statistics are of the values the steps
// before it give, which may themselves be fitted.
void Transformer::fit(const RowPass& each_chunk, const std::vector<int64_t>& widths) {
  fit(each_chunk, widths, nullptr);
}

void Transformer::fit(const RowPass& each_chunk, const std::vector<int64_t>& widths, const Reduction* reduction) {
  int64_t offset = 0;
  for (size_t c = 0; c < steps_.size(); offset += widths[c], ++c)
    for (size_t i = 0; i < steps_[c].size(); ++i) {
      TransformStep& s = steps_[c][i];
      if (s.kind != Kind::standardize && s.kind != Kind::min_max) continue;
      Statistics statistics;
      each_chunk([&](const torch::Tensor& rows) {
        torch::Tensor x = rows.narrow(1, offset, widths[c]);
        for (size_t j = 0; j < i; ++j) x = apply_step(steps_[c][j], x, step_field(names_[c], j));
        statistics.add(x);
      });
      if (reduction) statistics.reduce(*reduction);
      statistics.fit(s);
    }
}

torch::Tensor Transformer::apply(const torch::Tensor& rows, const std::vector<int64_t>& widths) const {
  std::vector<torch::Tensor> columns;
  int64_t offset = 0;
  for (size_t c = 0; c < widths.size(); ++c) {
    torch::Tensor x = rows.narrow(1, offset, widths[c]);
    offset += widths[c];
    if (c < steps_.size())
      for (size_t i = 0; i < steps_[c].size(); ++i) x = apply_step(steps_[c][i], x, step_field(names_[c], i));
    columns.push_back(x);
  }
  if (offset < rows.size(1)) columns.push_back(rows.narrow(1, offset, rows.size(1) - offset));  // lengths
  return columns.size() == 1 ? columns[0].contiguous() : torch::cat(columns, 1).contiguous();
}

std::vector<int64_t> Transformer::output_widths(const std::vector<int64_t>& widths) const {
  std::vector<int64_t> out = widths;
  for (size_t c = 0; c < steps_.size() && c < out.size(); ++c)
    for (const auto& s : steps_[c])
      if (s.kind == Kind::one_hot) out[c] = s.classes;
  return out;
}

std::vector<int64_t> Transformer::input_shape() const {
  for (const auto& column : steps_)
    if (!column.empty() && column.back().kind == Kind::reshape) return column.back().shape;
  return {};
}

json Transformer::fitted() const {
  json out = json::object();
  for (size_t c = 0; c < steps_.size(); ++c)
    for (const auto& s : steps_[c]) out[names_[c]].push_back(write_step(s));
  return out;
}

Transformer Transformer::from_fitted(const json& fitted, const std::vector<std::string>& column_names,
                                     size_t input_columns) {
  return Transformer(fitted.is_null() ? json::object() : fitted, column_names, input_columns);
}

}  // namespace pinnacle
