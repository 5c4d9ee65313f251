// pinnacle_report: an SVG chart of a run's metric history, one panel for the training and
// validation losses and one per other metric, the best iteration marked in each.
#pragma once

#include <cstdint>
#include <string>

#include "spec.hpp"

namespace pinnacle {

// `history` is runs.metric_values: {"iteration": [...], "objective": [...], ...}.
std::string render_report(const json& history, int64_t best_iteration, const std::string& title);

// A search's chart: one panel with every trial's `listen` curve, the best trial's drawn
// thick and marked. `trials` is [{"label": ..., "best": bool, "iteration": [...],
// "values": [...]}, ...] (a trial that never validated has empty lists).
std::string render_search_report(const json& trials, const std::string& listen, const std::string& title);

}  // namespace pinnacle
