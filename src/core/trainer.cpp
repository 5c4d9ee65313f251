#include "trainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "compute_threads.hpp"
#include "metrics.hpp"
#include "objective.hpp"
#include "optimizer.hpp"
#include "serialize.hpp"

namespace pinnacle {

namespace {

// Past 2^53 an iteration no longer survives a round trip through a double (JSON, metrics).
constexpr int64_t kMaxIteration = int64_t{1} << 53;

constexpr int64_t kEvaluationBatch = 4096;

// (a rank that holds rows of its own may hold none: the others' count)
Dataset checked_training_rows(Dataset train, bool local_rows) {
  if (train.rows() == 0 && !local_rows) throw std::runtime_error("the select returned no rows to train on");
  train.finish_padding();
  return train;
}

}  // namespace

Network build_network(const TrainSpec& spec, const Transformer& transformer, const Layout& layout,
                      const std::string& torchscript) {
  Network network = spec.torchscript.empty()
                        ? Network::from_layers(spec.layers, layout.input_width, transformer.input_shape())
                        : Network::from_torchscript(torchscript, spec, transformer.input_shape());
  layout.check_output(spec, network.probe(layout.input_widths, layout.padded));
  return network;
}

void apply_compute_settings(const ComputeSpec& compute) {
  set_compute_threads(compute.threads);
  // as torch.set_flush_denormal(True): Adam's second moments of small gradients fall below
  // 1e-38, and arithmetic on such numbers takes the CPU a microcode assist each (measured:
  // the optimizer step 5x slower). Values that small are zero to any model.
  at::globalContext().setFlushDenormal(true);
  torch::manual_seed(compute.seed);
  at::globalContext().setDeterministicAlgorithms(compute.deterministic, /*warn_only=*/false);
}

Trainer::Trainer(TrainSpec spec, Dataset train, Dataset validation, const std::string& torchscript,
                 std::unique_ptr<Collective> collective)
    : spec_(std::move(spec)),
      collective_(std::move(collective)),
      train_(checked_training_rows(std::move(train), collective_ && collective_->local_rows())),
      validation_(validation_set(std::move(validation))),
      train_rows_(train_.spilled() ? spilled_rows().training_rows() : train_.rows()),
      widths_(train_.widths()),
      transformer_(spec_.transform, spec_.key.columns(), spec_.key.inputs.size()),
      layout_(Layout::of(spec_, prepare_rows())) {
  if (spec_.loader.drop_last && train_rows_ < spec_.loader.batch_size)
    throw std::runtime_error("loader_kwargs.drop_last: the " + std::to_string(train_rows_) +
                             " training rows do not fill one batch of " + std::to_string(spec_.loader.batch_size));
  apply_compute_settings(spec_.compute);
  batches_ = training_batches();
  model_ = build_network(spec_, transformer_, layout_, torchscript);
  if (collective_) {  // every rank starts from rank 0's weights (and BatchNorm statistics)
    std::vector<torch::Tensor> state = model_.parameters();
    for (const torch::Tensor& buffer : model_.buffers()) state.push_back(buffer);
    collective_->broadcast(state);
  }
  optimizer_ = make_optimizer(spec_.optimizer, model_.parameters());
  model_.set_training(true);
  if (!model_.is_torchscript() && !layout_.padded)
    plan_ = TrainingPlan::build(model_.layers(), spec_.objective, layout_.input_width);
  // A plan's step is OpenBLAS's products and a few passes too small to share out: with more
  // than one thread, libtorch's OpenMP threads spin between those passes on the cores that
  // OpenBLAS's own threads need (measured at 2 threads on 2 cores: 19,000 - 27,000 samples/s,
  // against 88,000 - 93,000 with torch's pool at one thread and OpenBLAS's at two).
  if (plan_) torch::set_num_threads(1);
}

// Validation rows of their own are padded to the training rows' widths; a split is padded already.
Dataset Trainer::validation_set(Dataset validation) {
  if (local_rows()) return validation;  // split over every rank's rows in prepare_local_rows
  if (spec_.validation.split == 0) {
    validation.finish_padding(train_.widths());
    return validation;
  }
  if (train_.spilled()) return train_.split_off(spilled_rows(), spec_.validation.split, spec_.compute.seed);
  return train_.split_off(spec_.validation.split, spec_.compute.seed);
}

// Fits the transform on the training rows (every rank on all of them), keeps this rank's
// shard of both sets, and transforms what it keeps; returns the widths the model sees.
std::vector<int64_t> Trainer::prepare_rows() {
  if (local_rows()) prepare_local_rows();
  if (validation_.rows() > 0 && validation_.widths() != widths_)
    throw std::runtime_error("the validation rows do not have the training rows' array widths");
  if (!local_rows()) validation_rows_ = validation_.rows();
  if (!transformer_.empty()) fit_transform();
  if (collective_ && !local_rows()) {  // (streamed rows are shared batch by batch, see training_batches)
    if (!train_.spilled()) train_ = train_.shard(collective_->rank(), collective_->world());
    validation_ = validation_.shard(collective_->rank(), collective_->world());
  }
  if (transformer_.empty()) return widths_;
  std::vector<int64_t> transformed = transformer_.output_widths(widths_);
  // streamed rows are transformed batch by batch (training_batches)
  if (!train_.spilled()) train_.replace_rows(transformer_.apply(train_.all(), widths_), transformed);
  if (validation_rows_ > 0) validation_.replace_rows(transformer_.apply(validation_.all(), widths_), transformed);
  return transformed;
}

// The widths of every rank's rows must be the same (each server's select may give other
// array lengths); a rank without rows takes the others'.
void Trainer::agree_on_widths() {
  size_t columns = spec_.key.columns().size();
  bool has_rows = train_.rows() > 0;
  if (has_rows && widths_.size() != columns)
    throw std::runtime_error("the rows have " + std::to_string(widths_.size()) + " columns, the key names " +
                             std::to_string(columns));
  torch::Tensor least = torch::full({static_cast<int64_t>(columns)}, std::numeric_limits<int64_t>::max(), torch::kInt64);
  torch::Tensor most = torch::full({static_cast<int64_t>(columns)}, int64_t{-1}, torch::kInt64);
  if (has_rows)
    for (size_t c = 0; c < columns; ++c) least[c] = most[c] = widths_[c];
  collective_->minimum(least);
  collective_->maximum(most);
  for (size_t c = 0; c < columns; ++c) {
    int64_t lo = least[c].item<int64_t>(), hi = most[c].item<int64_t>();
    if (hi < 1) throw std::runtime_error("the select returned no rows to train on, on any server");
    if (lo != hi)
      throw std::runtime_error("key column \"" + spec_.key.columns()[c] + "\" has " + std::to_string(lo) +
                               " values in the rows of one rank and " + std::to_string(hi) +
                               " in another's: every server's select must give the same widths");
  }
  if (!has_rows) {
    std::vector<int64_t> widths(columns);
    for (size_t c = 0; c < columns; ++c) widths[c] = most[c].item<int64_t>();
    train_.set_widths_of_empty(widths);
    validation_.set_widths_of_empty(widths);
    widths_ = widths;
  }
}

namespace {

// The set's position of row j of rank `rank` when the ranks' rows are densely interleaved:
// round j takes the j-th row of every rank that has one, in rank order. With counts that
// differ by at most one (the longer first), rank r's row j is the set's row j * world + r,
// as the rows of one server are dealt to its ranks.
std::vector<int64_t> interleaved_positions(const std::vector<int64_t>& counts, int rank) {
  std::vector<int64_t> sorted = counts;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> positions(counts[rank]);
  // before round j: sum over ranks of min(count, j), which grows by the ranks longer than j
  int64_t before_round = 0;
  size_t shorter = 0;  // ranks with count <= j
  for (int64_t j = 0; j < counts[rank]; ++j) {
    while (shorter < sorted.size() && sorted[shorter] <= j) ++shorter;
    int64_t earlier = 0;  // ranks before this one that still have a row j
    for (int q = 0; q < rank; ++q)
      if (counts[q] > j) ++earlier;
    positions[j] = before_round + earlier;
    before_round += static_cast<int64_t>(sorted.size() - shorter);
  }
  return positions;
}

}  // namespace

// Rows on several servers: this rank holds only its own. The counts are gathered, the set's
// order is their dense interleave, the validation split is drawn over the whole set (every
// rank draws the same one from the total and the seed), and this rank keeps its own rows of
// each part, knowing their positions in it.
void Trainer::prepare_local_rows() {
  agree_on_widths();
  int rank = collective_->rank();
  std::vector<int64_t> counts = collective_->gather_counts(train_.rows());
  int64_t total = 0;
  for (int64_t count : counts) {
    if (count < 0 || count > (int64_t{1} << 40)) throw PeerLost("a rank sent an impossible row count");
    total += count;
  }
  if (total == 0) throw std::runtime_error("the select returned no rows to train on, on any server");
  std::vector<int64_t> positions = interleaved_positions(counts, rank);
  auto train_positions = std::make_shared<std::vector<int64_t>>();
  std::vector<int64_t> validation_positions;
  if (spec_.validation.split > 0) {
    std::vector<bool> held = Dataset::held_out_rows(total, spec_.validation.split, spec_.compute.seed);
    std::vector<bool> mine_held(positions.size(), false);
    int64_t held_before = 0;
    size_t k = 0;
    for (int64_t g = 0; g < total && k < positions.size(); ++g) {
      if (g == positions[k]) {
        if (held[g]) {
          mine_held[k] = true;
          validation_positions.push_back(held_before);
        } else {
          train_positions->push_back(g - held_before);
        }
        ++k;
      }
      if (held[g]) ++held_before;
    }
    validation_rows_ = std::count(held.begin(), held.end(), true);
    validation_ = train_.split_off(mine_held);
  } else {
    *train_positions = positions;
    validation_rows_ = 0;
  }
  train_rows_ = total - validation_rows_;
  train_positions_ = std::move(train_positions);
  validation_positions_ = torch::tensor(validation_positions, torch::kInt64);
}

void Trainer::fit_transform() {
  if (local_rows()) {  // every rank's statistics, reduced
    Transformer::Reduction reduction{
        [this](const torch::Tensor& t) { collective_->sum({t}); },
        [this](const torch::Tensor& t) { collective_->minimum(t); },
        [this](const torch::Tensor& t) { collective_->maximum(t); }};
    torch::Tensor rows = train_.all();
    transformer_.fit([&rows](const Transformer::ChunkVisitor& visit) { visit(rows); }, widths_, &reduction);
    return;
  }
  if (train_.spilled())  // a pass over the spill file
    transformer_.fit([this](const Transformer::ChunkVisitor& visit) { for_each_chunk(spilled_rows(), visit); },
                     widths_);
  else
    transformer_.fit(train_.all(), widths_);
}

// Rows in memory are transformed already. Streamed rows come in chunks of prefetch_size
// rows, read ahead by prefetch_factor chunks when data_prefetch is on (else one) and never
// more than the memory limit holds, and are transformed batch by batch.
std::unique_ptr<BatchSource> Trainer::training_batches() {
  if (!train_.spilled()) {
    if (!collective_) return std::make_unique<ShuffledBatches>(train_, spec_.loader);
    auto batches = std::make_unique<ShuffledBatches>(
        train_, spec_.loader, Shard{train_rows_, collective_->rank(), collective_->world(), train_positions_});
    global_batches_ = batches.get();
    return batches;
  }
  int64_t chunk_bytes = spec_.prefetch_size * train_.row_width() * static_cast<int64_t>(sizeof(float));
  int64_t ahead = spec_.data_prefetch ? spec_.prefetch_factor : 1;
  if (train_.memory_limit() > 0) ahead = std::max<int64_t>(1, std::min(ahead, train_.memory_limit() / chunk_bytes - 2));
  std::unique_ptr<BatchSource> batches = std::make_unique<ChunkedBatchReader>(
      std::move(spilled_rows()), spec_.loader.batch_size, spec_.loader.shuffle, spec_.loader.drop_last,
      spec_.loader.seed, ahead);
  if (collective_) {
    auto shared = std::make_unique<SharedBatches>(std::move(batches), collective_->rank(), collective_->world());
    global_batches_ = shared.get();
    batches = std::move(shared);
  }
  if (transformer_.empty()) return batches;
  return std::make_unique<MappedBatches>(std::move(batches),
                                         [this](const torch::Tensor& rows) { return transformer_.apply(rows, widths_); });
}

SpilledRows& Trainer::spilled_rows() {
  if (!spilled_) spilled_ = train_.finish_spill();
  return *spilled_;
}

void Trainer::resume(const std::string& weights, const std::string& optimizer_state, int64_t iteration,
                     const json& history) {
  try {
    model_.load(weights);
  } catch (const c10::Error& e) {  // a parameter the model has is missing from the checkpoint
    throw std::runtime_error(std::string("the stored weights do not fit this model: ") + e.what_without_backtrace());
  }
  // an imported version may come without one: its optimizer starts afresh
  if (!optimizer_state.empty()) load_from_bytes(*optimizer_, optimizer_state);
  // (an imported version's iteration is its archive's; steps are counted on from it)
  if (iteration < 0 || iteration > kMaxIteration)
    throw std::runtime_error("the stored iteration " + std::to_string(iteration) + " is out of range");
  iteration_ = start_iteration_ = iteration;
  resumed_ = true;
  // the history up to the checkpoint: a run may have gone on past the step it is resumed from
  history_ = json::object();
  if (!history.is_object() || !history.contains("iteration")) return;
  const json& steps = history["iteration"];
  for (size_t i = 0; i < steps.size() && steps[i].get<int64_t>() <= iteration; ++i)
    for (const auto& item : history.items())
      if (item.value().is_array() && i < item.value().size()) history_[item.key()].push_back(item.value()[i]);
}

void Trainer::share_resume() {
  if (!local_rows()) return;
  torch::Tensor head = torch::tensor({iteration_, static_cast<int64_t>(resumed_)}, torch::kInt64);
  collective_->broadcast({head});
  if (head[1].item<int64_t>() == 0) return;
  bool from_here = collective_->rank() == 0;
  std::string weights = collective_->broadcast_bytes(from_here ? this->weights() : std::string());
  std::string optimizer = collective_->broadcast_bytes(from_here ? optimizer_state() : std::string());
  if (from_here) return;
  try {
    model_.load(weights);
    load_from_bytes(*optimizer_, optimizer);
  } catch (const std::exception& e) {
    throw PeerLost(std::string("rank 0's checkpoint did not load here: ") + e.what());
  }
  iteration_ = start_iteration_ = head[0].item<int64_t>();
}

Trainer::Event Trainer::advance() {
  if (finished_) return Event::Finished;
  if (finish_pending_) {
    if (!best_weights_.empty()) model_.load(best_weights_);
    finished_ = true;
    return Event::Finished;
  }

  torch::Tensor rows = batches_->next_batch();
  torch::Tensor loss = step_loss(rows);
  if (collective_) sum_gradients(loss);
  last_loss_ = loss.item<double>();
  ++iteration_;
  samples_seen_ += global_batches_ ? global_batches_->global_batch_rows() : rows.size(0);
  local_samples_seen_ += rows.size(0);
  if (!std::isfinite(last_loss_))
    throw std::runtime_error(std::string("loss became ") + (std::isnan(last_loss_) ? "NaN" : "infinite") +
                             " at step " + std::to_string(iteration_));
  optimizer_->step();
  interval_loss_sum_ += last_loss_;
  ++interval_steps_;

  bool at_max = spec_.max_iterations && steps_this_run() >= *spec_.max_iterations;
  if (iteration_ % spec_.validation_interval != 0 && !at_max) return Event::Stepped;
  validate();
  if (at_max && !finish_pending_) {
    finish_pending_ = true;
    stop_reason_ = "max_iterations";
  }
  return Event::Validated;
}

// The batch's loss, its gradients computed (by the training plan where it covers the model
// and the batch). On a rank of several, its share of the global batch's loss: the mean over
// its rows weighted by their part of the global denominator, so that the ranks' sum is the
// loss one rank computes over the whole batch. A rank with no rows in the batch contributes zero.
torch::Tensor Trainer::step_loss(const torch::Tensor& rows) {
  if (rows.size(0) == 0) {
    optimizer_->zero_grad();
    // (still one of the ranks summing the denominator, so that the collectives pair up)
    if (collective_ && !loss_denominator_is_row_count(spec_.objective)) global_denominator(0);
    return torch::zeros({});
  }
  torch::Tensor target = layout_.targets(rows);
  double share = collective_ ? rank_share(target) : 1.0;
  if (plan_)
    if (auto loss = plan_->step(rows.narrow(1, 0, layout_.input_width), target, static_cast<float>(share)))
      return *loss;
  optimizer_->zero_grad();
  torch::Tensor output = model_.forward(layout_.inputs(rows), layout_.lengths(rows));
  torch::Tensor loss = compute_loss(spec_.objective, output, target);
  if (collective_) loss = loss * share;
  // (a NaN loss is caught after the step's sums, so that every rank stops at the same step)
  if (loss.requires_grad()) loss.backward();
  return loss.detach();
}

double Trainer::rank_share(const torch::Tensor& target) {
  double local = loss_denominator(spec_.objective, target);
  double global = loss_denominator_is_row_count(spec_.objective)
                      ? static_cast<double>(global_batches_->global_batch_rows())
                      : global_denominator(local);
  return local / global;
}

// Sums the ranks' gradients, and their losses, in one collective: every rank then takes
// the same step, and sees the same loss.
void Trainer::sum_gradients(torch::Tensor& loss) {
  std::vector<torch::Tensor> parameters = model_.parameters();
  std::vector<torch::Tensor> sums;
  for (torch::Tensor& p : parameters) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // no rows here this step
    sums.push_back(p.grad());
  }
  loss = loss.reshape({1}).to(torch::kFloat32).clone();
  sums.push_back(loss);
  collective_->sum(sums);
  loss = loss.reshape({});
}

