// The torch core's entries of the C interface (PT_TORCH_ENTRIES in pinnacle_core.h), built into
// pinnacle_train_torch.so: everything that needs libtorch. The spec's entries are c_api_spec.cpp's.
#include "pinnacle_core.h"

#include <csignal>
#include <malloc.h>
#include <pthread.h>

#include "c_api_guard.hpp"
#include "c_api_spec.hpp"
#include "compute_threads.hpp"
#include "dataset.hpp"
#include "network.hpp"
#include "predictor.hpp"
#include "trainer.hpp"

using pinnacle::Dataset;
using pinnacle::Trainer;

struct PtData {
  Dataset rows;
};

struct PtTrainer {
  Trainer trainer;
  std::string weights;
  std::string optimizer_state;
  std::string history;
  std::string transform;
};

struct PtRendezvous {
  pinnacle::Rendezvous rendezvous;
};

struct PtPrediction {
  std::unique_ptr<pinnacle::Predictor::Prediction> started;
};

struct PtModel {
  pinnacle::Predictor predictor;
  std::string exported;
  std::string optimizer_state;
};

namespace {

// C's (pointer, size), where a pointer may be NULL when its size is 0.
std::string bytes(const char* data, size_t size) { return size == 0 ? std::string() : std::string(data, size); }

// The exceptions of the torch core, then the others (c_api_guard.hpp).
void fail_with_current_torch_exception() noexcept {
  using pinnacle::c_api::fail;
  try {
    throw;
  } catch (const pinnacle::PeerLost& e) {
    fail(PT_ERROR_PEER, e.what());
  } catch (const c10::Error& e) {
    const char* message = e.what_without_backtrace();
    fail(pinnacle::c_api::is_allocation_failure(message) ? PT_ERROR_MEMORY : PT_ERROR_SPEC, message);
  } catch (...) {
    pinnacle::c_api::fail_with_current_exception();
  }
}

}  // namespace

// Every entry of the C interface is one PT_ENTRY: its body runs inside guarded(), so no
// exception (from .at(), a JSON dump, a string allocation, torch) reaches the C side.
#define PT_ENTRY(failure, ...) \
  return pinnacle::c_api::guarded<fail_with_current_torch_exception>(failure, [&] { __VA_ARGS__ })
#define PT_ENTRY_VOID(...) \
  pinnacle::c_api::guarded<fail_with_current_torch_exception>(0, [&] { __VA_ARGS__; return 0; })

