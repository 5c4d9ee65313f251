#include "model.hpp"

#include <functional>
#include <map>
#include <sstream>

namespace pinnacle {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

// One layer's JSON object: typed access to its arguments, errors that name them.
class LayerArgs {
 public:
  LayerArgs(const json& layer, std::string field) : layer_(layer), field_(std::move(field)) {}

  void allow(const std::vector<std::string>& names) const {
    for (const auto& item : layer_.items()) {
      if (item.key() == "type") continue;
      if (std::find(names.begin(), names.end(), item.key()) != names.end()) continue;
      std::string hint = closest_name(item.key(), names);
      throw SpecError(field_ + "." + item.key(),
                      "unknown argument of " + type() + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
  }
  std::string type() const { return layer_["type"].get<std::string>(); }
  bool has(const std::string& name) const { return layer_.contains(name); }

  int64_t integer(const std::string& name, int64_t min) const {
    const json& v = layer_.at(name);
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      throw SpecError(field_ + "." + name, "must be an integer of at least " + std::to_string(min));
    return v.get<int64_t>();
  }
  int64_t integer(const std::string& name, int64_t min, int64_t fallback) const {
    return has(name) ? integer(name, min) : fallback;
  }
  int64_t required_integer(const std::string& name, int64_t min) const {
    if (!has(name)) throw SpecError(field_ + "." + name, "is required for " + type());
    return integer(name, min);
  }
  int64_t dim(const std::string& name, int64_t fallback) const {
    return has(name) ? integer(name, -64) : fallback;
  }
  double number(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const json& v = layer_.at(name);
    if (!v.is_number()) throw SpecError(field_ + "." + name, "must be a number");
    return v.get<double>();
  }
  bool boolean(const std::string& name, bool fallback) const {
    if (!has(name)) return fallback;
    const json& v = layer_.at(name);
    if (!v.is_boolean()) throw SpecError(field_ + "." + name, "must be true or false");
    return v.get<bool>();
  }
  std::vector<int64_t> integers(const std::string& name) const {
    const json& v = layer_.at(name);
    std::vector<int64_t> out;
    if (v.is_number_integer()) return {v.get<int64_t>()};
    if (!v.is_array() || v.empty()) throw SpecError(field_ + "." + name, "must be an integer or a list of integers");
    for (const auto& x : v) {
      if (!x.is_number_integer() || x.get<int64_t>() < 1)
        throw SpecError(field_ + "." + name, "must be a list of positive integers");
      out.push_back(x.get<int64_t>());
    }
    return out;
  }
  // An input width the user may give or leave to inference; if given it must match.
  int64_t inferred(const std::string& name, int64_t actual) const {
    if (has(name) && integer(name, 1) != actual)
      throw SpecError(field_ + "." + name, "is " + std::to_string(integer(name, 1)) + " but the input has " +
                                               std::to_string(actual));
    return actual;
  }
  const std::string& field() const { return field_; }

 private:
  const json& layer_;
  std::string field_;
};

using Shape = std::vector<int64_t>;
using LayerFactory = std::function<torch::nn::AnyModule(const LayerArgs&, const Shape&)>;

int64_t last_dim(const LayerArgs& args, const Shape& in) {
  if (in.empty()) throw SpecError(args.field(), args.type() + " needs an input with at least one dimension");
  return in.back();
}

int64_t channels(const LayerArgs& args, const Shape& in) {
  if (in.empty() || in.size() > 2)
    throw SpecError(args.field(), args.type() + " takes (features) or (channels, length) per row, not " + shape_text(in));
  return in.front();
}

const std::map<std::string, LayerFactory>& factories() {
  using namespace torch::nn;
  static const std::map<std::string, LayerFactory> table = {
      {"Linear",
       [](const LayerArgs& a, const Shape& in) {
         a.allow({"in_features", "out_features", "bias"});
         int64_t in_features = a.inferred("in_features", last_dim(a, in));
         int64_t out_features = a.required_integer("out_features", 1);
         return AnyModule(Linear(LinearOptions(in_features, out_features).bias(a.boolean("bias", true))));
       }},
      {"ReLU", [](const LayerArgs& a, const Shape&) { a.allow({"inplace"}); a.boolean("inplace", false); return AnyModule(ReLU()); }},
      {"Tanh", [](const LayerArgs& a, const Shape&) { a.allow({}); return AnyModule(Tanh()); }},
      {"Sigmoid", [](const LayerArgs& a, const Shape&) { a.allow({}); return AnyModule(Sigmoid()); }},
      {"GELU", [](const LayerArgs& a, const Shape&) { a.allow({}); return AnyModule(GELU()); }},
      {"SiLU", [](const LayerArgs& a, const Shape&) { a.allow({}); return AnyModule(SiLU()); }},
      {"LeakyReLU",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"negative_slope"});
         return AnyModule(LeakyReLU(LeakyReLUOptions().negative_slope(a.number("negative_slope", 0.01))));
       }},
      {"Softmax",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"dim"});
         return AnyModule(Softmax(SoftmaxOptions(a.dim("dim", -1))));
       }},
      {"LogSoftmax",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"dim"});
         return AnyModule(LogSoftmax(LogSoftmaxOptions(a.dim("dim", -1))));
       }},
      {"Dropout",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"p", "inplace"});
         double p = a.number("p", 0.5);
         if (p < 0 || p > 1) throw SpecError(a.field() + ".p", "must be between 0 and 1");
         return AnyModule(Dropout(DropoutOptions(p)));
       }},
      {"BatchNorm1d",
       [](const LayerArgs& a, const Shape& in) {
         a.allow({"num_features", "eps", "momentum", "affine", "track_running_stats"});
         int64_t features = a.inferred("num_features", channels(a, in));
         return AnyModule(BatchNorm1d(BatchNorm1dOptions(features)
                                          .eps(a.number("eps", 1e-5))
                                          .momentum(a.number("momentum", 0.1))
                                          .affine(a.boolean("affine", true))
                                          .track_running_stats(a.boolean("track_running_stats", true))));
       }},
      {"LayerNorm",
       [](const LayerArgs& a, const Shape& in) {
         a.allow({"normalized_shape", "eps", "elementwise_affine"});
         std::vector<int64_t> shape = a.has("normalized_shape") ? a.integers("normalized_shape")
                                                                : std::vector<int64_t>{last_dim(a, in)};
         return AnyModule(LayerNorm(LayerNormOptions(shape)
                                        .eps(a.number("eps", 1e-5))
                                        .elementwise_affine(a.boolean("elementwise_affine", true))));
       }},
      {"Flatten",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"start_dim", "end_dim"});
         return AnyModule(Flatten(FlattenOptions().start_dim(a.dim("start_dim", 1)).end_dim(a.dim("end_dim", -1))));
       }},
      {"Unflatten",
       [](const LayerArgs& a, const Shape&) {
         a.allow({"dim", "unflattened_size"});
         if (!a.has("unflattened_size")) throw SpecError(a.field() + ".unflattened_size", "is required for Unflatten");
         return AnyModule(Unflatten(UnflattenOptions(a.dim("dim", 1), a.integers("unflattened_size"))));
       }},
  };
  return table;
}