double Trainer::global_denominator(double local) {
  torch::Tensor total = torch::tensor({local}, torch::kFloat64);
  collective_->sum({total});
  return total.item<double>();
}

// Every rank's rows of a validation set, in the set's order.
torch::Tensor Trainer::gather_rows(const torch::Tensor& local) {
  return collective_->gather_interleaved(local, collective_->gather_counts(local.size(0)));
}

std::vector<std::pair<std::string, double>> Trainer::evaluate(const Dataset& data) {
  torch::NoGradGuard no_grad;
  model_.set_training(false);
  torch::Tensor rows = data.all();
  std::vector<torch::Tensor> outputs;
  // (once at least: a rank's shard of a small set may hold no rows, and its empty output
  // still joins the gathering)
  for (int64_t start = 0; start == 0 || start < data.rows(); start += kEvaluationBatch) {
    int64_t n = std::min(kEvaluationBatch, data.rows() - start);
    torch::Tensor batch = rows.narrow(0, start, n);
    outputs.push_back(model_.forward(layout_.inputs(batch), layout_.lengths(batch)));
  }
  model_.set_training(true);
  torch::Tensor output = torch::cat(outputs);
  torch::Tensor target = layout_.targets(rows);
  if (local_rows()) {  // every rank's rows, put back in the set's order
    std::vector<int64_t> counts = collective_->gather_counts(output.size(0));
    torch::Tensor positions = collective_->gather_concatenated(validation_positions_, counts);
    output = collective_->gather_concatenated(output, counts);
    target = collective_->gather_concatenated(target, counts);
    torch::Tensor order = positions.argsort();
    if (!positions.index_select(0, order).equal(torch::arange(positions.size(0), torch::kInt64)))
      throw PeerLost("the ranks' validation rows are not the split's rows");
    output = output.index_select(0, order);
    target = target.index_select(0, order);
  } else if (collective_) {  // the metrics of the whole set, the same on every rank
    output = gather_rows(output);
    target = gather_rows(target);
  }
  std::vector<std::pair<std::string, double>> values = {
      {"objective", compute_loss(spec_.objective, output, target).item<double>()}};
  for (const auto& name : spec_.validation.metrics)
    values.emplace_back(name, compute_metric(name, spec_.objective, output, target));
  return values;
}

