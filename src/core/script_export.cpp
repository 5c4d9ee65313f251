#include "script_export.hpp"

#include <sstream>
#include <string>

#include "model.hpp"

namespace pinnacle {

namespace {

// A copy of a trained tensor that Python's optimizers can update.
torch::Tensor trainable(const torch::Tensor& tensor) { return tensor.detach().clone().requires_grad_(true); }

std::string number(double value) {
  std::ostringstream out;
  out.precision(17);  // a double's every digit: the export computes with the same constants
  out << value;
  std::string text = out.str();
  // TorchScript reads "1" as an int: a float argument needs its point
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

std::string boolean(bool value) { return value ? "True" : "False"; }

// A dtype in define()'s source, where torch.int64 does not resolve: its ScalarType's number.
std::string dtype_number(c10::ScalarType type) { return std::to_string(static_cast<int>(type)); }

std::string ints(c10::ArrayRef<int64_t> values) {
  std::string text;
  for (int64_t v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
  return "[" + text + "]";
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// An empty module of type `name`, with the "training" flag that nn.Module has (Dropout and
// BatchNorm read it, and Python's .train() and .eval() set it).
torch::jit::Module new_module(const std::string& name) {
  torch::jit::Module module("__torch__.pinnacle." + name);
  if (!module.hasattr("training")) module.register_attribute("training", c10::BoolType::get(), true);
  return module;
}

// A module of type `name` with copies of `source`'s own parameters (trainable) and buffers,
// under torch.nn's names.
torch::jit::Module with_tensors(const std::string& name, const torch::nn::Module& source) {
  torch::jit::Module module = new_module(name);
  for (const auto& p : source.named_parameters(/*recurse=*/false))
    module.register_parameter(p.key(), trainable(p.value()), false);
  for (const auto& b : source.named_buffers(/*recurse=*/false))
    module.register_buffer(b.key(), b.value().detach().clone());
  return module;
}

// "self.<name>", or None where the layer has no such tensor (bias=false, affine=false).
std::string tensor_or_none(const torch::nn::Module& source, const std::string& name) {
  bool has = source.named_parameters(false).contains(name) || source.named_buffers(false).contains(name);
  return has ? "self." + name : "None";  // (undefined tensors are not listed)
}

torch::jit::Module defined(torch::jit::Module module, const std::string& body) {
  module.define("def forward(self, x):\n    return " + body + "\n");
  return module;
}

// One layer without tensors, as a module of type `name` whose forward returns `body` (of x).
torch::jit::Module layer(const std::string& name, const std::string& body) { return defined(new_module(name), body); }

template <size_t D>
std::string conv_padding(const torch::nn::detail::conv_padding_t<D>& padding) {
  if (const auto* sizes = c10::get_if<torch::ExpandingArray<D>>(&padding)) return ints(**sizes);
  return c10::get_if<torch::enumtype::kSame>(&padding) ? "\"same\"" : "\"valid\"";
}

template <size_t D, class Impl>
torch::jit::Module conv(const Impl& c, const std::string& name) {
  const auto& o = c.options;
  return defined(with_tensors(name, c), "torch.conv" + std::to_string(D) + "d(x, self.weight, " +
                                            tensor_or_none(c, "bias") + ", " + ints(*o.stride()) + ", " +
                                            conv_padding<D>(o.padding()) + ", " + ints(*o.dilation()) + ", " +
                                            std::to_string(o.groups()) + ")");
}

template <class Impl>
torch::jit::Module batch_norm(const Impl& n, const std::string& name) {
  const auto& o = n.options;
  bool tracked = o.track_running_stats();
  torch::jit::Module module = with_tensors(name, n);
  // as torch.nn: batch statistics while training (or always, untracked), running ones in eval
  std::string call = "torch.batch_norm(x, " + tensor_or_none(n, "weight") + ", " + tensor_or_none(n, "bias") + ", " +
                     tensor_or_none(n, "running_mean") + ", " + tensor_or_none(n, "running_var") + ", " +
                     (tracked ? "self.training" : "True") + ", " + number(o.momentum().value_or(0.1)) + ", " +
                     number(o.eps()) + ", True)";
  module.define(std::string("def forward(self, x):\n") +
                (tracked ? "    if self.training:\n        self.num_batches_tracked.add_(1)\n" : "") +
                "    return " + call + "\n");
  return module;
}

struct RnnSettings {
  int64_t layers, hidden;
  bool bias, bidirectional;
  double dropout;
};

template <class Options>
RnnSettings settings_of(const Options& o) {
  return {o.num_layers(), o.hidden_size(), o.bias(), o.bidirectional(), o.dropout()};
}

// LSTM or GRU, batch first, from zeros: forward(x) as RecurrentImpl::forward, and
// forward_padded(x, steps) as its forward_padded (rows sorted, packed, unpacked, restored).
torch::jit::Module recurrent(const SequenceLayer& sequence) {
  const auto* lstm = dynamic_cast<const torch::nn::LSTMImpl*>(&sequence.rnn());
  const auto* gru = dynamic_cast<const torch::nn::GRUImpl*>(&sequence.rnn());
  if (!lstm && !gru) throw std::logic_error("a sequence layer that is neither LSTM nor GRU");
  RnnSettings o = lstm ? settings_of(lstm->options) : settings_of(gru->options);
  std::string settings = boolean(o.bias) + ", " + std::to_string(o.layers) + ", " + number(o.dropout) +
                         ", self.training, " + boolean(o.bidirectional);
  std::vector<std::string> params;
  for (const auto& p : sequence.rnn().named_parameters(false)) params.push_back("self." + p.key());
  std::string op = lstm ? "torch.lstm" : "torch.gru";
  std::string state = lstm ? "[h, h]" : "h";
  std::string zeros = "    h = x.new_zeros([" + std::to_string(o.layers * (o.bidirectional ? 2 : 1)) +
                      ", x.size(0), " + std::to_string(o.hidden) + "])\n";
  std::string last = sequence.all_steps() ? "    return out\n" : "";

  torch::jit::Module module = with_tensors(lstm ? "LSTM" : "GRU", sequence.rnn());
  module.define("def forward(self, x):\n" + zeros + "    out = " + op + "(x, " + state + ", [" + joined(params) +
                "], " + settings + ", True)[0]\n" + last + "    return out.select(1, -1)\n");
  module.define(
      "def forward_padded(self, x, steps):\n"
      "    sorted_steps, order = torch.sort(steps, 0, True)\n"
      "    restore = torch.sort(order)[1]\n"
      "    data, batch_sizes = torch._pack_padded_sequence(x.index_select(0, order), sorted_steps, True)\n" +
      zeros + "    packed = " + op + "(data, batch_sizes, " + state + ", [" + joined(params) + "], " + settings +
      ")[0]\n"
      "    out = torch._pad_packed_sequence(packed, batch_sizes, True, 0.0, x.size(1))[0].index_select(0, restore)\n" +
      last +
      "    last = (steps - 1).view([-1, 1, 1]).expand([-1, 1, out.size(2)])\n"
      "    return out.gather(1, last).squeeze(1)\n");
  return module;
}

// Layers with tensors, and those whose arguments shape them.
std::optional<torch::jit::Module> shaped_layer(const torch::nn::Module& module) {
  using namespace torch::nn;
  if (const auto* linear = dynamic_cast<const LinearImpl*>(&module))
    return defined(with_tensors("Linear", *linear), "torch.linear(x, self.weight, " + tensor_or_none(*linear, "bias") + ")");
  if (const auto* c = dynamic_cast<const Conv1dImpl*>(&module)) return conv<1>(*c, "Conv1d");
  if (const auto* c = dynamic_cast<const Conv2dImpl*>(&module)) return conv<2>(*c, "Conv2d");
  if (const auto* n = dynamic_cast<const BatchNorm1dImpl*>(&module)) return batch_norm(*n, "BatchNorm1d");
  if (const auto* n = dynamic_cast<const BatchNorm2dImpl*>(&module)) return batch_norm(*n, "BatchNorm2d");
  if (const auto* n = dynamic_cast<const LayerNormImpl*>(&module))
    return defined(with_tensors("LayerNorm", *n), "torch.layer_norm(x, " + ints(n->options.normalized_shape()) + ", " +
                                                      tensor_or_none(*n, "weight") + ", " + tensor_or_none(*n, "bias") +
                                                      ", " + number(n->options.eps()) + ", True)");
  if (const auto* token = dynamic_cast<const TokenEmbeddingImpl*>(&module)) {
    const EmbeddingImpl& e = token->embedding();
    return defined(with_tensors("Embedding", e), "torch.embedding(self.weight, x.to(" + dtype_number(torch::kLong) + ").contiguous(), " +
                                                     std::to_string(e.options.padding_idx().value_or(-1)) +
                                                     ", False, False)");
  }
  if (const auto* sequence = dynamic_cast<const SequenceLayer*>(&module)) return recurrent(*sequence);
  return std::nullopt;
}

std::optional<torch::jit::Module> pooling_layer(const torch::nn::Module& module) {
  using namespace torch::nn;
  if (const auto* p = dynamic_cast<const MaxPool1dImpl*>(&module))
    return layer("MaxPool1d", "torch.max_pool1d(x, " + ints(*p->options.kernel_size()) + ", " +
                                  ints(*p->options.stride()) + ", " + ints(*p->options.padding()) + ", " +
                                  ints(*p->options.dilation()) + ", " + boolean(p->options.ceil_mode()) + ")");
  if (const auto* p = dynamic_cast<const MaxPool2dImpl*>(&module))
    return layer("MaxPool2d", "torch.max_pool2d(x, " + ints(*p->options.kernel_size()) + ", " +
                                  ints(*p->options.stride()) + ", " + ints(*p->options.padding()) + ", " +
                                  ints(*p->options.dilation()) + ", " + boolean(p->options.ceil_mode()) + ")");
  if (const auto* p = dynamic_cast<const AvgPool1dImpl*>(&module))
    return layer("AvgPool1d", "torch.avg_pool1d(x, " + ints(*p->options.kernel_size()) + ", " +
                                  ints(*p->options.stride()) + ", " + ints(*p->options.padding()) + ", " +
                                  boolean(p->options.ceil_mode()) + ", " +
                                  boolean(p->options.count_include_pad()) + ")");
  if (const auto* p = dynamic_cast<const AvgPool2dImpl*>(&module))
    return layer("AvgPool2d", "torch.avg_pool2d(x, " + ints(*p->options.kernel_size()) + ", " +
                                  ints(*p->options.stride()) + ", " + ints(*p->options.padding()) + ", " +
                                  boolean(p->options.ceil_mode()) + ", " +
                                  boolean(p->options.count_include_pad()) + ", None)");
  if (const auto* p = dynamic_cast<const AdaptiveAvgPool2dImpl*>(&module)) {
    std::vector<int64_t> size;
    for (const auto& d : *p->options.output_size()) size.push_back(d.value());
    return layer("AdaptiveAvgPool2d", "torch.adaptive_avg_pool2d(x, " + ints(size) + ")");
  }
  return std::nullopt;
}

std::optional<torch::jit::Module> elementwise_layer(const torch::nn::Module& module) {
  using namespace torch::nn;
  if (dynamic_cast<const ReLUImpl*>(&module)) return layer("ReLU", "torch.relu(x)");
  if (dynamic_cast<const TanhImpl*>(&module)) return layer("Tanh", "torch.tanh(x)");
  if (dynamic_cast<const SigmoidImpl*>(&module)) return layer("Sigmoid", "torch.sigmoid(x)");
  if (dynamic_cast<const SiLUImpl*>(&module)) return layer("SiLU", "torch.silu(x)");
  if (const auto* gelu = dynamic_cast<const GELUImpl*>(&module))
    return layer("GELU", "torch.gelu(x, approximate=\"" + gelu->options.approximate() + "\")");
  if (const auto* leaky = dynamic_cast<const LeakyReLUImpl*>(&module))
    return layer("LeakyReLU", "torch.leaky_relu(x, " + number(leaky->options.negative_slope()) + ")");
  if (const auto* dropout = dynamic_cast<const DropoutImpl*>(&module))
    return layer("Dropout", "torch.dropout(x, " + number(dropout->options.p()) + ", self.training)");
  if (const auto* s = dynamic_cast<const SoftmaxImpl*>(&module))
    return layer("Softmax", "torch.softmax(x, " + std::to_string(s->options.dim()) + ")");
  if (const auto* s = dynamic_cast<const LogSoftmaxImpl*>(&module))
    return layer("LogSoftmax", "torch.log_softmax(x, " + std::to_string(s->options.dim()) + ")");
  if (const auto* flatten = dynamic_cast<const FlattenImpl*>(&module))
    return layer("Flatten", "torch.flatten(x, " + std::to_string(flatten->options.start_dim()) + ", " +
                                std::to_string(flatten->options.end_dim()) + ")");
  if (const auto* u = dynamic_cast<const UnflattenImpl*>(&module))
    return layer("Unflatten", "torch.unflatten(x, " + std::to_string(u->options.dim()) + ", " +
                                  ints(u->options.sizes()) + ")");
  return std::nullopt;
}

torch::jit::Module script_layer(const torch::nn::Module& module, const std::string& index) {
  if (auto scripted = shaped_layer(module)) return *scripted;
  if (auto scripted = pooling_layer(module)) return *scripted;
  if (auto scripted = elementwise_layer(module)) return *scripted;
  throw std::logic_error("layer " + index + " (" + module.name() + ") has no scripted form for the export");
}

// The layer list as nn.Sequential would hold it. A reshape transform's Unflatten, which the
// builder puts first, belongs to the transform module instead. A padded list's forward takes
// the lengths too and hands each sequence layer its rows' steps, as Network::forward_layers does;
// its inputs are first padded with zeros to the stored width, as pinnacle_predict pads them, since
// the steps are counted in that width.
torch::jit::Module sequential(const torch::nn::Sequential& net, bool padded, int64_t input_width) {
  torch::jit::Module model = new_module("Sequential");
  std::ostringstream forward;
  forward << "def forward(self, x" << (padded ? ", lengths" : "") << "):\n";
  if (padded) {
    forward << "    assert x.size(1) <= " << input_width << ", \"the inputs are longer than the model's width, "
            << input_width << "\"\n";
    forward << "    x = torch.constant_pad_nd(x, [0, " << input_width << " - x.size(1)], 0.)\n";
  }
  for (const auto& child : net->named_children()) {
    if (child.key() == "reshape") continue;
    model.register_module(child.key(), script_layer(*child.value(), child.key()));
    std::string call = "getattr(self, \"" + child.key() + "\")";
    if (padded && dynamic_cast<const SequenceLayer*>(child.value().get())) {
      forward << "    steps = torch.clamp(torch.div(lengths * x.size(1) + " << input_width - 1 << ", " << input_width
              << ", rounding_mode=\"floor\"), 1, x.size(1))\n";
      forward << "    x = " << call << ".forward_padded(x, steps)\n";
    } else {
      forward << "    x = " << call << ".forward(x)\n";
    }
  }
  forward << "    return x\n";
  model.define(forward.str());
  return model;
}

// One transform step of input column `column` (variable x<column>) as a line of source; its
// fitted statistics become buffers of `module`.
std::string transform_step(torch::jit::Module& module, const TransformStep& s, size_t column, size_t index) {
  std::string x = "x" + std::to_string(column);
  std::string suffix = "_" + std::to_string(column) + "_" + std::to_string(index);
  std::string assign = "    " + x + " = ";
  switch (s.kind) {
    case TransformStep::Kind::scale: return assign + x + " * " + number(s.factor) + "\n";
    case TransformStep::Kind::shift: return assign + x + " + " + number(s.factor) + "\n";
    case TransformStep::Kind::standardize:
    case TransformStep::Kind::min_max:
      module.register_buffer("center" + suffix, torch::tensor(s.center));
      module.register_buffer("spread" + suffix, torch::tensor(s.spread));
      return assign + "(" + x + " - self.center" + suffix + ") / self.spread" + suffix + "\n";
    case TransformStep::Kind::one_hot:
      return assign + "torch.one_hot(" + x + ".squeeze(1).to(" + dtype_number(torch::kLong) + "), " +
             std::to_string(s.classes) + ").to(" + dtype_number(torch::kFloat32) + ")\n";
    case TransformStep::Kind::reshape: return assign + "torch.unflatten(" + x + ", 1, " + ints(s.shape) + ")\n";
    case TransformStep::Kind::cast: return s.dtype == "int64" ? assign + x + ".trunc()\n" : "";
  }
  return "";
}

// forward(x0, ...) returns the transformed input columns, as Transformer::apply (with a
// reshape step applied as the model would see it).
torch::jit::Module transform_module(const Transformer& transformer, size_t input_columns) {
  torch::jit::Module module = new_module("Transform");
  std::vector<std::string> names;
  std::string body;
  for (size_t c = 0; c < input_columns; ++c) {
    names.push_back("x" + std::to_string(c));
    if (c < transformer.steps().size())
      for (size_t i = 0; i < transformer.steps()[c].size(); ++i)
        body += transform_step(module, transformer.steps()[c][i], c, i);
  }
  module.define("def forward(self, " + joined(names) + "):\n" + body + "    return [" + joined(names) + "]\n");
  return module;
}

// The arguments of the model part's forward, from the (transformed) input columns `x` and
// their lengths `l`.
std::string model_arguments(const Network& model, const ExportSignature& in, const std::vector<std::string>& x,
                            const std::vector<std::string>& l) {
  if (!model.is_torchscript())
    return (x.size() == 1 ? x[0] : "torch.cat([" + joined(x) + "], 1)") + (in.padded ? ", " + l[0] : "");
  std::vector<std::string> arguments;
  for (size_t i = 0; i < x.size(); ++i) {
    bool by_name = in.signature == "**kwargs" || (in.signature == "*args,**kwargs" && i > 0);
    arguments.push_back((by_name ? in.input_names[i] + "=" : "") + x[i]);
  }
  for (size_t i = 0; i < l.size(); ++i)
    arguments.push_back((in.signature == "*args" ? "" : in.input_names[i] + "_lengths=") + l[i]);
  return joined(arguments);
}

torch::jit::Module model_part(const Network& model, const ExportSignature& in) {
  if (!model.is_torchscript()) return sequential(model.layers(), in.padded, in.input_width);
  torch::jit::Module copy = model.module().deepcopy();
  for (const auto& parameter : copy.parameters()) parameter.requires_grad_(true);
  return copy;
}

}  // namespace

torch::jit::Module script_export(const Network& model, const Transformer& transformer, const ExportSignature& in) {
  torch::jit::Module root = new_module("Export");
  std::vector<std::string> x, l, parameters;
  for (size_t i = 0; i < in.input_names.size(); ++i) {
    x.push_back("x" + std::to_string(i));
    if (in.padded) l.push_back("lengths" + std::to_string(i));
  }
  parameters = x;
  parameters.insert(parameters.end(), l.begin(), l.end());
  std::string body;
  if (!transformer.empty()) {
    root.register_module("transform", transform_module(transformer, x.size()));
    body = "    xs = self.transform.forward(" + joined(x) + ")\n";
    for (size_t i = 0; i < x.size(); ++i) x[i] = "xs[" + std::to_string(i) + "]";
  }
  root.register_module("model", model_part(model, in));
  root.define("def forward(self, " + joined(parameters) + "):\n" + body +
              "    return self.model.forward(" + model_arguments(model, in, x, l) + ")\n");
  root.eval();
  return root;
}

}  // namespace pinnacle
