// The training spec: the TorchTrainer configuration of DESIGN.md section 2, parsed and
// checked field by field. Knows JSON, not torch and not PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pinnacle {

using json = nlohmann::json;

// A bad spec: the message always starts with the path of the field at fault.
class SpecError : public std::runtime_error {
 public:
  SpecError(const std::string& field, const std::string& problem)
      : std::runtime_error("spec field \"" + field + "\": " + problem) {}
};

struct KeySpec {
  std::vector<std::string> inputs;
  std::string target;     // empty when the objective compares the output with the input
  bool has_target() const { return !target.empty(); }
  // Every column the select must return, inputs first, then the target if any.
  std::vector<std::string> columns() const;
};

struct LoaderSpec {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
};

struct OptimizerSpec {
  std::string cls = "Adam";
  json kwargs = json::object();
};

struct ObjectiveSpec {
  std::string name;
  json options = json::object();
  // Objectives whose target is an integer class index.
  bool wants_class_index() const { return name == "cross_entropy" || name == "nll"; }
  bool is_classification() const { return wants_class_index() || name == "bce_with_logits"; }
};

struct ValidationSpec {
  bool present = false;
  std::string select;     // validation rows from their own query...
  double split = 0.0;     // ...or this fraction held out from the training rows
  std::vector<std::string> metrics;
};

struct ComputeSpec {
  int threads = 1;
  uint64_t seed = 0;
  bool deterministic = false;
  std::string device = "cpu";
  int64_t memory_limit = 0;  // bytes; 0: the server's default applies
  int workers = 1;           // data-parallel ranks (trainer processes) on this server
  int timeout = 60;          // seconds a rank waits for the others before the run is interrupted
  // foreign servers (postgres_fdw) whose rows train with this server's: each runs the select
  // with `workers` ranks of its own, after this server's
  std::vector<std::string> servers;
  int world() const { return workers * (1 + static_cast<int>(servers.size())); }
};

// Where a continued run takes its starting weights and optimizer state from.
struct ResumeSpec {
  enum class From { nothing, latest, run, model };
  From from = From::nothing;
  int64_t run_id = 0;       // From::run
  std::string model;        // From::model: "identifier[@version]"
};

struct TrainSpec {
  std::string identifier;
  std::string select;
  KeySpec key;
  json layers;               // the layer list of "model"...
  std::string torchscript;   // ...or the identifier of a module imported with pinnacle_import
  json transform = json::object();  // per input column, its steps (see transform.hpp)
  std::string signature = "*args";
  std::string collate_fn = "stack";
  ObjectiveSpec objective;
  LoaderSpec loader;
  OptimizerSpec optimizer;
  std::optional<int64_t> max_iterations;
  int64_t validation_interval = 100;
  std::string listen = "objective";
  int64_t no_improve_then_stop = 5;
  bool in_memory = true;     // false: the rows are spilled to a file and streamed in chunks
  bool data_prefetch = false;  // read chunks ahead on a background thread
  int64_t prefetch_size = 1000;  // rows per chunk
  int64_t prefetch_factor = 100;  // chunks kept ready ahead
  bool download = false;     // the caller snapshots the rows into tables of the run (src/pg/snapshot.c)
  ComputeSpec compute;
  ValidationSpec validation;
  ResumeSpec resume;

  // true when a larger value of the listened metric is better
  bool listen_higher_is_better() const;
};

// Parses and checks a spec. Throws SpecError naming the field at fault.
TrainSpec parse_spec(const std::string& text);

// The metric names `validation.metrics` accepts.
const std::vector<std::string>& known_metrics();
bool metric_higher_is_better(const std::string& name);

// The known name closest to `name` (for "did you mean" hints); empty when none is close.
std::string closest_name(const std::string& name, const std::vector<std::string>& known);

}  // namespace pinnacle
