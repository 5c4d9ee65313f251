#include "model.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <type_traits>

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
  void require(const std::string& name) const {
    if (!has(name)) throw SpecError(field_ + "." + name, "is required for " + type());
  }
  int64_t required_integer(const std::string& name, int64_t min) const {
    require(name);
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
  double probability(const std::string& name, double fallback) const {
    double p = number(name, fallback);
    if (p < 0 || p > 1) throw SpecError(field_ + "." + name, "must be between 0 and 1");
    return p;
  }
  bool is_text(const std::string& name) const { return has(name) && layer_.at(name).is_string(); }
  // A string argument with a few allowed values, such as padding="same".
  std::string choice(const std::string& name, const std::vector<std::string>& allowed, const std::string& fallback) const {
    if (!has(name)) return fallback;
    const json& v = layer_.at(name);
    if (v.is_string() && std::find(allowed.begin(), allowed.end(), v.get<std::string>()) != allowed.end())
      return v.get<std::string>();
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    std::string hint = v.is_string() ? closest_name(v.get<std::string>(), allowed) : "";
    throw SpecError(field_ + "." + name,
                    "must be one of " + list + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
  }
  // What torch.nn takes as one int or a tuple of D ints: kernel_size=3 or [3, 5].
  template <size_t D>
  torch::ExpandingArray<D> sizes(const std::string& name, int64_t min) const {
    const json& v = layer_.at(name);
    if (v.is_number_integer() && v.get<int64_t>() >= min) return v.get<int64_t>();
    auto fits = [min](const json& x) { return x.is_number_integer() && x.get<int64_t>() >= min; };
    if (!v.is_array() || v.size() != D || !std::all_of(v.begin(), v.end(), fits))
      throw SpecError(field_ + "." + name, "must be an integer of at least " + std::to_string(min) + " or a list of " +
                                               std::to_string(D) + " such integers");
    return v.get<std::vector<int64_t>>();
  }
  template <size_t D>
  torch::ExpandingArray<D> sizes(const std::string& name, int64_t min, torch::ExpandingArray<D> fallback) const {
    return has(name) ? sizes<D>(name, min) : fallback;
  }
  template <size_t D>
  torch::ExpandingArray<D> required_sizes(const std::string& name, int64_t min) const {
    require(name);
    return sizes<D>(name, min);
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

// Conv and pooling layers of D spatial dimensions take (channels, *spatial) per row,
// what torch.nn expects after the batch dimension. Returns the channel count.
int64_t spatial_channels(const LayerArgs& args, const Shape& in, size_t d) {
  if (in.size() != d + 1)
    throw SpecError(args.field(), args.type() + " takes " + (d == 1 ? "(channels, length)" : "(channels, height, width)") +
                                      " per row, not " + shape_text(in) + "; reshape with Unflatten first");
  return in.front();
}

// LSTM and GRU take (seq_len, features) per row; with batch_first the batch is (N, L, F).
int64_t sequence_features(const LayerArgs& args, const Shape& in) {
  if (in.size() != 2)
    throw SpecError(args.field(), args.type() + " takes (seq_len, features) per row, not " + shape_text(in) +
                                      "; reshape with Unflatten or start with an Embedding");
  return in.back();
}

template <size_t D>
torch::nn::detail::conv_padding_t<D> conv_padding(const LayerArgs& a) {
  if (!a.is_text("padding")) return a.sizes<D>("padding", 0, 0);
  if (a.choice("padding", {"same", "valid"}, "valid") == "same") return torch::kSame;
  return torch::kValid;
}

template <size_t D, class Conv>
torch::nn::AnyModule conv(const LayerArgs& a, const Shape& in) {
  a.allow({"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"});
  int64_t in_channels = a.inferred("in_channels", spatial_channels(a, in, D));
  torch::nn::ConvOptions<D> options(in_channels, a.required_integer("out_channels", 1),
                                    a.required_sizes<D>("kernel_size", 1));
  return torch::nn::AnyModule(Conv(options.stride(a.sizes<D>("stride", 1, 1))
                                       .padding(conv_padding<D>(a))
                                       .dilation(a.sizes<D>("dilation", 1, 1))
                                       .groups(a.integer("groups", 1, 1))
                                       .bias(a.boolean("bias", true))));
}

// As in torch.nn, stride defaults to kernel_size.
template <size_t D, class Pool>
torch::nn::AnyModule max_pool(const LayerArgs& a, const Shape& in) {
  a.allow({"kernel_size", "stride", "padding", "dilation", "ceil_mode"});
  spatial_channels(a, in, D);
  auto kernel = a.required_sizes<D>("kernel_size", 1);
  return torch::nn::AnyModule(Pool(torch::nn::MaxPoolOptions<D>(kernel)
                                       .stride(a.sizes<D>("stride", 1, kernel))
                                       .padding(a.sizes<D>("padding", 0, 0))
                                       .dilation(a.sizes<D>("dilation", 1, 1))
                                       .ceil_mode(a.boolean("ceil_mode", false))));
}

template <size_t D, class Pool>
torch::nn::AnyModule avg_pool(const LayerArgs& a, const Shape& in) {
  a.allow({"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"});
  spatial_channels(a, in, D);
  auto kernel = a.required_sizes<D>("kernel_size", 1);
  return torch::nn::AnyModule(Pool(torch::nn::AvgPoolOptions<D>(kernel)
                                       .stride(a.sizes<D>("stride", 1, kernel))
                                       .padding(a.sizes<D>("padding", 0, 0))
                                       .ceil_mode(a.boolean("ceil_mode", false))
                                       .count_include_pad(a.boolean("count_include_pad", true))));
}

template <class Norm>
torch::nn::AnyModule batch_norm(const LayerArgs& a, int64_t channels) {
  a.allow({"num_features", "eps", "momentum", "affine", "track_running_stats"});
  int64_t features = a.inferred("num_features", channels);
  return torch::nn::AnyModule(Norm(torch::nn::BatchNormOptions(features)
                                       .eps(a.number("eps", 1e-5))
                                       .momentum(a.number("momentum", 0.1))
                                       .affine(a.boolean("affine", true))
                                       .track_running_stats(a.boolean("track_running_stats", true))));
}

torch::nn::AnyModule embedding(const LayerArgs& a, const Shape&) {
  a.allow({"num_embeddings", "embedding_dim", "padding_idx"});
  int64_t count = a.required_integer("num_embeddings", 1);
  torch::nn::EmbeddingOptions options(count, a.required_integer("embedding_dim", 1));
  if (a.has("padding_idx")) {
    // torch.nn takes a negative index as counted from the end.
    int64_t index = a.integer("padding_idx", -count);
    if (index >= count) throw SpecError(a.field() + ".padding_idx", "must be less than num_embeddings");
    options.padding_idx(index);
  }
  return torch::nn::AnyModule(std::make_shared<TokenEmbeddingImpl>(options));
}

}  // namespace

torch::Tensor TiledMaxPool2dImpl::forward(const torch::Tensor& input) {
  const auto& kernel = *options.kernel_size();
  const std::array<int64_t, 2> none{0, 0}, adjacent{1, 1};
  bool tiles = *options.stride() == kernel && *options.padding() == none && *options.dilation() == adjacent &&
               !options.ceil_mode();
  bool differentiated = torch::GradMode::is_enabled() && input.requires_grad();
  if (!tiles || is_training() || differentiated || input.dim() < 3 || kernel[0] * kernel[1] < 2)
    return torch::nn::MaxPool2dImpl::forward(input);
  const int64_t rows = input.size(-2) / kernel[0], columns = input.size(-1) / kernel[1];
  if (rows == 0 || columns == 0) return torch::nn::MaxPool2dImpl::forward(input);  // torch's error
  torch::Tensor tiled = input.narrow(-2, 0, rows * kernel[0]).narrow(-1, 0, columns * kernel[1]);
  torch::Tensor maxima;
  for (int64_t i = 0; i < kernel[0]; ++i)
    for (int64_t j = 0; j < kernel[1]; ++j) {
      torch::Tensor slice = tiled.slice(-2, i, c10::nullopt, kernel[0]).slice(-1, j, c10::nullopt, kernel[1]);
      maxima = maxima.defined() ? torch::maximum(maxima, slice) : slice;
    }
  return maxima;
}

TokenEmbeddingImpl::TokenEmbeddingImpl(torch::nn::EmbeddingOptions options) : options_(std::move(options)) { reset(); }
// Registered, so that its weight is saved, loaded and moved with the model.
void TokenEmbeddingImpl::reset() { embedding_ = register_module("embedding", torch::nn::Embedding(options_)); }
torch::Tensor TokenEmbeddingImpl::forward(const torch::Tensor& ids) { return embedding_(ids.to(torch::kLong)); }

namespace {

// torch.nn's LSTM and GRU return (output, state) but a Sequential layer returns one
// tensor: keep the output of every step, (N, L, H*D), or of the last, output[:, -1].
// Padded rows are packed (as torch.nn.utils.rnn.pack_padded_sequence does), so the padding
// never reaches the state, and "last" is each row's last real step. The export writes the
// same in TorchScript (script_export.cpp): a change here must be made there too.
template <class Rnn, class Options>
class RecurrentImpl final : public torch::nn::Cloneable<RecurrentImpl<Rnn, Options>>, public SequenceLayer {
 public:
  RecurrentImpl(Options options, bool all_steps) : options_(std::move(options)), all_steps_(all_steps) { reset(); }
  // Registered, so that its weights are saved, loaded and moved with the model.
  void reset() override { rnn_ = this->register_module("rnn", Rnn(options_)); }
  torch::Tensor forward(const torch::Tensor& input) {
    torch::Tensor outputs = std::get<0>(rnn_->forward(input, initial_state(input)));
    return all_steps_ ? outputs : outputs.select(1, -1);
  }
  const torch::nn::Module& rnn() const override { return *rnn_; }
  bool all_steps() const override { return all_steps_; }
  torch::Tensor forward_padded(const torch::Tensor& input, const torch::Tensor& steps) override {
    namespace rnn = torch::nn::utils::rnn;
    auto [sorted_steps, order] = steps.sort(/*dim=*/0, /*descending=*/true);
    torch::Tensor restore = std::get<1>(order.sort());
    auto parts = torch::_pack_padded_sequence(input.index_select(0, order), sorted_steps, /*batch_first=*/true);
    rnn::PackedSequence packed(std::get<0>(parts), std::get<1>(parts), order, restore);
    auto unpacked = rnn::pad_packed_sequence(std::get<0>(rnn_->forward_with_packed_input(packed, initial_state(input))),
                                             /*batch_first=*/true, /*padding_value=*/0.0, input.size(1));
    torch::Tensor outputs = std::get<0>(unpacked);  // zeros after each row's last step
    if (all_steps_) return outputs;
    torch::Tensor last = (steps - 1).view({-1, 1, 1}).expand({-1, 1, outputs.size(2)});
    return outputs.gather(1, last).squeeze(1);
  }

 private:
  // Zeros of (layers * directions, N, hidden).
  auto initial_state(const torch::Tensor& input) const {
    int64_t layers = options_.num_layers() * (options_.bidirectional() ? 2 : 1);
    torch::Tensor zeros = input.new_zeros({layers, input.size(0), options_.hidden_size()});
    if constexpr (std::is_same_v<Rnn, torch::nn::LSTM>)
      return std::make_tuple(zeros, zeros);
    else
      return zeros;
  }

  Options options_;
  bool all_steps_;
  Rnn rnn_{nullptr};
};

template <class Rnn, class Options>
torch::nn::AnyModule recurrent(const LayerArgs& a, const Shape& in) {
  a.allow({"input_size", "hidden_size", "num_layers", "bias", "dropout", "bidirectional", "output"});
  Options options(a.inferred("input_size", sequence_features(a, in)), a.required_integer("hidden_size", 1));
  options.num_layers(a.integer("num_layers", 1, 1))
      .bias(a.boolean("bias", true))
      .batch_first(true)
      .dropout(a.probability("dropout", 0.0))
      .bidirectional(a.boolean("bidirectional", false));
  bool all_steps = a.choice("output", {"last", "all"}, "last") == "all";
  return torch::nn::AnyModule(std::make_shared<RecurrentImpl<Rnn, Options>>(options, all_steps));
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
         a.boolean("inplace", false);
         return AnyModule(Dropout(DropoutOptions(a.probability("p", 0.5))));
       }},
      {"BatchNorm1d", [](const LayerArgs& a, const Shape& in) { return batch_norm<BatchNorm1d>(a, channels(a, in)); }},
      {"BatchNorm2d",
       [](const LayerArgs& a, const Shape& in) { return batch_norm<BatchNorm2d>(a, spatial_channels(a, in, 2)); }},
      {"Conv1d", conv<1, Conv1d>},
      {"Conv2d", conv<2, Conv2d>},
      {"MaxPool1d", max_pool<1, MaxPool1d>},
      {"MaxPool2d", max_pool<2, TiledMaxPool2d>},
      {"AvgPool1d", avg_pool<1, AvgPool1d>},
      {"AvgPool2d", avg_pool<2, AvgPool2d>},
      {"AdaptiveAvgPool2d",
       [](const LayerArgs& a, const Shape& in) {
         a.allow({"output_size"});
         spatial_channels(a, in, 2);
         return AnyModule(AdaptiveAvgPool2d(AdaptiveAvgPool2dOptions(*a.required_sizes<2>("output_size", 1))));
       }},
      {"Embedding", embedding},
      {"LSTM", recurrent<LSTM, LSTMOptions>},
      {"GRU", recurrent<GRU, GRUOptions>},
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

// torch's own checks at construction (groups that do not divide the channels, padding
// "same" with a stride, ...) become errors that name the layer.
torch::nn::AnyModule make_layer(const LayerFactory& factory, const LayerArgs& args, const Shape& in) {
  try {
    return factory(args, in);
  } catch (const c10::Error& e) {
    throw SpecError(args.field(), std::string("cannot be built: ") + e.what_without_backtrace());
  }
}

// Runs a two-row probe through the new layer: finds its output shape and turns an
// impossible shape into an error that names the layer. In eval mode, so that the
// probe leaves BatchNorm's running statistics untouched.
Shape probe(torch::nn::AnyModule& layer, const Shape& in, const std::string& field) {
  std::vector<int64_t> dims = {2};
  dims.insert(dims.end(), in.begin(), in.end());
  try {
    torch::NoGradGuard no_grad;
    layer.ptr()->eval();
    torch::Tensor out = layer.forward(torch::zeros(dims));
    layer.ptr()->train();
    Shape shape(out.sizes().begin() + 1, out.sizes().end());
    return shape;
  } catch (const c10::Error& e) {
    throw SpecError(field, "cannot take an input of shape " + shape_text(in) + ": " + e.what_without_backtrace());
  }
}

}  // namespace

BuiltModel build_model(const json& layers, int64_t input_width, const std::vector<int64_t>& input_shape) {
  BuiltModel model;
  Shape shape = {input_width};
  if (!input_shape.empty()) {  // a reshape transform: the rows reach the first layer in this shape
    model.net->push_back("reshape", torch::nn::Unflatten(torch::nn::UnflattenOptions(1, input_shape)));
    shape = input_shape;
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string field = "model.layers[" + std::to_string(i) + "]";
    LayerArgs args(layers[i], field);
    auto factory = factories().find(args.type());
    if (factory == factories().end()) {
      std::string hint = closest_name(args.type(), layer_names());
      throw SpecError(field + ".type", "unknown layer type \"" + args.type() + "\"" +
                                           (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
    torch::nn::AnyModule layer = make_layer(factory->second, args, shape);
    shape = probe(layer, shape, field);
    model.net->push_back(std::to_string(i), std::move(layer));
  }
  model.output_shape = shape;
  return model;
}

}  // namespace pinnacle
