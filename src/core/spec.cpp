#include "spec.hpp"

#include "transform_steps.hpp"

#include <algorithm>
#include <cctype>

namespace pinnacle {

namespace {

const std::vector<std::string> kTopLevelFields = {
    "identifier",     "select",           "key",
    "model",          "transform",        "signature",
    "collate_fn",     "objective",        "loader_kwargs",
    "optimizer_cls",  "optimizer_kwargs", "optimizer_state",
    "init_from",      "max_iterations",   "validation_interval",
    "listen",         "no_improve_then_stop", "metric_values",
    "in_memory",      "data_prefetch",    "prefetch_size",
    "prefetch_factor", "download",        "compute_kwargs",
    "validation",     "uuid",             "artifacts",
    "db",             "deploy"};

// Fields the TorchTrainer has that the server fills in itself.
const std::vector<std::string> kOutputFields = {"uuid", "artifacts", "db", "metric_values"};

const std::vector<std::string> kObjectives = {"mse", "l1", "huber", "cross_entropy",
                                              "bce_with_logits", "nll"};
const std::vector<std::string> kOptimizers = {"Adam", "AdamW", "SGD", "RMSprop", "Adagrad"};
const std::vector<std::string> kSignatures = {"singleton", "*args", "**kwargs", "*args,**kwargs"};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t cost = (std::tolower(a[i - 1]) == std::tolower(b[j - 1])) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void reject_unknown_fields(const json& object, const std::string& where,
                           const std::vector<std::string>& known) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string field = where.empty() ? item.key() : where + "." + item.key();
    std::string hint = closest_name(item.key(), known);
    throw SpecError(field, "unknown field" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
  }
}

// Typed readers: each names the field when the value has the wrong type or range.
std::string read_string(const json& value, const std::string& field) {
  if (!value.is_string() || value.get<std::string>().empty())
    throw SpecError(field, "must be a non-empty string");
  return value.get<std::string>();
}

bool read_bool(const json& value, const std::string& field) {
  if (!value.is_boolean()) throw SpecError(field, "must be true or false");
  return value.get<bool>();
}

// A trainer's intra-op threads: more is not a machine this runs on, and each is an OS thread.
constexpr int kMaxThreads = 64;
constexpr int kMaxWorkers = 64;
constexpr int kMaxTimeout = 86400;
constexpr size_t kMaxServerName = 63;  // PostgreSQL's NAMEDATALEN - 1
// An identifier is a name, shown in messages and indexed in the catalog.
constexpr size_t kMaxIdentifierLength = 200;

int64_t read_int(const json& value, const std::string& field, int64_t min) {
  if (!value.is_number_integer()) throw SpecError(field, "must be an integer");
  // an unsigned JSON integer above INT64_MAX would wrap around in get<int64_t>()
  if (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX)
    throw SpecError(field, "must be at most " + std::to_string(INT64_MAX));
  int64_t v = value.get<int64_t>();
  if (v < min) throw SpecError(field, "must be at least " + std::to_string(min));
  return v;
}

std::string read_choice(const json& value, const std::string& field,
                        const std::vector<std::string>& choices) {
  std::string v = read_string(value, field);
  if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
    std::string hint = closest_name(v, choices);
    throw SpecError(field, "\"" + v + "\" is not one of " + join(choices) +
                               (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
  }
  return v;
}

const json& require_object(const json& value, const std::string& field) {
  if (!value.is_object()) throw SpecError(field, "must be a JSON object");
  return value;
}

KeySpec read_key(const json& value) {
  KeySpec key;
  if (value.is_string()) {
    key.inputs.push_back(read_string(value, "key"));
  } else if (value.is_array()) {
    if (value.size() != 2) throw SpecError("key", "a list key must be [input, target]");
    key.inputs.push_back(read_string(value[0], "key[0]"));
    key.target = read_string(value[1], "key[1]");
  } else if (value.is_object()) {
    reject_unknown_fields(value, "key", {"inputs", "target"});
    if (!value.contains("inputs")) throw SpecError("key.inputs", "is required");
    const json& inputs = value["inputs"];
    if (!inputs.is_array() || inputs.empty())
      throw SpecError("key.inputs", "must be a non-empty list of column names");
    for (size_t i = 0; i < inputs.size(); ++i)
      key.inputs.push_back(read_string(inputs[i], "key.inputs[" + std::to_string(i) + "]"));
    if (value.contains("target")) key.target = read_string(value["target"], "key.target");
  } else {
    throw SpecError("key", "must be a column name, [input, target] or {\"inputs\": [...], \"target\": ...}");
  }
  std::vector<std::string> seen;
  for (const auto& column : key.columns()) {
    if (std::find(seen.begin(), seen.end(), column) != seen.end())
      throw SpecError("key", "column \"" + column + "\" is named twice");
    seen.push_back(column);
  }
  return key;
}

json read_layers(const json& value) {
  require_object(value, "model");
  reject_unknown_fields(value, "model", {"layers", "torchscript"});
  if (value.contains("torchscript") == value.contains("layers"))
    throw SpecError("model", "needs exactly one of \"layers\" or \"torchscript\"");
  if (value.contains("torchscript")) return json();
  const json& layers = value["layers"];
  if (!layers.is_array() || layers.empty())
    throw SpecError("model.layers", "must be a non-empty list of layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string field = "model.layers[" + std::to_string(i) + "]";
    require_object(layers[i], field);
    if (!layers[i].contains("type")) throw SpecError(field + ".type", "is required");
    read_string(layers[i]["type"], field + ".type");
  }
  return layers;
}

ObjectiveSpec read_objective(const json& value) {
  ObjectiveSpec objective;
  if (value.is_object()) {
    if (!value.contains("name")) throw SpecError("objective.name", "is required");
    objective.name = read_choice(value["name"], "objective.name", kObjectives);
    objective.options = value;
    objective.options.erase("name");
  } else {
    objective.name = read_choice(value, "objective", kObjectives);
  }
  static const std::vector<std::string> kOptions = {"weight", "label_smoothing", "delta",
                                                    "pos_weight", "ignore_index", "reduction"};
  reject_unknown_fields(objective.options, "objective", kOptions);
  for (const auto& item : objective.options.items()) {
    const std::string field = "objective." + item.key();
    if (item.key() == "weight" || item.key() == "pos_weight") {
      if (!item.value().is_array() || item.value().empty())
        throw SpecError(field, "must be a non-empty list of numbers");
      for (const auto& w : item.value())
        if (!w.is_number()) throw SpecError(field, "must be a non-empty list of numbers");
    } else if (item.key() == "reduction") {
      read_choice(item.value(), field, {"mean"});
    } else if (item.key() == "ignore_index") {
      read_int(item.value(), field, -1000000);
    } else if (!item.value().is_number()) {
      throw SpecError(field, "must be a number");
    }
  }
  if (objective.options.contains("label_smoothing") && objective.name != "cross_entropy")
    throw SpecError("objective.label_smoothing", "applies to cross_entropy only");
  if (objective.options.contains("delta") && objective.name != "huber")
    throw SpecError("objective.delta", "applies to huber only");
  if (objective.options.contains("pos_weight") && objective.name != "bce_with_logits")
    throw SpecError("objective.pos_weight", "applies to bce_with_logits only");
  if (objective.options.contains("weight") && !objective.wants_class_index())
    throw SpecError("objective.weight", "applies to cross_entropy and nll only");
  if (objective.options.contains("ignore_index") && !objective.wants_class_index())
    throw SpecError("objective.ignore_index", "applies to cross_entropy and nll only");
  return objective;
}

LoaderSpec read_loader(const json& value) {
  require_object(value, "loader_kwargs");
  reject_unknown_fields(value, "loader_kwargs", {"batch_size", "shuffle", "drop_last", "seed"});
  LoaderSpec loader;
  if (value.contains("batch_size")) loader.batch_size = read_int(value["batch_size"], "loader_kwargs.batch_size", 1);
  if (value.contains("shuffle")) loader.shuffle = read_bool(value["shuffle"], "loader_kwargs.shuffle");
  if (value.contains("drop_last")) loader.drop_last = read_bool(value["drop_last"], "loader_kwargs.drop_last");
  if (value.contains("seed")) loader.seed = static_cast<uint64_t>(read_int(value["seed"], "loader_kwargs.seed", 0));
  return loader;
}

const std::vector<std::string>& optimizer_options(const std::string& cls) {
  static const std::vector<std::string> adam = {"lr", "betas", "eps", "weight_decay", "amsgrad"};
  static const std::vector<std::string> sgd = {"lr", "momentum", "dampening", "weight_decay", "nesterov"};
  static const std::vector<std::string> rmsprop = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered"};
  static const std::vector<std::string> adagrad = {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"};
  if (cls == "SGD") return sgd;
  if (cls == "RMSprop") return rmsprop;
  if (cls == "Adagrad") return adagrad;
  return adam;  // Adam and AdamW share their options
}

void check_optimizer_kwargs(const OptimizerSpec& optimizer) {
  const auto& options = optimizer_options(optimizer.cls);
  for (const auto& item : optimizer.kwargs.items())
    if (std::find(options.begin(), options.end(), item.key()) == options.end())
      throw SpecError("optimizer_kwargs." + item.key(), "is not an option of " + optimizer.cls + " (its options: " +
                                                            join(options) + ")");
  for (const auto& item : optimizer.kwargs.items()) {
    const std::string field = "optimizer_kwargs." + item.key();
    const json& v = item.value();
    if (item.key() == "betas") {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
        throw SpecError(field, "must be a list of two numbers");
    } else if (item.key() == "amsgrad" || item.key() == "nesterov" || item.key() == "centered") {
      read_bool(v, field);
    } else if (!v.is_number() || v.get<double>() < 0) {
      throw SpecError(field, "must be a non-negative number");
    }
  }
  if (optimizer.cls == "SGD" && !optimizer.kwargs.contains("lr"))
    throw SpecError("optimizer_kwargs.lr", "is required for SGD");
}

ComputeSpec read_compute(const json& value) {
  require_object(value, "compute_kwargs");
  reject_unknown_fields(value, "compute_kwargs",
                        {"threads", "seed", "deterministic", "device", "memory_limit", "workers", "timeout", "servers"});
  ComputeSpec compute;
  if (value.contains("threads")) {
    int64_t threads = read_int(value["threads"], "compute_kwargs.threads", 1);
    if (threads > kMaxThreads)
      throw SpecError("compute_kwargs.threads", "must be at most " + std::to_string(kMaxThreads));
    compute.threads = static_cast<int>(threads);
  }
  if (value.contains("seed")) compute.seed = static_cast<uint64_t>(read_int(value["seed"], "compute_kwargs.seed", 0));
  if (value.contains("deterministic")) compute.deterministic = read_bool(value["deterministic"], "compute_kwargs.deterministic");
  if (value.contains("device")) compute.device = read_choice(value["device"], "compute_kwargs.device", {"cpu", "cuda"});
  if (value.contains("memory_limit")) compute.memory_limit = read_int(value["memory_limit"], "compute_kwargs.memory_limit", 1);
  if (value.contains("workers")) {
    int64_t workers = read_int(value["workers"], "compute_kwargs.workers", 1);
    if (workers > kMaxWorkers)
      throw SpecError("compute_kwargs.workers", "must be at most " + std::to_string(kMaxWorkers));
    compute.workers = static_cast<int>(workers);
  }
  if (value.contains("timeout")) {
    int64_t timeout = read_int(value["timeout"], "compute_kwargs.timeout", 1);
    if (timeout > kMaxTimeout)
      throw SpecError("compute_kwargs.timeout", "must be at most " + std::to_string(kMaxTimeout) + " seconds");
    compute.timeout = static_cast<int>(timeout);
  }
  if (value.contains("servers")) {
    const json& servers = value["servers"];
    if (!servers.is_array() || servers.empty())
      throw SpecError("compute_kwargs.servers", "must be a non-empty list of foreign server names");
    for (const auto& server : servers) {
      std::string name = read_string(server, "compute_kwargs.servers");
      if (name.empty() || name.size() > kMaxServerName)
        throw SpecError("compute_kwargs.servers", "a server name must be 1 to " + std::to_string(kMaxServerName) + " bytes");
      if (std::find(compute.servers.begin(), compute.servers.end(), name) != compute.servers.end())
        throw SpecError("compute_kwargs.servers", "names server \"" + name + "\" twice");
      compute.servers.push_back(name);
    }
    if (compute.world() > kMaxWorkers)
      throw SpecError("compute_kwargs.servers", "workers x (1 + servers) ranks must be at most " + std::to_string(kMaxWorkers));
  }
  return compute;
}

ValidationSpec read_validation(const json& value) {
  require_object(value, "validation");
  reject_unknown_fields(value, "validation", {"select", "split", "metrics"});
  ValidationSpec validation;
  validation.present = true;
  bool has_select = value.contains("select"), has_split = value.contains("split");
  if (has_select == has_split) throw SpecError("validation", "needs exactly one of \"select\" or \"split\"");
  if (has_select) validation.select = read_string(value["select"], "validation.select");
  if (has_split) {
    const json& split = value["split"];
    if (!split.is_number() || split.get<double>() <= 0 || split.get<double>() >= 1)
      throw SpecError("validation.split", "must be a number between 0 and 1 (exclusive)");
    validation.split = split.get<double>();
  }
  if (value.contains("metrics")) {
    const json& metrics = value["metrics"];
    if (!metrics.is_array()) throw SpecError("validation.metrics", "must be a list of metric names");
    for (size_t i = 0; i < metrics.size(); ++i)
      validation.metrics.push_back(read_choice(metrics[i], "validation.metrics[" + std::to_string(i) + "]", known_metrics()));
  }
  return validation;
}

// collate_fn "pad": input arrays of any length, right-padded with zeros to the longest
// training row, their lengths passed along. Steps that need a fixed width per row cannot
// apply to them.
void check_padding(const TrainSpec& spec) {
  if (spec.collate_fn != "pad") return;
  if (!spec.in_memory)
    throw SpecError("collate_fn", "\"pad\" pads to the longest row of the whole select, so it needs \"in_memory\": true");
  if (spec.signature == "singleton")
    throw SpecError("collate_fn", "\"pad\" passes each input's lengths as another argument, which \"singleton\" does not take");
  if (spec.torchscript.empty() && spec.key.inputs.size() != 1)
    throw SpecError("collate_fn", "\"pad\" with a layer list takes one input column (its lengths drive LSTM and GRU); "
                                  "several padded inputs need a TorchScript model");
  for (const auto& column : spec.transform.items())
    for (size_t i = 0; i < column.value().size(); ++i) {
      const json& step = column.value()[i];
      std::string name = step.is_string() ? step.get<std::string>() : step.begin().key();
      if (name != "scale" && name != "shift" && name != "cast")
        throw SpecError("transform." + column.key() + "[" + std::to_string(i) + "]",
                        name + " needs the same values per row; padded inputs take scale, shift and cast");
    }
}

// What rows on several servers cannot do; each refusal names its field.
void check_servers(const TrainSpec& spec) {
  if (spec.compute.servers.empty()) return;
  const std::string why = " with compute_kwargs.servers: ";
  if (spec.download)
    throw SpecError("download", "is not available" + why + "the rows stay on their servers, so no server holds a snapshot of them all");
  if (!spec.in_memory)
    throw SpecError("in_memory", "false is not available" + why + "each rank holds its own server's rows in memory");
  if (!spec.validation.select.empty())
    throw SpecError("validation.select", "is not available" + why + "use validation.split, drawn over every server's rows");
  if (spec.collate_fn == "pad")
    throw SpecError("collate_fn", "\"pad\" is not available" + why + "each server's longest row differs");
  if (!spec.torchscript.empty())
    throw SpecError("model.torchscript", "is not available" + why + "an imported module lives in this server's catalog only; use a layer list");
}

ResumeSpec read_resume(const json& root) {
  ResumeSpec resume;
  bool has_state = root.contains("optimizer_state") && !root["optimizer_state"].is_null();
  bool has_init = root.contains("init_from") && !root["init_from"].is_null();
  if (has_state && has_init)
    throw SpecError("init_from", "is the short form of optimizer_state; give one of them, not both");
  if (has_init) {
    resume.from = ResumeSpec::From::model;
    resume.model = read_string(root["init_from"], "init_from");
  } else if (has_state) {
    const json& state = root["optimizer_state"];
    if (state.is_string() && state.get<std::string>() == "latest") {
      resume.from = ResumeSpec::From::latest;
    } else if (state.is_number_integer() && state.get<int64_t>() > 0) {
      resume.from = ResumeSpec::From::run;
      resume.run_id = state.get<int64_t>();
    } else {
      throw SpecError("optimizer_state", "must be \"latest\" or a run id");
    }
  }
  return resume;
}

void check_metrics_fit_objective(const TrainSpec& spec) {
  static const std::vector<std::string> class_metrics = {"accuracy", "precision", "recall", "f1"};
  for (size_t i = 0; i < spec.validation.metrics.size(); ++i) {
    const std::string& m = spec.validation.metrics[i];
    bool wants_classes = std::find(class_metrics.begin(), class_metrics.end(), m) != class_metrics.end();
    if (wants_classes && !spec.objective.is_classification())
      throw SpecError("validation.metrics[" + std::to_string(i) + "]",
                      "\"" + m + "\" needs a classification objective (cross_entropy, nll, bce_with_logits)");
    if (!wants_classes && spec.objective.wants_class_index())
      throw SpecError("validation.metrics[" + std::to_string(i) + "]",
                      "\"" + m + "\" needs a regression target, but " + spec.objective.name + " predicts classes");
  }
}

void check_listen(const TrainSpec& spec) {
  if (spec.listen == "objective" || spec.listen == "train_objective") return;
  const auto& metrics = spec.validation.metrics;
  if (std::find(metrics.begin(), metrics.end(), spec.listen) == metrics.end())
    throw SpecError("listen", "\"" + spec.listen + "\" is not \"objective\" and not among validation.metrics");
}

}  // namespace

std::vector<std::string> KeySpec::columns() const {
  std::vector<std::string> all = inputs;
  if (has_target()) all.push_back(target);
  return all;
}

const std::vector<std::string>& known_metrics() {
  static const std::vector<std::string> names = {"accuracy", "precision", "recall", "f1",
                                                 "mse", "rmse", "mae", "r2"};
  return names;
}

bool metric_higher_is_better(const std::string& name) {
  return name == "accuracy" || name == "precision" || name == "recall" || name == "f1" || name == "r2";
}

bool TrainSpec::listen_higher_is_better() const { return metric_higher_is_better(listen); }

std::string closest_name(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const auto& candidate : known) {
    size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

TrainSpec parse_spec(const std::string& text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw SpecError("(spec)", std::string("is not valid JSON: ") + e.what());
  }
  require_object(root, "(spec)");
  reject_unknown_fields(root, "", kTopLevelFields);
  for (const auto& field : kOutputFields)
    if (root.contains(field)) throw SpecError(field, "is set by pinnacle_train, not given in the spec");

  for (const char* required : {"identifier", "select", "key", "model", "objective"})
    if (!root.contains(required)) throw SpecError(required, "is required");

  TrainSpec spec;
  spec.identifier = read_string(root["identifier"], "identifier");
  if (spec.identifier.size() > kMaxIdentifierLength)
    throw SpecError("identifier", "must be at most " + std::to_string(kMaxIdentifierLength) + " bytes long");
  if (spec.identifier.find('@') != std::string::npos)
    throw SpecError("identifier", "must not contain '@' (it separates the version)");
  spec.select = read_string(root["select"], "select");
  spec.key = read_key(root["key"]);
  spec.layers = read_layers(root["model"]);
  if (spec.layers.is_null()) spec.torchscript = read_string(root["model"]["torchscript"], "model.torchscript");
  spec.objective = read_objective(root["objective"]);
  if (root.contains("signature")) spec.signature = read_choice(root["signature"], "signature", kSignatures);
  if (root.contains("collate_fn")) spec.collate_fn = read_choice(root["collate_fn"], "collate_fn", {"stack", "pad"});
  if (root.contains("loader_kwargs")) spec.loader = read_loader(root["loader_kwargs"]);
  if (root.contains("optimizer_cls")) spec.optimizer.cls = read_choice(root["optimizer_cls"], "optimizer_cls", kOptimizers);
  if (root.contains("optimizer_kwargs")) spec.optimizer.kwargs = require_object(root["optimizer_kwargs"], "optimizer_kwargs");
  check_optimizer_kwargs(spec.optimizer);
  if (root.contains("max_iterations")) spec.max_iterations = read_int(root["max_iterations"], "max_iterations", 1);
  if (root.contains("validation_interval"))
    spec.validation_interval = read_int(root["validation_interval"], "validation_interval", 1);
  if (root.contains("no_improve_then_stop"))
    spec.no_improve_then_stop = read_int(root["no_improve_then_stop"], "no_improve_then_stop", 1);
  if (root.contains("in_memory")) spec.in_memory = read_bool(root["in_memory"], "in_memory");
  if (root.contains("data_prefetch")) spec.data_prefetch = read_bool(root["data_prefetch"], "data_prefetch");
  if (root.contains("prefetch_size")) spec.prefetch_size = read_int(root["prefetch_size"], "prefetch_size", 1);
  if (root.contains("prefetch_factor")) spec.prefetch_factor = read_int(root["prefetch_factor"], "prefetch_factor", 1);
  for (const char* field : {"data_prefetch", "prefetch_size", "prefetch_factor"})
    if (root.contains(field) && spec.in_memory)
      throw SpecError(field, "applies to streamed rows (\"in_memory\": false); in-memory rows need no prefetching");
  if (root.contains("download")) spec.download = read_bool(root["download"], "download");
  // "deploy" is applied by the catalog when the version is recorded (pinnacle.models' trigger)
  if (root.contains("deploy")) read_choice(root["deploy"], "deploy", {"always", "if_better", "manual"});
  if (root.contains("compute_kwargs")) spec.compute = read_compute(root["compute_kwargs"]);
  if (root.contains("validation")) spec.validation = read_validation(root["validation"]);
  if (root.contains("listen")) spec.listen = read_string(root["listen"], "listen");
  spec.resume = read_resume(root);
  if (root.contains("transform")) {
    spec.transform = root["transform"];
    read_transform_steps(spec.transform, spec.key.columns(), spec.key.inputs.size());  // checks every step
  }

  // Combinations this build can run; each refusal says why instead of ignoring the field.
  if ((spec.signature == "**kwargs" || spec.signature == "*args,**kwargs") && spec.torchscript.empty())
    throw SpecError("signature", "\"" + spec.signature + "\" passes inputs by name, which needs a TorchScript model");
  if (spec.signature == "singleton" && spec.key.inputs.size() != 1)
    throw SpecError("signature", "\"singleton\" takes exactly one input column, the key names " +
                                     std::to_string(spec.key.inputs.size()));
  check_padding(spec);
  check_servers(spec);
  if (spec.compute.device == "cuda") throw SpecError("compute_kwargs.device", "this build has no CUDA support; use \"cpu\"");
  if (!spec.key.has_target() && spec.objective.wants_class_index())
    throw SpecError("key", spec.objective.name + " needs a target column: use [input, target]");
  check_metrics_fit_objective(spec);
  check_listen(spec);
  return spec;
}

}  // namespace pinnacle
