#include "inference_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace pinnacle {

namespace {

using Plan = InferencePlan;
using StepKind = TransformStep::Kind;
using LayerKind = InferencePlan::Layer::Kind;

std::vector<float> floats_of(const torch::Tensor& tensor) {
  torch::Tensor values = tensor.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
}

// A Linear layer's weight (out x in, by rows as torch keeps it) in panels of kPanelRows rows:
// within a panel, the rows' weights for inputs k .. k + kChunk - 1 one row after another, then
// those for the next kChunk inputs. The kernel reads each panel as one stream from front to
// back, which the prefetcher keeps ahead of (reading a few rows side by side in torch's layout
// measured 1.3 - 2 times slower on the 784-256-128-10 MLP). Zeros pad the last panel's rows
// and every row to whole chunks.
std::vector<float> panels_of(const torch::Tensor& weight) {
  const std::vector<float> w = floats_of(weight);
  const int64_t out = weight.size(0), in = weight.size(1);
  std::vector<float> panels(Plan::padded(out, Plan::kPanelRows) * Plan::padded(in, Plan::kChunk), 0.0f);
  float* to = panels.data();
  for (int64_t j = 0; j < out; j += Plan::kPanelRows)
    for (int64_t k = 0; k < in; k += Plan::kChunk)
      for (int64_t r = 0; r < Plan::kPanelRows; ++r, to += Plan::kChunk)
        for (int64_t l = 0; l < Plan::kChunk; ++l)
          if (j + r < out && k + l < in) to[l] = w[(j + r) * in + k + l];
  return panels;
}

// The input columns' transform steps, when every one is elementwise (one_hot and reshape
// change the row's shape: those models take the torch path).
bool plan_steps(const Transformer& transformer, const std::vector<int64_t>& widths, std::vector<Plan::ColumnStep>& out) {
  const auto& columns = transformer.steps();  // none at all without a transform
  const std::vector<TransformStep> none;
  int64_t offset = 0;
  for (size_t c = 0; c < widths.size(); ++c) {
    for (const TransformStep& s : c < columns.size() ? columns[c] : none) {
      if (s.kind == StepKind::one_hot || s.kind == StepKind::reshape) return false;
      bool fitted = s.kind == StepKind::standardize || s.kind == StepKind::min_max;
      // a width the statistics do not fit: the torch path says so
      if (fitted && static_cast<int64_t>(s.center.size()) != widths[c]) return false;
      if (s.kind == StepKind::cast && s.dtype == "float32") continue;  // the values are float32 already
      // torch multiplies a float tensor by a double scalar in float
      out.push_back({s.kind, offset, widths[c], static_cast<float>(s.factor), s.center, s.spread});
    }
    offset += widths[c];
  }
  return true;
}

// Flatten(start_dim, end_dim) of (rows x width) leaves it unchanged when it joins one dim only.
bool flattens_nothing(const torch::nn::FlattenOptions& options) {
  auto dim = [](int64_t d) { return d < 0 ? d + 2 : d; };
  return dim(options.start_dim()) == dim(options.end_dim());
}

// Appends the plan layer for `module`, whose input is `width` values per row, and updates
// `width`; false when a plan cannot run it. Dropout in eval mode and Flatten of a flat row
// are identities and add nothing.
bool add_layer(const torch::nn::Module& module, int64_t& width, std::vector<Plan::Layer>& layers) {
  using namespace torch::nn;
  if (const auto* linear = module.as<LinearImpl>()) {
    if (linear->weight.size(1) != width) return false;
    Plan::Layer layer{LayerKind::linear, width, linear->weight.size(0), panels_of(linear->weight), {}, 0};
    if (linear->bias.defined()) layer.bias = floats_of(linear->bias);
    width = layer.out;
    layers.push_back(std::move(layer));
    return true;
  }
  if (module.as<DropoutImpl>()) return !module.is_training();
  if (const auto* flatten = module.as<FlattenImpl>()) return flattens_nothing(flatten->options);

  Plan::Layer layer{LayerKind::relu, width, width, {}, {}, 0};
  if (const auto* leaky = module.as<LeakyReLUImpl>()) {
    layer.kind = LayerKind::leaky_relu;
    layer.slope = static_cast<float>(leaky->options.negative_slope());
  } else if (const auto* gelu = module.as<GELUImpl>()) {
    if (gelu->options.approximate() != "none") return false;
    layer.kind = LayerKind::gelu;
  } else if (module.as<TanhImpl>()) {
    layer.kind = LayerKind::tanh;
  } else if (module.as<SigmoidImpl>()) {
    layer.kind = LayerKind::sigmoid;
  } else if (module.as<SiLUImpl>()) {
    layer.kind = LayerKind::silu;
  } else if (!module.as<ReLUImpl>()) {
    return false;
  }
  layers.push_back(std::move(layer));
  return true;
}

// Floats side by side in one vector register (GCC's vector extension): eight for AVX2, four
// for SSE2 and NEON. The compiler lowers each operation to the instruction set of the function
// it is compiled into.
typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats4 __attribute__((vector_size(16)));

// An unaligned load, into a variable: a vector wider than the baseline's registers is never
// passed or returned by value.
template <typename V>
inline __attribute__((always_inline)) void load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof(v));
}