extern "C" {

// A training step allocates and frees tensors of 128 kB to a few MB (activations, gradients).
// Above glibc's mmap threshold each one is a fresh mapping, page-faulted again every step;
// glibc raises that threshold only after freeing such a chunk, which a training set
// received into one reserved buffer never does (measured: 14,000 instead of 70,000
// samples/s). Fix it where glibc's own adjustment ends, as it would have.
void pt_runtime_keep_step_tensors_on_the_heap(void) noexcept {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

bool pt_runtime_init(int threads) noexcept {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  bool ok = pinnacle::c_api::guarded<fail_with_current_torch_exception>(false, [&] {
    pinnacle::set_compute_threads(threads);
    // The first parallel operation creates the intra-op pool; its threads inherit this mask.
    torch::ones({1 << 16}).sum().item<float>();
    // The first matrix product starts OpenBLAS (its kernels for this CPU, its pool). Its
    // work buffers are mapped here too: they count as libtorch's start, not against
    // compute_kwargs.memory_limit, past which OpenBLAS would spin forever.
    torch::ones({512, 512}).mm(torch::ones({512, 512})).sum().item<float>();
    pinnacle::reserve_blas_buffers(threads);
    return true;
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return ok;
}

bool pt_spec_check_model(const PtSpec* spec, const int64_t* column_widths, const char* module, size_t module_size,
                         const char* weights, size_t weights_size) noexcept {
  PT_ENTRY(false, {
    std::vector<int64_t> widths(column_widths, column_widths + spec->columns.size());
    pinnacle::Transformer transformer(spec->spec.transform, spec->columns, spec->spec.key.inputs.size());
    auto layout = pinnacle::Layout::of(spec->spec, transformer.output_widths(widths));
    std::string module_bytes = module ? std::string(module, module_size) : std::string();
    auto network = pinnacle::build_network(spec->spec, transformer, layout, module_bytes);
    if (weights == nullptr) return true;
    try {
      network.load(std::string(weights, weights_size));
    } catch (const c10::Error& e) {
      throw pinnacle::SpecError("optimizer_state", std::string("the starting checkpoint does not fit this model: ") +
                                                       e.what_without_backtrace());
    }
    return true;
  });
}

int64_t pt_spec_estimate_training_bytes(const PtSpec* spec, const int64_t* column_widths, const char* module,
                                        size_t module_size) noexcept {
  PT_ENTRY(int64_t{-1}, {
    std::vector<int64_t> widths(column_widths, column_widths + spec->columns.size());
    pinnacle::Transformer transformer(spec->spec.transform, spec->columns, spec->spec.key.inputs.size());
    auto layout = pinnacle::Layout::of(spec->spec, transformer.output_widths(widths));
    std::string module_bytes = module ? std::string(module, module_size) : std::string();
    auto network = pinnacle::build_network(spec->spec, transformer, layout, module_bytes);
    int64_t parameters = 0;
    for (const auto& p : network.parameters()) parameters += p.numel();
    const std::string& optimizer = spec->spec.optimizer.cls;
    int64_t optimizer_slots = optimizer == "Adam" || optimizer == "AdamW" ? 2 : 1;
    int64_t activations = network.activation_values_per_row(layout.input_widths, layout.padded);
    return static_cast<int64_t>(sizeof(float)) *
           (parameters * (2 + optimizer_slots) + activations * spec->spec.loader.batch_size * 2);
  });
}

bool pt_torchscript_check(const char* bytes, size_t size) noexcept {
  PT_ENTRY(false, pinnacle::load_torchscript(std::string(bytes, size)); return true;);
}

bool pt_torchscript_export_metadata(const char* bytes, size_t size, PtExportFiles* files) noexcept {
  static thread_local pinnacle::ExportMetadata read;
  PT_ENTRY(false, {
    read = pinnacle::read_export_files(std::string(bytes, size));
    *files = {read.metadata_json.data(), read.metadata_json.size(), read.weights.data(),
              read.weights.size(), read.optimizer_state.data(), read.optimizer_state.size()};
    return true;
  });
}

PtData* pt_data_new(const PtSpec* spec, int64_t memory_limit, bool training_rows) noexcept {
  PT_ENTRY(nullptr, {
    // built in place: a Dataset is not moved once it exists
    std::unique_ptr<PtData> data(new PtData{Dataset(spec->columns, memory_limit)});
    const auto& s = spec->spec;
    if (training_rows && !s.in_memory) data->rows.spill(s.prefetch_size);
    if (s.collate_fn == "pad") data->rows.pad_inputs(s.key.inputs.size());
    return data.release();
  });
}
void pt_data_free(PtData* data) noexcept { PT_ENTRY_VOID(delete data); }
void pt_data_expect_rows(PtData* data, int64_t rows) noexcept { data->rows.expect_rows(rows); }
bool pt_data_append(PtData* data, const char* body, size_t size) noexcept {
  PT_ENTRY(false, data->rows.append_wire_rows(body, size); return true;);
}
bool pt_data_keep_shard(PtData* data, int rank, int world) noexcept {
  PT_ENTRY(false, data->rows = data->rows.shard(rank, world); return true;);
}
int64_t pt_data_rows(const PtData* data) noexcept { return data->rows.received_rows(); }
int64_t pt_data_memory_bytes(const PtData* data) noexcept { return data->rows.memory_bytes(); }

PtRendezvous* pt_rendezvous_open(int rank, int world, const char* store_path, const char* run_key,
                                 int timeout_seconds) noexcept {
  PT_ENTRY(nullptr, {
    pinnacle::RankSpec spec;
    spec.rank = rank;
    spec.world = world;
    spec.store_path = store_path;
    spec.run_key = run_key;
    spec.timeout = std::chrono::seconds(timeout_seconds);
    return new PtRendezvous{pinnacle::Rendezvous(spec)};
  });
}

PtRendezvous* pt_rendezvous_open_tcp(int rank, int world, const char* store_host, int store_port,
                                     const char* gloo_address, const char* run_key, int timeout_seconds) noexcept {
  PT_ENTRY(nullptr, {
    pinnacle::RankSpec spec;
    spec.rank = rank;
    spec.world = world;
    spec.run_key = run_key;
    spec.timeout = std::chrono::seconds(timeout_seconds);
    spec.store_host = store_host;
    spec.store_port = store_port;
    spec.gloo_address = gloo_address;
    spec.local_rows = true;
    return new PtRendezvous{pinnacle::Rendezvous(spec)};
  });
}

int pt_rendezvous_port(const PtRendezvous* rendezvous) noexcept {
  PT_ENTRY(-1, return rendezvous->rendezvous.port(););
}

PtTrainer* pt_trainer_new(const PtSpec* spec, PtData* train, PtData* validation, const char* module,
                          size_t module_size, PtRendezvous* rendezvous) noexcept {
  PT_ENTRY(nullptr, {
    std::unique_ptr<PtData> owned_train(train), owned_validation(validation);
    std::unique_ptr<PtRendezvous> owned_rendezvous(rendezvous);
    std::string module_bytes = module ? std::string(module, module_size) : std::string();
    std::unique_ptr<pinnacle::Collective> collective;
    if (owned_rendezvous) collective = std::make_unique<pinnacle::Collective>(owned_rendezvous->rendezvous);
    return new PtTrainer{Trainer(spec->spec, std::move(owned_train->rows), std::move(owned_validation->rows),
                                 module_bytes, std::move(collective)),
                         {}, {}, {}, {}};
  });
}

void pt_trainer_free(PtTrainer* trainer) noexcept { PT_ENTRY_VOID(delete trainer); }

bool pt_trainer_resume(PtTrainer* trainer, const char* weights, size_t weights_size, const char* optimizer_state,
                       size_t optimizer_size, int64_t iteration, const char* history_json) noexcept {
  PT_ENTRY(false, {
    auto history = history_json ? pinnacle::json::parse(history_json) : pinnacle::json::object();
    trainer->trainer.resume(std::string(weights, weights_size), std::string(optimizer_state, optimizer_size),
                            iteration, history);
    return true;
  });
}

bool pt_trainer_share_resume(PtTrainer* trainer) noexcept {
  PT_ENTRY(false, trainer->trainer.share_resume(); return true;);
}

PtEvent pt_trainer_advance(PtTrainer* trainer) noexcept {
  PT_ENTRY(PT_FAILED, {
    switch (trainer->trainer.advance()) {
      case Trainer::Event::Stepped: return PT_STEPPED;
      case Trainer::Event::Validated: return PT_VALIDATED;
      case Trainer::Event::Finished: return PT_FINISHED;
    }
    return PT_FAILED;
  });
}

int64_t pt_trainer_iteration(const PtTrainer* trainer) noexcept { return trainer->trainer.iteration(); }
int64_t pt_trainer_steps_this_run(const PtTrainer* trainer) noexcept { return trainer->trainer.steps_this_run(); }
int64_t pt_trainer_samples_seen(const PtTrainer* trainer) noexcept { return trainer->trainer.samples_seen(); }
int64_t pt_trainer_local_samples_seen(const PtTrainer* trainer) noexcept {
  return trainer->trainer.local_samples_seen();
}
double pt_trainer_allreduce_seconds(const PtTrainer* trainer) noexcept { return trainer->trainer.allreduce_seconds(); }
int64_t pt_trainer_allreduce_bytes(const PtTrainer* trainer) noexcept { return trainer->trainer.allreduce_bytes(); }
int64_t pt_trainer_train_rows(const PtTrainer* trainer) noexcept { return trainer->trainer.train_rows(); }
int64_t pt_trainer_validation_rows(const PtTrainer* trainer) noexcept { return trainer->trainer.validation_rows(); }
double pt_trainer_last_loss(const PtTrainer* trainer) noexcept { return trainer->trainer.last_loss(); }
int pt_trainer_metric_count(const PtTrainer* trainer) noexcept {
  return static_cast<int>(trainer->trainer.last_metrics().size());
}
const char* pt_trainer_metric_name(const PtTrainer* trainer, int i) noexcept {
  PT_ENTRY(nullptr, return trainer->trainer.last_metrics().at(i).first.c_str(););
}
double pt_trainer_metric_value(const PtTrainer* trainer, int i) noexcept {
  PT_ENTRY(std::nan(""), return trainer->trainer.last_metrics().at(i).second;);
}
bool pt_trainer_last_was_best(const PtTrainer* trainer) noexcept { return trainer->trainer.last_was_best(); }

bool pt_trainer_checkpoint(PtTrainer* trainer, const char** weights, size_t* weights_size,
                           const char** optimizer_state, size_t* optimizer_size) noexcept {
  PT_ENTRY(false, {
    trainer->weights = trainer->trainer.weights();
    trainer->optimizer_state = trainer->trainer.optimizer_state();
    *weights = trainer->weights.data();
    *weights_size = trainer->weights.size();
    *optimizer_state = trainer->optimizer_state.data();
    *optimizer_size = trainer->optimizer_state.size();
    return true;
  });
}

int64_t pt_trainer_best_iteration(const PtTrainer* trainer) noexcept { return trainer->trainer.best_iteration(); }
double pt_trainer_best_value(const PtTrainer* trainer) noexcept { return trainer->trainer.best_value(); }
const char* pt_trainer_stop_reason(const PtTrainer* trainer) noexcept {
  return trainer->trainer.stop_reason().c_str();
}
const char* pt_trainer_transform_json(PtTrainer* trainer) noexcept {
  PT_ENTRY(nullptr, trainer->transform = trainer->trainer.fitted_transform().dump();
           return trainer->transform.c_str(););
}
const char* pt_trainer_history_json(PtTrainer* trainer) noexcept {
  PT_ENTRY(nullptr, trainer->history = trainer->trainer.history().dump(); return trainer->history.c_str(););
}
int pt_trainer_column_count(const PtTrainer* trainer) noexcept {
  return static_cast<int>(trainer->trainer.column_widths().size());
}
int64_t pt_trainer_column_width(const PtTrainer* trainer, int column) noexcept {
  PT_ENTRY(int64_t{-1}, return trainer->trainer.column_widths().at(column););
}

PtModel* pt_model_load(const char* spec_json, const int64_t* column_widths, int columns, const char* weights,
                       size_t weights_size, const char* transform_json) noexcept {
  PT_ENTRY(nullptr, {
    std::vector<int64_t> widths(column_widths, column_widths + columns);
    auto transform = transform_json ? pinnacle::json::parse(transform_json) : pinnacle::json();
    return new PtModel{pinnacle::Predictor(spec_json, widths, std::string(weights, weights_size), transform), {}, {}};
  });
}

void pt_model_free(PtModel* model) noexcept { PT_ENTRY_VOID(delete model); }
int64_t pt_model_input_width(const PtModel* model) noexcept { return model->predictor.input_width(); }
int64_t pt_model_output_width(const PtModel* model) noexcept { return model->predictor.output_width(); }

static_assert(PT_MAX_BATCH_ROWS == pinnacle::Predictor::kMaxBatchRows);
int64_t pt_model_batch_rows(const PtModel* model) noexcept { return model->predictor.batch_rows(); }
int pt_model_input_columns(const PtModel* model) noexcept { return model->predictor.input_columns(); }
bool pt_model_padded(const PtModel* model) noexcept { return model->predictor.padded(); }

bool pt_model_predict(PtModel* model, const float* values, int64_t rows, const int64_t* lengths, float* out) noexcept {
  PT_ENTRY(false, model->predictor.predict(values, rows, out, lengths); return true;);
}

PtPrediction* pt_model_predict_start(PtModel* model, const float* values, int64_t rows, const int64_t* lengths) noexcept {
  PT_ENTRY(nullptr, return new PtPrediction{model->predictor.start_predict(values, rows, lengths)};);
}

bool pt_prediction_finish(PtModel* model, PtPrediction* prediction, float* out) noexcept {
  std::unique_ptr<PtPrediction> owned(prediction);
  PT_ENTRY(false, model->predictor.finish_predict(*owned->started, out); return true;);
}

// Waits until the run has begun and ended, or was skipped: dropped runs (one per error in a
// statement that catches them) never pile up on the model's thread, each with its copy of a
// batch; the wait is for the runs queued before it (outer calls') at most.
void pt_prediction_drop(PtPrediction* prediction) noexcept {
  pinnacle::Predictor::drop_predict(*prediction->started);
  delete prediction;
}

void pt_model_wait_for_started(PtModel* model) noexcept { PT_ENTRY_VOID(model->predictor.wait_for_started()); }

const char* pt_model_weights(PtModel* model, size_t* size) noexcept {
  PT_ENTRY(nullptr, {
    model->exported = model->predictor.weights();
    *size = model->exported.size();
    return model->exported.data();
  });
}

const char* pt_model_optimizer_state(PtModel* model, const char* state, size_t state_size, size_t* size) noexcept {
  PT_ENTRY(nullptr, {
    std::string stored = bytes(state, state_size);
    model->optimizer_state = stored.empty() ? stored : model->predictor.checked_optimizer_state(stored);
    *size = model->optimizer_state.size();
    return model->optimizer_state.data();
  });
}

const char* pt_model_export(PtModel* model, const PtExportFiles* files, size_t* size) noexcept {
  PT_ENTRY(nullptr, {
    model->exported = model->predictor.export_torchscript(
        {bytes(files->metadata_json, files->metadata_size), bytes(files->weights, files->weights_size),
         bytes(files->optimizer_state, files->optimizer_size)});
    *size = model->exported.size();
    return model->exported.data();
  });
}

}  // extern "C"
