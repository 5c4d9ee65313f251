// A stored model version loaded for inference: the spec's model rebuilt for the stored
// column widths, its weights and fitted transform loaded, in eval mode.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "inference_plan.hpp"
#include "layout.hpp"
#include "network.hpp"
#include "spec.hpp"
#include "transform.hpp"

namespace pinnacle {

class Predictor {
 public:
  static constexpr int64_t kMaxBatchRows = 1024;

  // `column_widths` are the key columns' widths as stored (inputs, then the target);
  // `fitted_transform` is Trainer::fitted_transform() of the run (null when none).
  Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths, const std::string& weights,
            const json& fitted_transform);

  // values per row before the transform, as predict's arguments give them
  int64_t input_width() const { return raw_input_width_; }
  int64_t output_width() const { return output_width_; }
  int input_columns() const { return static_cast<int>(raw_input_widths_.size()); }
  const std::vector<int64_t>& column_widths() const { return widths_; }

  // `rows` rows of input values (input_width floats a row, the input columns side by side),
  // row after row, to rows x output_width floats. A padded model (collate_fn "pad") takes
  // each input right-padded with zeros to its column width, and `lengths`: each row's real
  // length of each input column (rows x input columns).
  void predict(const float* values, int64_t rows, float* out, const int64_t* lengths = nullptr);
  // predict() in two halves, for a caller that reads its next rows meanwhile: start_predict
  // copies the rows and queues the model's run on them to a thread of the predictor's;
  // finish_predict waits for that run and writes its output. Several may be started (a call
  // nested in another's select); they run one after another. predict() first waits until
  // none runs or waits, so the model never runs twice at once.
  struct Prediction {
    std::future<torch::Tensor> output;
    int64_t rows;
    std::shared_ptr<std::atomic<bool>> dropped;  // a dropped run not yet begun is skipped
  };
  std::unique_ptr<Prediction> start_predict(const float* values, int64_t rows, const int64_t* lengths = nullptr);
  void finish_predict(Prediction& prediction, float* out);
  // Drops its output; waits for its run only if it has begun (after an error).
  static void drop_predict(Prediction& prediction);
  // Until no started prediction runs or waits to (before the process exits).
  void wait_for_started() { worker_.wait_idle(); }
  bool padded() const { return layout_.padded; }
  // The most rows one predict call should take: that many rows' inputs and activations
  // stay within about a MB.
  int64_t batch_rows() const { return batch_rows_; }

  // The weights, saved anew (Network::save).
  std::string weights() const { return model_.save(); }
  // An optimizer state for this model (an imported version's), loaded into the spec's
  // optimizer over the model's parameters, checked (check_optimizer_state) and saved anew.
  std::string checked_optimizer_state(const std::string& bytes);

  // The model with its transform as a scripted TorchScript module (script_export.hpp): forward
  // takes one (rows x width) tensor per input column, as stored (then, for a padded model, one
  // tensor of lengths per input column), and returns what predict returns. `metadata` goes
  // into the archive as extra files (see ExportMetadata).
  std::string export_torchscript(const ExportMetadata& metadata);

 private:
  struct Inputs {
    std::vector<torch::Tensor> columns, lengths;
  };
  Inputs inputs_of(const float* values, int64_t rows, const int64_t* lengths) const;
  torch::Tensor run(const Inputs& inputs);
  void write_output(const torch::Tensor& output, int64_t rows, float* out) const;
  torch::Tensor checked_output(const torch::Tensor& output, int64_t rows) const;

  TrainSpec spec_;
  std::vector<int64_t> widths_;
  std::vector<int64_t> raw_input_widths_;
  int64_t raw_input_width_;
  Transformer transformer_;
  Layout layout_;
  Network model_;
  int64_t output_width_ = 0;
  int64_t batch_rows_ = 1;
  std::unique_ptr<InferencePlan> plan_;  // null when the model needs the torch path
  // start_predict's thread: started at the first, ended with the predictor. One thread for
  // the predictor's life, not one per batch: OpenBLAS maps work buffers for each new thread.
  class Worker {
   public:
    ~Worker();  // runs what is queued, then ends the thread
    std::future<torch::Tensor> run(std::function<torch::Tensor()> job);
    void wait_idle();

   private:
    void serve();
    std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::deque<std::packaged_task<torch::Tensor()>> jobs_;
    bool busy_ = false, stopping_ = false;
    std::thread thread_;
  };
  Worker worker_;  // last: destroyed (joined) first, before what its job uses
};

}  // namespace pinnacle