// y = W x + b, W in panels (see panels_of); the bias is added last, as in torch's addmm. A
// panel's rows are summed side by side, one vector of partial sums per row (two with four
// lanes), so each value of x is loaded once per panel. Not BLAS: OpenBLAS's sgemv hands a
// matrix of this size to its thread pool, and on a busy machine waiting for the pool costs
// more than the row (nor does the pool follow pinnacle.predict_threads).
template <typename V>
inline __attribute__((always_inline)) void linear(const Plan::Layer& layer, const float* x, float* y) {
  constexpr int64_t kLanes = sizeof(V) / sizeof(float), kParts = Plan::kChunk / kLanes;
  const float* w = layer.weight.data();
  const int64_t in = Plan::padded(layer.in, Plan::kChunk);
  for (int64_t j = 0; j < layer.out; j += Plan::kPanelRows) {
    V sums[Plan::kPanelRows][kParts] = {};
    for (int64_t k = 0; k < in; k += Plan::kChunk) {
      V xs[kParts];
      for (int64_t p = 0; p < kParts; ++p) load(xs[p], x + k + p * kLanes);
      for (int64_t r = 0; r < Plan::kPanelRows; ++r)
        for (int64_t p = 0; p < kParts; ++p, w += kLanes) {
          V ws;
          load(ws, w);
          sums[r][p] += ws * xs[p];
        }
    }
    for (int64_t r = 0; r < Plan::kPanelRows && j + r < layer.out; ++r) {
      V row = sums[r][0];
      for (int64_t p = 1; p < kParts; ++p) row += sums[r][p];
      float sum = 0;
      for (int64_t l = 0; l < kLanes; ++l) sum += row[l];
      y[j + r] = sum;
    }
  }
  for (int64_t j = 0; j < static_cast<int64_t>(layer.bias.size()); ++j) y[j] += layer.bias[j];
  // the next layer reads whole chunks: the padding must add nothing
  std::fill(y + layer.out, y + Plan::padded(layer.out, Plan::kChunk), 0.0f);
}

// A row's Linear layers are most of its time, and the build targets any x86-64 (SSE2): the
// kernel is compiled again for AVX2 with FMA, which reads the weights twice as fast, and
// chosen when the CPU has them.
using LinearKernel = void (*)(const Plan::Layer&, const float*, float*);

void linear_portable(const Plan::Layer& layer, const float* x, float* y) { linear<Floats4>(layer, x, y); }

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void linear_avx2(const Plan::Layer& layer, const float* x, float* y) {
  linear<Floats8>(layer, x, y);
}
#endif

LinearKernel fastest_linear_kernel() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return linear_avx2;
#endif
  return linear_portable;
}

void apply_step(const Plan::ColumnStep& s, float* x) {
  switch (s.kind) {
    case StepKind::scale:
      for (int64_t i = 0; i < s.width; ++i) x[i] *= s.factor;
      break;
    case StepKind::shift:
      for (int64_t i = 0; i < s.width; ++i) x[i] += s.factor;
      break;
    case StepKind::standardize:
    case StepKind::min_max:  // a division, as in torch: a reciprocal would round differently
      for (int64_t i = 0; i < s.width; ++i) x[i] = (x[i] - s.center[i]) / s.spread[i];
      break;
    case StepKind::cast:  // to int64, as the torch path does it: the values stay float32
      for (int64_t i = 0; i < s.width; ++i) x[i] = std::trunc(x[i]);
      break;
    case StepKind::one_hot:
    case StepKind::reshape:  // never in a plan
      break;
  }
}

// The formulas of torch's CPU kernels, in float.
void activate(const Plan::Layer& layer, float* x) {
  const int64_t n = layer.out;
  switch (layer.kind) {
    case LayerKind::relu:  // NaN stays NaN, as with torch
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0 ? 0.0f : x[i];
      break;
    case LayerKind::leaky_relu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0 ? x[i] : x[i] * layer.slope;
      break;
    case LayerKind::tanh:
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case LayerKind::sigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
      break;
    case LayerKind::gelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] * 0.5f * (1.0f + std::erf(x[i] * static_cast<float>(M_SQRT1_2)));
      break;
    case LayerKind::silu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
      break;
    case LayerKind::linear:  // not elementwise: a linear kernel
      break;
  }
}

}  // namespace

std::unique_ptr<InferencePlan> InferencePlan::build(const torch::nn::Sequential& net, const Transformer& transformer,
                                                    const std::vector<int64_t>& input_widths) {
  if (net.is_empty()) return nullptr;  // a TorchScript model
  std::unique_ptr<InferencePlan> plan(new InferencePlan());
  plan->input_width_ = std::accumulate(input_widths.begin(), input_widths.end(), int64_t{0});
  if (!plan_steps(transformer, input_widths, plan->steps_)) return nullptr;
  int64_t width = plan->input_width_, widest = width;
  for (const auto& layer : *net) {
    if (!add_layer(*layer.ptr(), width, plan->layers_)) return nullptr;
    widest = std::max(widest, width);
  }
  plan->width_ = width;
  plan->current_.resize(padded(widest, kChunk));
  plan->next_.resize(padded(widest, kChunk));
  return plan;
}

void InferencePlan::run(const float* row, float* out) {
  static const LinearKernel linear_kernel = fastest_linear_kernel();
  std::copy(row, row + input_width_, current_.begin());
  std::fill(current_.begin() + input_width_, current_.begin() + padded(input_width_, kChunk), 0.0f);
  for (const ColumnStep& step : steps_) apply_step(step, current_.data() + step.offset);
  for (const Layer& layer : layers_) {
    if (layer.kind == Layer::Kind::linear) {
      linear_kernel(layer, current_.data(), next_.data());
      std::swap(current_, next_);
    } else {
      activate(layer, current_.data());
    }
  }
  std::copy(current_.begin(), current_.begin() + width_, out);
}

}  // namespace pinnacle
