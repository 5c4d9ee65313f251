// pinnacle_export's module: a scripted module built with torch::jit::Module::define() (DESIGN.md
// section 5), never a trace, so that Python can fine-tune it and no control flow is lost.
//
// Its forward(x0, x1, ...) takes one (rows x width) tensor per input column, as stored (and, for
// collate_fn "pad", then one int64 tensor of lengths per input column), and returns what
// pinnacle_predict returns. It has up to two submodules:
// - "transform" (only when the spec has one): forward(x0, ...) returns the list of transformed
//   input columns; fitted statistics are its buffers "center_<column>_<step>" and
//   "spread_<column>_<step>" (indices in key and step order); a reshape step is an unflatten.
// - "model": the trained model, its parameters copies with requires_grad on.
//   A layer list is one scripted module per layer, named as in torch.nn.Sequential, with the
//   parameters and buffers of the torch.nn layer ("model.0.weight", "model.1.running_mean", ...).
//   Its forward takes the input columns concatenated. Where our layer differs from torch.nn's,
//   the names stay torch.nn's but the behaviour is ours: Embedding takes float ids (cast to
//   int64); LSTM and GRU are batch first, start from zeros and return one tensor (every step,
//   or each row's last step), with nn.LSTM's own names under the layer's index
//   ("model.2.weight_ih_l0"). A padded layer list's forward is forward(x, lengths): its LSTM and
//   GRU layers pack the rows as predict does.
//   An imported TorchScript module is the trained module itself, control flow and all, called
//   as the spec's signature says.
// (In define()'s source, torch.<op> names the aten op; torch.nn.functional is not resolved.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "network.hpp"
#include "transform.hpp"

namespace pinnacle {

// How the export's forward takes its inputs.
struct ExportSignature {
  std::vector<std::string> input_names;  // the key's input columns
  std::string signature;                 // the spec's: how a TorchScript module takes them
  bool padded = false;                   // collate_fn "pad": lengths follow the inputs
  int64_t input_width = 0;               // a padded layer list's: the width its steps scale from
};

// The export of `model` (eval mode) with `transformer`'s fitted steps applied first.
// Throws std::logic_error for a layer without a scripted form (every layer the builder makes has one).
torch::jit::Module script_export(const Network& model, const Transformer& transformer, const ExportSignature& inputs);

}  // namespace pinnacle
