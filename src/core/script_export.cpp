#include "script_export.hpp"

#include <functional>
#include <sstream>
#include <string>

namespace pinnacle {

namespace {

// A copy of a trained tensor that Python's optimizers can update.
torch::Tensor trainable(const torch::Tensor& tensor) { return tensor.detach().clone().requires_grad_(true); }

std::string number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  std::string text = out.str();
  // TorchScript reads "1" as an int: a float argument needs its point
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

// An empty module of type `name`, with the "training" flag that nn.Module has (Dropout reads it,
// and Python's .train() and .eval() set it).
torch::jit::Module new_module(const std::string& name) {
  torch::jit::Module module("__torch__.pinnacle." + name);
  if (!module.hasattr("training")) module.register_attribute("training", c10::BoolType::get(), true);
  return module;
}

// One layer as a scripted module of type `name` whose forward returns `body` (of x).
torch::jit::Module layer(const std::string& name, const std::string& body) {
  torch::jit::Module module = new_module(name);
  module.define("def forward(self, x):\n    return " + body + "\n");
  return module;
}

std::optional<torch::jit::Module> script_layer(const torch::nn::Module& module) {
  using namespace torch::nn;
  if (const auto* linear = dynamic_cast<const LinearImpl*>(&module)) {
    torch::jit::Module scripted = new_module("Linear");
    scripted.register_parameter("weight", trainable(linear->weight), false);
    bool bias = linear->bias.defined();
    if (bias) scripted.register_parameter("bias", trainable(linear->bias), false);
    scripted.define(std::string("def forward(self, x):\n    return torch.linear(x, self.weight") +
                    (bias ? ", self.bias" : "") + ")\n");
    return scripted;
  }
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
  if (const auto* flatten = dynamic_cast<const FlattenImpl*>(&module))
    return layer("Flatten", "torch.flatten(x, " + std::to_string(flatten->options.start_dim()) + ", " +
                                std::to_string(flatten->options.end_dim()) + ")");
  return std::nullopt;
}

// The export: the model part as submodule "model", and a forward that takes one tensor per input
// column and returns `call` of them (x0, x1, ...).
torch::jit::Module export_module(const torch::jit::Module& model, size_t input_columns,
                                 const std::function<std::string(const std::vector<std::string>&)>& call) {
  torch::jit::Module root = new_module("Export");
  root.register_module("model", model);
  std::vector<std::string> names;
  std::string arguments;
  for (size_t i = 0; i < input_columns; ++i) {
    names.push_back("x" + std::to_string(i));
    arguments += ", " + names.back();
  }
  root.define("def forward(self" + arguments + "):\n    return " + call(names) + "\n");
  root.eval();
  return root;
}

}  // namespace

std::optional<torch::jit::Module> script_layer_list(const torch::nn::Sequential& net, size_t input_columns) {
  torch::jit::Module model = new_module("Sequential");
  std::ostringstream forward;
  forward << "def forward(self, x):\n";
  for (const auto& child : net->named_children()) {
    auto scripted = script_layer(*child.value());
    if (!scripted) return std::nullopt;
    model.register_module(child.key(), *scripted);
    forward << "    x = getattr(self, \"" << child.key() << "\").forward(x)\n";
  }
  forward << "    return x\n";
  model.define(forward.str());

  return export_module(model, input_columns, [](const std::vector<std::string>& names) {
    std::string list;
    for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
    return "self.model.forward(torch.cat([" + list + "], 1))";
  });
}

torch::jit::Module script_module(const torch::jit::Module& trained, const std::string& signature,
                                 const std::vector<std::string>& input_names) {
  torch::jit::Module model = trained.deepcopy();
  for (const auto& parameter : model.parameters()) parameter.requires_grad_(true);
  return export_module(model, input_names.size(), [&](const std::vector<std::string>& names) {
    std::string arguments;
    for (size_t i = 0; i < names.size(); ++i) {
      bool by_name = signature == "**kwargs" || (signature == "*args,**kwargs" && i > 0);
      arguments += (i ? ", " : "") + (by_name ? input_names[i] + "=" : "") + names[i];
    }
    return "self.model.forward(" + arguments + ")";
  });
}

}  // namespace pinnacle
