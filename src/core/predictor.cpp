#include "predictor.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <pthread.h>
#include <signal.h>
#include <sstream>

#include "optimizer.hpp"
#include "script_export.hpp"
#include "serialize.hpp"
#include "trainer.hpp"

namespace pinnacle {

namespace {

// The widest column a stored model may claim: a catalog value is checked before it sizes anything.
constexpr int64_t kMaxColumnWidth = int64_t{1} << 28;

// What one predict call of many rows may hold: their inputs and every layer's outputs. About
// the size of a core's L2 cache, so that a layer's output is still cached when the next layer
// reads it: an MLP's batches are a hundred rows or more, a conv net's a few (measured on the
// 784-256-128-10 MLP: a batch of 1024 rows was no faster, and it faults in fresh pages for its
// tensors, past glibc's mmap threshold, at every batch).
constexpr int64_t kBatchBytes = int64_t{1} << 20;

// Stored column widths are read back from the catalog, where a role could have edited them:
// one positive width per key column, or the model is refused before anything is built.
std::vector<int64_t> checked_widths(const TrainSpec& spec, const std::vector<int64_t>& widths) {
  size_t expected = spec.key.columns().size();
  if (widths.size() != expected)
    throw std::runtime_error("the stored column widths (" + std::to_string(widths.size()) + " of them) do not fit the " +
                             std::to_string(expected) + " key columns of the model's spec");
  for (int64_t width : widths)
    if (width <= 0 || width > kMaxColumnWidth)
      throw std::runtime_error("a stored column width of " + std::to_string(width) + " is out of range");
  return widths;
}

std::string step_kind(const json& step) {
  if (step.is_string()) return step.get<std::string>();
  return step.is_object() && !step.empty() ? step.begin().key() : std::string();
}

// A stored (or imported) fitted transform holds the spec's steps, in the spec's order: one
// that dropped a standardize would predict on unscaled values without a word.
const json& checked_fitted(const TrainSpec& spec, const json& fitted) {
  static const json none = json::object();
  const json& steps = fitted.is_null() ? none : fitted;
  bool fits = steps.is_object() && steps.size() == spec.transform.size();
  for (const auto& [column, wanted] : spec.transform.items()) {
    if (!fits) break;
    const json& have = steps.contains(column) ? steps.at(column) : json();
    fits = have.is_array() && have.size() == wanted.size();
    for (size_t i = 0; fits && i < wanted.size(); ++i) fits = step_kind(have[i]) == step_kind(wanted[i]);
  }
  if (!fits) throw std::runtime_error("the stored transform does not hold the steps of the spec's transform");
  return steps;
}

}  // namespace

Predictor::Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths,
                     const std::string& weights, const json& fitted_transform)
    : spec_(parse_spec(spec_json)),
      widths_(checked_widths(spec_, column_widths)),
      raw_input_widths_(widths_.begin(), widths_.begin() + spec_.key.inputs.size()),
      raw_input_width_(std::accumulate(raw_input_widths_.begin(), raw_input_widths_.end(), int64_t{0})),
      transformer_(Transformer::from_fitted(checked_fitted(spec_, fitted_transform), spec_.key.columns(),
                                            spec_.key.inputs.size())),
      layout_(Layout::of(spec_, transformer_.output_widths(widths_))),
      // a TorchScript model's weights are the whole trained module
      model_(build_network(spec_, transformer_, layout_, weights)) {
  // (fitted statistics of another width fail here, at load, not at the first row predicted)
  transformer_.apply(torch::zeros({1, raw_input_width_}), raw_input_widths_);
  model_.load(weights);
  model_.set_training(false);
  model_.freeze();
  output_width_ = model_.probe(layout_.input_widths, layout_.padded).at(0);
  if (output_width_ <= 0) throw std::runtime_error("the model returns no values");
  model_.set_training(false);
  plan_ = InferencePlan::build(model_.layers(), transformer_, raw_input_widths_);
  int64_t values_per_row = raw_input_width_ + model_.activation_values_per_row(layout_.input_widths, layout_.padded);
  batch_rows_ = std::clamp(kBatchBytes / (values_per_row * int64_t{sizeof(float)}), int64_t{1}, kMaxBatchRows);
}

torch::Tensor Predictor::run(const Inputs& inputs) {
  c10::InferenceMode inference;  // skip autograd and version tracking
  if (transformer_.empty()) return model_.forward(inputs.columns, inputs.lengths);
  // one input column (the common case) needs no concatenation: predict is per row, every op counts
  torch::Tensor rows = inputs.columns.size() == 1 ? inputs.columns[0] : torch::cat(inputs.columns, 1);
  torch::Tensor transformed = transformer_.apply(rows, raw_input_widths_);
  return model_.forward(layout_.inputs(transformed), inputs.lengths);
}

