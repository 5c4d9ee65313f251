#include "transform_steps.hpp"

#include <algorithm>

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

}  // namespace

std::string transform_step_field(const std::string& column, size_t i) {
  return "transform." + column + "[" + std::to_string(i) + "]";
}

json write_transform_step(const TransformStep& s) {
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

std::vector<std::vector<TransformStep>> read_transform_steps(const json& spec_transform,
                                                             const std::vector<std::string>& column_names,
                                                             size_t input_columns) {
  std::vector<std::vector<TransformStep>> steps(column_names.size());
  auto inputs_end = column_names.begin() + input_columns;
  if (!spec_transform.is_object()) throw SpecError("transform", "must be an object keyed by input column name");
  for (const auto& item : spec_transform.items()) {
    auto at = std::find(column_names.begin(), inputs_end, item.key());
    if (at == inputs_end)
      throw SpecError("transform." + item.key(),
                      std::find(column_names.begin(), column_names.end(), item.key()) != column_names.end()
                          ? "transforms apply to input columns; the target is compared as stored"
                          : "is not an input column of key");
    if (!item.value().is_array()) throw SpecError("transform." + item.key(), "must be a list of steps");
    auto& column = steps[at - column_names.begin()];
    for (size_t i = 0; i < item.value().size(); ++i) {
      column.push_back(read_step(item.value()[i], transform_step_field(item.key(), i)));
      if (column.back().kind == Kind::reshape && (input_columns != 1 || i + 1 != item.value().size()))
        throw SpecError(transform_step_field(item.key(), i), "reshape must be the last step of the only input column");
    }
  }
  return steps;
}

}  // namespace pinnacle
