// A hyperparameter search's plan (DESIGN.md section 11): the trials a search runs, each a
// spec that differs from the base spec at the search's paths. Pure JSON work, no torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pinnacle {

using json = nlohmann::json;

struct SearchTrial {
  json params;  // path -> value, as the trial's spec has them
  json spec;    // the base spec with every param applied, checked by parse_spec
};

struct SearchPlan {
  std::string method;            // grid, random or halving
  std::vector<int64_t> rungs;    // halving: the numbers of validations at which trials are ranked
  std::vector<SearchTrial> trials;
};

// Expands `search` over `spec` and checks every trial's spec. Throws SpecError whose field
// names the search field, or the path and the value that made a trial's spec invalid.
SearchPlan plan_search(const json& spec, const json& search);

// The plan as JSON text, for the C interface: {"method", "rungs", "listen", "higher_is_better",
// "trials": [{"params", "spec"}]}. The first trial's spec has "download": true, the others
// false: the search's rows are kept once, in the snapshot tables of the first trial's run.
// Every trial has "deploy": "manual": the search deploys its best trial by the spec's policy.
std::string plan_search_text(const std::string& spec, const std::string& search);

// Sets `value` at the dotted `path` of `spec`: a missing object on the way is created, a
// number indexes an existing array element. Throws SpecError naming the path.
void set_path(json& spec, const std::string& path, const json& value);

}  // namespace pinnacle
