#include "search.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "spec.hpp"

namespace pinnacle {

namespace {

class SearchError : public std::runtime_error {
 public:
  SearchError(const std::string& field, const std::string& problem)
      : std::runtime_error("search field \"" + field + "\": " + problem) {}
};

// Fields a trial may not change: every trial must see the same rows, the same validation
// split (seeded by compute_kwargs.seed) and be ranked by the same metric, as one identifier.
const std::vector<std::string> kFixedPaths = {"identifier", "select", "key", "validation", "listen",
                                              "download", "deploy", "optimizer_state", "init_from", "compute_kwargs.seed",
                                              "metric_values", "uuid", "artifacts", "db"};

// every trial is a run, and a role's runs are bounded far below this anyway
// Every trial is a run, with a background worker, its rows and a model version: far fewer than
// this can ever run (pinnacle.max_runs_per_role), and a search's plan is built in the caller's
// backend before anything can be cancelled, so a huge grid must be refused before it is built.
constexpr int64_t kMaxTrials = 1024;

const std::vector<std::string> kSearchFields = {"method", "space", "trials", "seed", "rungs"};

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = path.find('.'); ; dot = path.find('.', start)) {
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool is_index(const std::string& part) {
  return !part.empty() && part.size() < 10 && std::all_of(part.begin(), part.end(), ::isdigit);
}

void check_path_may_vary(const std::string& path) {
  // a fixed field, a path within it, or an object that holds it (varying "compute_kwargs"
  // whole would vary its seed)
  for (const auto& fixed : kFixedPaths)
    if (path == fixed || path.rfind(fixed + ".", 0) == 0 || fixed.rfind(path + ".", 0) == 0)
      throw SearchError("space." + path,
                      "a search cannot vary \"" + fixed + "\": every trial trains on the same rows, "
                      "split and metric, as the same model");
}

// One dimension of the space: a list of values or a distribution.
struct Dimension {
  std::string path;
  std::vector<json> values;  // empty for a distribution
  std::string distribution;  // uniform, log_uniform or int_uniform
  double low = 0, high = 0;
};

Dimension read_dimension(const std::string& path, const json& entry) {
  std::string field = "space." + path;
  Dimension d{path, {}, "", 0, 0};
  check_path_may_vary(path);
  if (entry.is_array()) {
    if (entry.empty()) throw SearchError(field, "an empty list of values");
    d.values.assign(entry.begin(), entry.end());
    return d;
  }
  static const std::vector<std::string> kinds = {"uniform", "log_uniform", "int_uniform"};
  if (!entry.is_object() || entry.size() != 1 ||
      std::find(kinds.begin(), kinds.end(), entry.begin().key()) == kinds.end())
    throw SearchError(field, "expected a list of values, {\"uniform\": [a, b]}, {\"log_uniform\": [a, b]} or "
                           "{\"int_uniform\": [a, b]}");
  d.distribution = entry.begin().key();
  const json& bounds = entry.begin().value();
  if (!bounds.is_array() || bounds.size() != 2 || !bounds[0].is_number() || !bounds[1].is_number() ||
      !(bounds[0].get<double>() < bounds[1].get<double>()))
    throw SearchError(field + "." + d.distribution, "expected [a, b] with numbers a < b");
  d.low = bounds[0].get<double>();
  d.high = bounds[1].get<double>();
  if (d.distribution == "log_uniform" && d.low <= 0)
    throw SearchError(field + ".log_uniform", "the bounds must be above 0");
  if (d.distribution == "int_uniform" && (d.low != std::floor(d.low) || d.high != std::floor(d.high)))
    throw SearchError(field + ".int_uniform", "the bounds must be integers");
  // (doubles hold every integer up to 2^53, and a draw must not leave int64)
  constexpr double kLargestExactInteger = 9007199254740992.0;
  if (d.distribution == "int_uniform" && (d.low < -kLargestExactInteger || d.high > kLargestExactInteger))
    throw SearchError(field + ".int_uniform", "the bounds must be within +-2^53");
  return d;
}

int64_t read_count(const json& search, const std::string& name, int64_t least) {
  const json& v = search[name];
  if (!v.is_number_integer() || v.get<int64_t>() < least || v.get<int64_t>() > kMaxTrials)
    throw SearchError(name, "expected an integer from " + std::to_string(least) + " to " + std::to_string(kMaxTrials));
  return v.get<int64_t>();
}

// A uniform double in [0, 1) from the generator's 53 high bits: the same on every platform,
// unlike std::uniform_real_distribution.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

json sample(const Dimension& d, std::mt19937_64& rng) {
  double u = unit(rng);
  if (!d.values.empty()) return d.values[static_cast<size_t>(u * d.values.size())];
  if (d.distribution == "uniform") return d.low + u * (d.high - d.low);
  if (d.distribution == "log_uniform") return std::exp(std::log(d.low) + u * (std::log(d.high) - std::log(d.low)));
  return static_cast<int64_t>(d.low) + static_cast<int64_t>(u * (d.high - d.low + 1));
}

std::vector<json> grid(const std::vector<Dimension>& dims) {
  std::vector<json> points = {json::object()};
  int64_t size = 1;
  for (const auto& d : dims) {
    if (d.values.empty())
      throw SearchError("space." + d.path, "a grid needs a list of values, not a distribution; use "
                                                "\"method\": \"random\" with \"trials\"");
    size *= static_cast<int64_t>(d.values.size());
    if (size > kMaxTrials)
      throw SearchError("space", "the grid has more than " + std::to_string(kMaxTrials) + " trials");
  }
  for (const auto& d : dims) {
    std::vector<json> next;
    for (const auto& point : points)
      for (const auto& value : d.values) {
        json p = point;
        p[d.path] = value;
        next.push_back(std::move(p));
      }
    points = std::move(next);
  }
  return points;
}

std::vector<json> random_points(const std::vector<Dimension>& dims, int64_t trials, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<json> points;
  for (int64_t t = 0; t < trials; ++t) {
    json p = json::object();
    for (const auto& d : dims) p[d.path] = sample(d, rng);
    points.push_back(std::move(p));
  }
  return points;
}

// Halving ranks trials at 1, 2, 4, ... validations, one rung per halving, until one is left.
std::vector<int64_t> read_rungs(const json& search, size_t trials) {
  std::vector<int64_t> rungs;
  if (!search.contains("rungs")) {
    for (size_t left = trials, at = 1; left > 1; left = (left + 1) / 2, at *= 2) rungs.push_back(at);
    return rungs;
  }
  const json& r = search["rungs"];
  if (!r.is_array() || r.empty()) throw SearchError("rungs", "expected a list of numbers of validations");
  for (const auto& v : r) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || (!rungs.empty() && v.get<int64_t>() <= rungs.back()))
      throw SearchError("rungs", "expected increasing positive numbers of validations");
    rungs.push_back(v.get<int64_t>());
  }
  return rungs;
}

