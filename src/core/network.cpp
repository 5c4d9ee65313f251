#include "network.hpp"

#include <sstream>
#include <unordered_set>

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>

#include "model.hpp"
#include "serialize.hpp"

namespace pinnacle {

namespace {

torch::Tensor single_tensor(const c10::IValue& output) {
  if (!output.isTensor()) throw std::runtime_error("the model's forward must return one tensor, it returned " +
                                                   output.tagKind());
  return output.toTensor();
}

void copy_in_place(const torch::Tensor& target, const torch::Tensor& source, const std::string& name) {
  if (target.sizes() != source.sizes())
    throw std::runtime_error("the stored weights do not fit this model: \"" + name + "\" has another shape");
  target.copy_(source);
}

// Every tensor a loaded module can reach, checked against the bytes it was read from: its
// attributes, through lists, dicts, tuples and objects (submodules are objects), and the
// constants of its code. (An attack hid a forged tensor in a List attribute, and in a constant.)
void check_reachable_tensors(const torch::jit::Module& module, const UntrustedArchive& archive) {
  std::vector<c10::IValue> pending = {module._ivalue()};
  std::unordered_set<const void*> seen;
  while (!pending.empty()) {
    c10::IValue value = std::move(pending.back());
    pending.pop_back();
    if (value.isTensor()) {
      archive.check(value.toTensor(), "module");
    } else if (value.isList()) {
      for (const c10::IValue& item : value.toListRef()) pending.push_back(item);
    } else if (value.isGenericDict()) {
      for (const auto& entry : value.toGenericDict()) pending.insert(pending.end(), {entry.key(), entry.value()});
    } else if (value.isTuple()) {
      for (const c10::IValue& item : value.toTupleRef().elements()) pending.push_back(item);
    } else if (value.isObject() && seen.insert(value.toObject().get()).second) {
      for (const c10::IValue& slot : value.toObject()->slots()) pending.push_back(slot);
    }
  }
  std::vector<const torch::jit::Block*> blocks;
  for (torch::jit::Function* function : module._ivalue()->compilation_unit()->get_functions())
    blocks.push_back(torch::jit::toGraphFunction(*function).graph()->block());
  while (!blocks.empty()) {  // (the bodies of ifs and loops are blocks of their own)
    const torch::jit::Block* block = blocks.back();
    blocks.pop_back();
    for (const torch::jit::Node* node : block->nodes()) {
      blocks.insert(blocks.end(), node->blocks().begin(), node->blocks().end());
      if (node->kind() == c10::prim::Constant && node->output()->type()->kind() == c10::TypeKind::TensorType)
        archive.check(torch::jit::toIValue(node->output())->toTensor(), "module");
    }
  }
}

}  // namespace

torch::jit::Module load_torchscript(const std::string& bytes) {
  std::istringstream in(bytes);
  torch::jit::Module module;
  UntrustedArchive archive;
  try {
    module = torch::jit::load(in);
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("this is not a TorchScript module (make one with torch.jit.script and "
                                         "torch.jit.save): ") + e.what_without_backtrace());
  }
  if (!module.find_method("forward")) throw std::runtime_error("the TorchScript module has no forward method");
  check_reachable_tensors(module, archive);
  return module;
}

Network Network::from_layers(const json& layers, int64_t input_width, const std::vector<int64_t>& input_shape) {
  Network network;
  network.net_ = build_model(layers, input_width, input_shape).net;
  network.input_width_ = input_width;
  return network;
}

Network Network::from_torchscript(const std::string& bytes, const TrainSpec& spec,
                                  const std::vector<int64_t>& input_shape) {
  Network network;
  network.scripted_ = true;
  network.module_ = load_torchscript(bytes);
  network.signature_ = spec.signature;
  network.input_names_ = spec.key.inputs;
  network.input_shape_ = input_shape;
  return network;
}