bool Trainer::improves(double value) const {
  if (!best_) return std::isfinite(value);
  return spec_.listen_higher_is_better() ? value > *best_ : value < *best_;
}

void Trainer::validate() {
  double train_objective = interval_loss_sum_ / std::max<int64_t>(1, interval_steps_);
  interval_loss_sum_ = 0;
  interval_steps_ = 0;

  // Without validation rows, the training loss of the interval stands in for "objective".
  last_metrics_ = validation_rows_ > 0 ? evaluate(validation_)
                                         : std::vector<std::pair<std::string, double>>{{"objective", train_objective}};
  last_metrics_.emplace_back("train_objective", train_objective);

  history_["iteration"].push_back(iteration_);
  double listened = 0;
  for (const auto& [name, value] : last_metrics_) {
    history_[name].push_back(value);
    if (name == spec_.listen) listened = value;
  }

  last_was_best_ = improves(listened);
  if (last_was_best_) {
    best_ = listened;
    best_iteration_ = iteration_;
    best_weights_ = weights();
    validations_without_best_ = 0;
  } else if (++validations_without_best_ >= spec_.no_improve_then_stop) {
    finish_pending_ = true;
    stop_reason_ = "no_improvement";
  }
}

std::string Trainer::weights() const { return model_.save(); }
std::string Trainer::optimizer_state() const { return save_to_bytes(*optimizer_); }

}  // namespace pinnacle
