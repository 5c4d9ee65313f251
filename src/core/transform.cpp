#include "transform.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace pinnacle {

namespace {

using Kind = TransformStep::Kind;

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
    : names_(column_names), input_columns_(input_columns),
      steps_(read_transform_steps(spec_transform, column_names, input_columns)) {}

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
        for (size_t j = 0; j < i; ++j) x = apply_step(steps_[c][j], x, transform_step_field(names_[c], j));
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
      for (size_t i = 0; i < steps_[c].size(); ++i) x = apply_step(steps_[c][i], x, transform_step_field(names_[c], i));
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
    for (const auto& s : steps_[c]) out[names_[c]].push_back(write_transform_step(s));
  return out;
}

Transformer Transformer::from_fitted(const json& fitted, const std::vector<std::string>& column_names,
                                     size_t input_columns) {
  return Transformer(fitted.is_null() ? json::object() : fitted, column_names, input_columns);
}

}  // namespace pinnacle
