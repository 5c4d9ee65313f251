// The training loop, one optimizer step per call so that the caller (the worker) can check
// for interrupts and write checkpoints between steps. Validation, early stopping, the metric
// history and the best weights live here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "batch_source.hpp"
#include "dataset.hpp"
#include "distributed.hpp"
#include "layout.hpp"
#include "network.hpp"
#include "spec.hpp"
#include "spill.hpp"
#include "training_plan.hpp"
#include "transform.hpp"

namespace pinnacle {

class Trainer {
 public:
  enum class Event { Stepped, Validated, Finished };

  // `validation` may be empty when the spec has no validation rows of its own;
  // a `validation.split` is taken from `train` here.
  // `torchscript` holds the module's bytes when the spec's model is "torchscript".
  // With a `collective`, this is one rank of a data-parallel run: every rank is given the
  // same rows, keeps its shard of them (row i on rank i mod world), and steps through the
  // same global batches, its gradients summed with the others'.
  Trainer(TrainSpec spec, Dataset train, Dataset validation, const std::string& torchscript = "",
          std::unique_ptr<Collective> collective = nullptr);

  // Continues from a checkpoint: its weights and optimizer state (for Adam its moments and
  // step count), its iteration number and the metric history before it. max_iterations
  // then counts the steps of this run.
  void resume(const std::string& weights, const std::string& optimizer_state, int64_t iteration,
              const json& history);
  // On a run whose ranks hold rows of their own (across servers), only rank 0 has the
  // checkpoint: every rank calls this after rank 0's resume (if any), and takes rank 0's
  // weights, optimizer state and iteration. Does nothing on other runs.
  void share_resume();

  // Runs one optimizer step, and a validation when one is due. Throws on a failure
  // (a NaN loss, a label out of range...).
  Event advance();

  int64_t iteration() const { return iteration_; }
  int64_t steps_this_run() const { return iteration_ - start_iteration_; }
  int64_t samples_seen() const { return samples_seen_; }  // of every rank
  int64_t local_samples_seen() const { return local_samples_seen_; }
  int rank() const { return collective_ ? collective_->rank() : 0; }
  int world() const { return collective_ ? collective_->world() : 1; }
  double allreduce_seconds() const { return collective_ ? collective_->sum_seconds() : 0; }
  int64_t allreduce_bytes() const { return collective_ ? collective_->sum_bytes() : 0; }
  double last_loss() const { return last_loss_; }

  // The values of the latest validation, in a stable order.
  const std::vector<std::pair<std::string, double>>& last_metrics() const { return last_metrics_; }
  bool last_was_best() const { return last_was_best_; }
  std::string weights() const;
  std::string optimizer_state() const;

  int64_t best_iteration() const { return best_iteration_; }
  double best_value() const { return best_.value_or(0); }
  const std::string& stop_reason() const { return stop_reason_; }
  const json& history() const { return history_; }  // metric_values
  // The key columns' widths as stored (before any transform).
  const std::vector<int64_t>& column_widths() const { return widths_; }
  json fitted_transform() const { return transformer_.fitted(); }
  int64_t train_rows() const { return train_rows_; }
  int64_t validation_rows() const { return validation_rows_; }

 private:
  void validate();
  std::vector<std::pair<std::string, double>> evaluate(const Dataset& data);
  bool improves(double value) const;
  torch::Tensor step_loss(const torch::Tensor& rows);
  double rank_share(const torch::Tensor& target);
  void sum_gradients(torch::Tensor& loss);
  double global_denominator(double local);
  torch::Tensor gather_rows(const torch::Tensor& local);

  TrainSpec spec_;
  std::unique_ptr<Collective> collective_;  // null on one rank
  Dataset train_;
  // the streamed rows' file once all rows are in; before validation_, which may be split off
  // it, and layout_, which fits the transform on it
  std::optional<SpilledRows> spilled_;
  SpilledRows& spilled_rows();
  Dataset validation_;
  int64_t train_rows_ = 0;       // of every rank
  int64_t validation_rows_ = 0;  // of every rank
  Dataset validation_set(Dataset validation);
  std::vector<int64_t> prepare_rows();
  bool local_rows() const { return collective_ && collective_->local_rows(); }
  void prepare_local_rows();
  void agree_on_widths();
  // the set's positions of this rank's training and validation rows (local rows only)
  std::shared_ptr<const std::vector<int64_t>> train_positions_;
  torch::Tensor validation_positions_;
  bool resumed_ = false;
  void fit_transform();
  std::unique_ptr<BatchSource> training_batches();

  std::vector<int64_t> widths_;
  Transformer transformer_;
  Layout layout_;
  Network model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<TrainingPlan> plan_;  // null where autograd trains the model

  std::unique_ptr<BatchSource> batches_;
  const RankShare* global_batches_ = nullptr;  // within batches_, on a rank of several

  int64_t iteration_ = 0;
  int64_t start_iteration_ = 0;
  int64_t samples_seen_ = 0;
  int64_t local_samples_seen_ = 0;
  double last_loss_ = 0;
  double interval_loss_sum_ = 0;
  int64_t interval_steps_ = 0;

  std::vector<std::pair<std::string, double>> last_metrics_;
  bool last_was_best_ = false;
  std::optional<double> best_;
  int64_t best_iteration_ = 0;
  std::string best_weights_;
  int64_t validations_without_best_ = 0;
  bool finish_pending_ = false;
  bool finished_ = false;
  std::string stop_reason_;
  json history_ = json::object();
};

// The spec's model for rows of this layout, checked to fit its target (SpecError if not).
Network build_network(const TrainSpec& spec, const Transformer& transformer, const Layout& layout,
                      const std::string& torchscript);

// Seeds, threads and determinism of compute_kwargs; call before building anything.
void apply_compute_settings(const ComputeSpec& compute);

}  // namespace pinnacle