std::vector<int64_t> Network::probe(const std::vector<int64_t>& input_widths, bool padded) {
  std::vector<torch::Tensor> inputs, lengths;
  for (int64_t width : input_widths) {
    inputs.push_back(torch::zeros({2, width}));
    if (padded) lengths.push_back(torch::tensor({width, int64_t{1}}));
  }
  try {
    torch::NoGradGuard no_grad;
    set_training(false);
    torch::Tensor out = forward(inputs, lengths);
    set_training(true);
    return std::vector<int64_t>(out.sizes().begin() + 1, out.sizes().end());
  } catch (const c10::Error& e) {
    throw SpecError(scripted_ ? "model.torchscript" : "model.layers",
                    std::string("forward does not accept the inputs (") + std::to_string(input_widths.size()) +
                        " input columns, signature " + (scripted_ ? signature_ : "*args") +
                        "): " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw SpecError(scripted_ ? "model.torchscript" : "model.layers", e.what());
  }
}

int64_t Network::activation_values_per_row(const std::vector<int64_t>& input_widths, bool padded) {
  torch::NoGradGuard no_grad;
  set_training(false);  // as the probe does: a check never runs a module's training path
  std::vector<torch::Tensor> inputs;
  for (int64_t width : input_widths) inputs.push_back(torch::zeros({2, width}));
  if (scripted_ || padded) {
    std::vector<torch::Tensor> lengths;
    if (padded)
      for (int64_t width : input_widths) lengths.push_back(torch::tensor({width, int64_t{1}}));
    return forward(inputs, lengths).numel() / 2;
  }
  torch::Tensor x = torch::cat(inputs, 1);
  int64_t values = 0;
  for (auto& layer : *net_) {
    x = layer.forward(x);
    values += x.numel() / 2;
  }
  return values;
}

// A sequence layer sees the padded input in its own length L: a row of n of the input's
// width W values has ceil(n * L / W) real steps (n for an Embedding, n / F after an Unflatten
// to (L, F)).
torch::Tensor Network::forward_layers(torch::Tensor x, const torch::Tensor& lengths) {
  for (auto& layer : *net_) {
    auto* sequence = dynamic_cast<SequenceLayer*>(layer.ptr().get());
    if (sequence == nullptr) {
      x = layer.forward(x);
      continue;
    }
    int64_t steps_in_x = x.size(1);
    torch::Tensor steps = (lengths * steps_in_x + input_width_ - 1).div(input_width_, "floor").clamp(1, steps_in_x);
    x = sequence->forward_padded(x, steps);
  }
  return x;
}

torch::Tensor Network::forward(const std::vector<torch::Tensor>& inputs, const std::vector<torch::Tensor>& lengths) {
  if (!scripted_) {
    torch::Tensor x = inputs.size() == 1 ? inputs[0] : torch::cat(inputs, 1);
    return lengths.empty() ? net_->forward(x) : forward_layers(x, lengths[0]);
  }

  std::vector<c10::IValue> positional;
  torch::jit::Kwargs named;
  for (size_t i = 0; i < inputs.size(); ++i) {
    torch::Tensor x = inputs[i];
    if (!input_shape_.empty()) {
      std::vector<int64_t> shape = {x.size(0)};
      shape.insert(shape.end(), input_shape_.begin(), input_shape_.end());
      x = x.reshape(shape);
    }
    bool by_name = signature_ == "**kwargs" || (signature_ == "*args,**kwargs" && i > 0);
    if (by_name)
      named.emplace(input_names_.at(i), x);
    else
      positional.emplace_back(x);
  }
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (signature_ == "*args")
      positional.emplace_back(lengths[i]);
    else
      named.emplace(input_names_.at(i) + "_lengths", lengths[i]);
  }
  return single_tensor(module_.get_method("forward")(positional, named));
}

std::vector<torch::Tensor> Network::parameters() {
  if (!scripted_) return net_->parameters();
  std::vector<torch::Tensor> params;
  for (const auto& p : module_.parameters()) params.push_back(p);
  return params;
}

std::vector<torch::Tensor> Network::buffers() {
  if (!scripted_) return net_->buffers();
  std::vector<torch::Tensor> buffers;
  for (const auto& b : module_.buffers()) buffers.push_back(b);
  return buffers;
}

void Network::set_training(bool training) {
  if (scripted_)
    module_.train(training);
  else
    net_->train(training);
}

void Network::freeze() {
  for (auto& p : parameters()) p.set_requires_grad(false);
}

std::string Network::save() const {
  if (!scripted_) return save_to_bytes(*net_);
  std::ostringstream out;
  module_.save(out);
  return out.str();
}

void Network::load(const std::string& bytes) {
  if (!scripted_) return load_from_bytes(*net_, bytes);
  torch::jit::Module stored = load_torchscript(bytes);
  torch::NoGradGuard no_grad;
  auto stored_params = stored.named_parameters();
  for (const auto& p : module_.named_parameters()) {
    bool found = false;
    for (const auto& s : stored_params)
      if (s.name == p.name) copy_in_place(p.value, s.value, p.name), found = true;
    if (!found) throw std::runtime_error("the stored weights have no \"" + p.name + "\"");
  }
  auto stored_buffers = stored.named_buffers();
  for (const auto& b : module_.named_buffers())
    for (const auto& s : stored_buffers)
      if (s.name == b.name) copy_in_place(b.value, s.value, b.name);
}

namespace {
// Python reads them with torch.jit.load(f, _extra_files={"pinnacle/metadata.json": ""}).
const char kMetadataFile[] = "pinnacle/metadata.json";
const char kWeightsFile[] = "pinnacle/weights";
const char kOptimizerFile[] = "pinnacle/optimizer_state";
}  // namespace

torch::jit::ExtraFilesMap export_files(const ExportMetadata& metadata) {
  if (metadata.metadata_json.empty()) return {};
  torch::jit::ExtraFilesMap files = {{kMetadataFile, metadata.metadata_json}, {kWeightsFile, metadata.weights}};
  if (!metadata.optimizer_state.empty()) files[kOptimizerFile] = metadata.optimizer_state;
  return files;
}

ExportMetadata read_export_files(const std::string& bytes) {
  torch::jit::ExtraFilesMap files = {{kMetadataFile, ""}, {kWeightsFile, ""}, {kOptimizerFile, ""}};
  std::istringstream in(bytes);
  torch::jit::load(in, c10::nullopt, files);  // fills the files the archive has, leaves the others empty
  ExportMetadata metadata{files[kMetadataFile], files[kWeightsFile], files[kOptimizerFile]};
  if (!metadata.metadata_json.empty() && metadata.weights.empty())
    throw std::runtime_error("the archive's " + std::string(kMetadataFile) + " comes without its " + kWeightsFile);
  return metadata;
}

}  // namespace pinnacle