std::string describe(const json& params) {
  std::string out;
  for (const auto& item : params.items()) out += (out.empty() ? "" : ", ") + item.key() + " = " + item.value().dump();
  return out;
}

SearchTrial make_trial(const json& base, const json& params) {
  SearchTrial trial{params, base};
  for (const auto& item : params.items()) set_path(trial.spec, item.key(), item.value());
  try {
    parse_spec(trial.spec.dump());
  } catch (const SpecError& e) {
    throw SearchError("space", describe(params) + " makes an invalid spec: " + e.what());
  }
  return trial;
}

}  // namespace

void set_path(json& spec, const std::string& path, const json& value) {
  json* at = &spec;
  std::vector<std::string> parts = split_path(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    bool last = i + 1 == parts.size();
    if (part.empty()) throw SearchError("space." + path, "a path has no empty parts");
    if (at->is_array()) {
      if (!is_index(part) || std::stoul(part) >= at->size())
        throw SearchError("space." + path, "\"" + part + "\" is not an index of the list at this point (" +
                                                    std::to_string(at->size()) + " entries)");
      at = &(*at)[std::stoul(part)];
    } else if (at->is_object()) {
      if (!last && !at->contains(part)) (*at)[part] = json::object();
      at = &(*at)[part];
    } else {
      throw SearchError("space." + path, "the spec has no object or list at \"" + part + "\"");
    }
    if (last) *at = value;
  }
}

SearchPlan plan_search(const json& spec, const json& search) {
  if (!search.is_object()) throw std::runtime_error("the search must be a JSON object");
  for (const auto& item : search.items())
    if (std::find(kSearchFields.begin(), kSearchFields.end(), item.key()) == kSearchFields.end()) {
      std::string hint = closest_name(item.key(), kSearchFields);
      throw SearchError(item.key(), "unknown field" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
  SearchPlan plan;
  if (!search.contains("method") || !search["method"].is_string() ||
      (search["method"] != "grid" && search["method"] != "random" && search["method"] != "halving"))
    throw SearchError("method", "expected \"grid\", \"random\" or \"halving\"");
  plan.method = search["method"];
  if (!search.contains("space") || !search["space"].is_object() || search["space"].empty())
    throw SearchError("space", "expected an object of spec paths and their values");
  std::vector<Dimension> dims;
  for (const auto& item : search["space"].items()) dims.push_back(read_dimension(item.key(), item.value()));
  uint64_t seed = search.contains("seed") ? static_cast<uint64_t>(read_count(search, "seed", 0)) : 0;
  // halving starts from the grid of its lists, or samples like random when given "trials"
  bool sampled = plan.method == "random" || (plan.method == "halving" && search.contains("trials"));
  if (plan.method == "random" && !search.contains("trials")) throw SearchError("trials", "random needs a number of trials");
  if (!sampled && search.contains("trials")) throw SearchError("trials", "a grid runs every point of its space");
  std::vector<json> points = sampled ? random_points(dims, read_count(search, "trials", 1), seed) : grid(dims);
  if (plan.method == "halving") plan.rungs = read_rungs(search, points.size());
  else if (search.contains("rungs")) throw SearchError("rungs", "only \"method\": \"halving\" has rungs");
  for (const auto& point : points) plan.trials.push_back(make_trial(spec, point));
  return plan;
}

std::string plan_search_text(const std::string& spec, const std::string& search) {
  SearchPlan plan = plan_search(json::parse(spec), json::parse(search));
  TrainSpec base = parse_spec(spec);
  json out = {{"method", plan.method}, {"rungs", plan.rungs}, {"listen", base.listen},
              {"higher_is_better", base.listen_higher_is_better()}, {"trials", json::array()}};
  for (size_t i = 0; i < plan.trials.size(); ++i) {
    // the search reads its rows once, into the snapshot tables of its first trial's run
    plan.trials[i].spec["download"] = i == 0;
    // the search deploys its best trial by the spec's policy once every trial has ended
    plan.trials[i].spec["deploy"] = "manual";
    out["trials"].push_back({{"params", plan.trials[i].params}, {"spec", plan.trials[i].spec}});
  }
  return out.dump();
}

}  // namespace pinnacle