std::vector<std::string> layer_names() {
  std::vector<std::string> names;
  for (const auto& entry : factories()) names.push_back(entry.first);
  return names;
}

// Runs a two-row probe through the new layer: finds its output shape and turns an
// impossible shape into an error that names the layer.
Shape probe(torch::nn::AnyModule& layer, const Shape& in, const std::string& field) {
  std::vector<int64_t> dims = {2};
  dims.insert(dims.end(), in.begin(), in.end());
  try {
    torch::NoGradGuard no_grad;
    torch::Tensor out = layer.forward(torch::zeros(dims));
    Shape shape(out.sizes().begin() + 1, out.sizes().end());
    return shape;
  } catch (const c10::Error& e) {
    throw SpecError(field, "cannot take an input of shape " + shape_text(in) + ": " + e.what_without_backtrace());
  }
}

}  // namespace

BuiltModel build_model(const json& layers, int64_t input_width) {
  BuiltModel model;
  Shape shape = {input_width};
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string field = "model.layers[" + std::to_string(i) + "]";
    LayerArgs args(layers[i], field);
    auto factory = factories().find(args.type());
    if (factory == factories().end()) {
      std::string hint = closest_name(args.type(), layer_names());
      throw SpecError(field + ".type", "unknown layer type \"" + args.type() + "\"" +
                                           (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
    torch::nn::AnyModule layer = factory->second(args, shape);
    shape = probe(layer, shape, field);
    model.net->push_back(std::to_string(i), std::move(layer));
  }
  model.output_shape = shape;
  return model;
}

}  // namespace pinnacle