Predictor::Inputs Predictor::inputs_of(const float* values, int64_t rows, const int64_t* lengths) const {
  // a tensor of its own: a module may keep its input, so it must not view the caller's memory
  torch::Tensor input =
      torch::from_blob(const_cast<float*>(values), {rows, raw_input_width_}, torch::kFloat32).clone();
  Inputs inputs;
  int64_t offset = 0;
  for (int64_t width : raw_input_widths_) {
    inputs.columns.push_back(input.narrow(1, offset, width));
    offset += width;
  }
  if (layout_.padded) {
    int64_t count = static_cast<int64_t>(inputs.columns.size());
    torch::Tensor all = torch::from_blob(const_cast<int64_t*>(lengths), {rows, count}, torch::kLong);
    for (int64_t c = 0; c < count; ++c) inputs.lengths.push_back(all.select(1, c).clone());
  }
  return inputs;
}

void Predictor::write_output(const torch::Tensor& output, int64_t rows, float* out) const {
  torch::Tensor checked = checked_output(output, rows);
  std::memcpy(out, checked.data_ptr<float>(), rows * output_width_ * sizeof(float));
}

void Predictor::predict(const float* values, int64_t rows, float* out, const int64_t* lengths) {
  worker_.wait_idle();
  // one row of a model a plan covers: a few loops cost less than torch's dispatch of each op
  if (plan_ && rows == 1) return plan_->run(values, out);  // lengths reach only sequence layers
  write_output(run(inputs_of(values, rows, lengths)), rows, out);
}

std::unique_ptr<Predictor::Prediction> Predictor::start_predict(const float* values, int64_t rows,
                                                                const int64_t* lengths) {
  Inputs inputs = inputs_of(values, rows, lengths);
  auto dropped = std::make_shared<std::atomic<bool>>(false);
  auto job = [this, inputs = std::move(inputs), dropped] { return *dropped ? torch::Tensor() : run(inputs); };
  return std::make_unique<Prediction>(Prediction{worker_.run(std::move(job)), rows, dropped});
}

void Predictor::drop_predict(Prediction& prediction) {
  *prediction.dropped = true;
  prediction.output.wait();
}

void Predictor::finish_predict(Prediction& prediction, float* out) {
  write_output(prediction.output.get(), prediction.rows, out);
}

Predictor::Worker::~Worker() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::future<torch::Tensor> Predictor::Worker::run(std::function<torch::Tensor()> job) {
  std::future<torch::Tensor> output;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.emplace_back(std::move(job));
    output = jobs_.back().get_future();
  }
  if (!thread_.joinable()) {
    // The thread must take none of the caller's signals (a PostgreSQL backend's handlers
    // expect its main thread): it starts with all of them blocked, as libtorch's pool does.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    try {
      thread_ = std::thread([this] { serve(); });
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.clear();
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  wake_.notify_one();
  return output;
}

void Predictor::Worker::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

void Predictor::Worker::serve() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left to run
    std::packaged_task<torch::Tensor()> job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    job();  // an exception is kept in the job's future
    lock.lock();
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

// A module's output is checked before a byte of it is copied: a tensor of floating point or
// integer values, one row of exactly the width probed at load for each row given.
torch::Tensor Predictor::checked_output(const torch::Tensor& output, int64_t rows) const {
  if (!output.defined()) throw std::runtime_error("the model returned an undefined tensor");
  if (output.is_meta()) throw std::runtime_error("the model returned a meta tensor, which holds no values");
  if (!output.is_floating_point() && output.scalar_type() != torch::kLong && output.scalar_type() != torch::kInt)
    throw std::runtime_error(std::string("the model returned values of type ") +
                             std::string(c10::toString(output.scalar_type())) + ", not numbers");
  if (output.dim() < 1 || output.size(0) != rows)
    throw std::runtime_error("the model returned a tensor of shape " + c10::str(output.sizes()) + " for " +
                             std::to_string(rows) + (rows == 1 ? " row" : " rows") + ", not one row of values each");
  if (output.numel() != rows * output_width_)
    throw std::runtime_error("the model returned " + std::to_string(output.numel() / rows) + " values for a row, not " +
                             std::to_string(output_width_));
  return output.to(torch::kFloat32).contiguous();
}

std::string Predictor::checked_optimizer_state(const std::string& bytes) {
  std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(spec_.optimizer, model_.parameters());
  load_from_bytes(*optimizer, bytes);
  return save_to_bytes(*optimizer);
}

std::string Predictor::export_torchscript(const ExportMetadata& metadata) {
  torch::jit::Module scripted =
      script_export(model_, transformer_, {spec_.key.inputs, spec_.signature, layout_.padded, layout_.input_width});
  std::ostringstream out;
  scripted.save(out, export_files(metadata));
  return out.str();
}

}  // namespace pinnacle
