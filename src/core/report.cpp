#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace pinnacle {

namespace {

constexpr double kWidth = 760, kPanelHeight = 220;
constexpr double kLeft = 70, kRight = 20, kTop = 34, kBottom = 36;
const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"};

struct Series {
  std::string name;
  std::vector<double> values;
};

struct Range {
  double low, high;
  double at(double v, double from, double to) const {
    return high > low ? from + (v - low) / (high - low) * (to - from) : (from + to) / 2;
  }
};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double v) {
  std::ostringstream out;
  out.precision(4);
  out << v;
  return out.str();
}

Range value_range(const std::vector<Series>& series) {
  double low = INFINITY, high = -INFINITY;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  if (!std::isfinite(low)) return {0, 1};
  double pad = (high - low) * 0.05;
  return {low - pad, high + pad};
}

// The losses share a panel; every other metric has its own scale.
std::vector<std::vector<Series>> panels_of(const json& history) {
  std::vector<Series> losses;
  std::vector<std::vector<Series>> panels;
  for (const auto& item : history.items()) {
    if (item.key() == "iteration" || !item.value().is_array()) continue;
    Series s{item.key(), {}};
    for (const auto& v : item.value()) s.values.push_back(v.is_number() ? v.get<double>() : NAN);
    if (item.key() == "objective" || item.key() == "train_objective")
      losses.push_back(std::move(s));
    else
      panels.push_back({std::move(s)});
  }
  std::sort(losses.begin(), losses.end(), [](const Series& a, const Series& b) { return a.name > b.name; });
  if (!losses.empty()) panels.insert(panels.begin(), losses);
  return panels;
}

void draw_axes(std::ostream& svg, double top, const Range& x, const Range& y) {
  double bottom = top + kPanelHeight - kBottom, right = kWidth - kRight;
  svg << "<rect x=\"" << kLeft << "\" y=\"" << top + kTop << "\" width=\"" << right - kLeft << "\" height=\""
      << bottom - top - kTop << "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double yv = y.low + (y.high - y.low) * i / 4, yp = y.at(yv, bottom, top + kTop);
    svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << yp + 4 << "\" text-anchor=\"end\">" << number(yv) << "</text>\n";
    double xv = x.low + (x.high - x.low) * i / 4, xp = x.at(xv, kLeft, right);
    svg << "<text x=\"" << xp << "\" y=\"" << bottom + 16 << "\" text-anchor=\"middle\">"
        << number(std::round(xv)) << "</text>\n";
  }
  svg << "<text x=\"" << (kLeft + right) / 2 << "\" y=\"" << bottom + 31 << "\" text-anchor=\"middle\">step</text>\n";
}

void draw_panel(std::ostream& svg, double top, const std::vector<Series>& series, const std::vector<double>& steps,
                int64_t best_iteration) {
  Range x{steps.empty() ? 0 : steps.front(), steps.empty() ? 1 : steps.back()};
  Range y = value_range(series);
  double bottom = top + kPanelHeight - kBottom, right = kWidth - kRight;
  draw_axes(svg, top, x, y);
  for (size_t s = 0; s < series.size(); ++s) {
    const char* color = kColors[s % 5];
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < series[s].values.size() && i < steps.size(); ++i)
      if (std::isfinite(series[s].values[i]))
        svg << x.at(steps[i], kLeft, right) << "," << y.at(series[s].values[i], bottom, top + kTop) << " ";
    svg << "\"><title>" << escape(series[s].name) << "</title></polyline>\n";
    std::string label = series[s].name == "objective" && series.size() > 1 ? "validation objective" : series[s].name;
    svg << "<text x=\"" << kLeft + 8 + 170 * s << "\" y=\"" << top + 22 << "\" fill=\"" << color
        << "\" font-weight=\"bold\">" << escape(label) << "</text>\n";
  }
  if (best_iteration > 0) {
    double bx = x.at(static_cast<double>(best_iteration), kLeft, right);
    svg << "<line class=\"best\" x1=\"" << bx << "\" x2=\"" << bx << "\" y1=\"" << top + kTop << "\" y2=\"" << bottom
        << "\" stroke=\"#d62728\" stroke-dasharray=\"5,4\"/>\n";
    svg << "<text x=\"" << bx + 4 << "\" y=\"" << top + kTop + 14 << "\" fill=\"#d62728\">best: step "
        << best_iteration << "</text>\n";
  }
}

std::string svg_start(double height, const std::string& title) {
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" << escape(title)
      << "</text>\n";
  return svg.str();
}

std::vector<double> numbers(const json& list) {
  std::vector<double> out;
  for (const auto& v : list) out.push_back(v.is_number() ? v.get<double>() : NAN);
  return out;
}

// One curve of a search's chart: the best trial thick, red and labelled on the chart.
void draw_trial(std::ostream& svg, const json& trial, size_t index, const Range& x, const Range& y, double top,
                double bottom) {
  bool best = trial.value("best", false);
  std::vector<double> steps = numbers(trial["iteration"]), values = numbers(trial["values"]);
  const char* color = best ? "#d62728" : kColors[index % 5];
  svg << "<polyline" << (best ? " class=\"best\"" : "") << " fill=\"none\" stroke=\"" << color
      << "\" stroke-width=\"" << (best ? 3 : 1.2) << "\" opacity=\"" << (best ? 1 : 0.7) << "\" points=\"";
  for (size_t i = 0; i < values.size() && i < steps.size(); ++i)
    if (std::isfinite(values[i])) svg << x.at(steps[i], kLeft, kWidth - kRight) << "," << y.at(values[i], bottom, top) << " ";
  svg << "\"><title>" << escape(trial.value("label", "")) << "</title></polyline>\n";
}

}  // namespace

std::string render_search_report(const json& trials, const std::string& listen, const std::string& title) {
  std::vector<Series> all;
  double last_step = 1;
  for (const auto& t : trials) {
    all.push_back({"", numbers(t["values"])});
    for (double s : numbers(t["iteration"])) last_step = std::max(last_step, s);
  }
  Range x{0, last_step}, y = value_range(all);
  double legend_rows = static_cast<double>(trials.size());
  std::ostringstream svg;
  double top = 40, bottom = top + kPanelHeight - kBottom;
  svg << svg_start(bottom + 60 + 16 * legend_rows, title);
  draw_axes(svg, top, x, y);
  svg << "<text x=\"" << kLeft + 8 << "\" y=\"" << top + 22 << "\" font-weight=\"bold\">validation " << escape(listen)
      << "</text>\n";
  // the others first, so the best curve is drawn on top
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].value("best", false) == (pass == 1)) draw_trial(svg, trials[i], i, x, y, top + kTop, bottom);
  for (size_t i = 0; i < trials.size(); ++i) {
    bool best = trials[i].value("best", false);
    svg << "<text x=\"" << kLeft << "\" y=\"" << bottom + 52 + 16 * i << "\" fill=\""
        << (best ? "#d62728" : kColors[i % 5]) << "\"" << (best ? " font-weight=\"bold\"" : "") << ">"
        << (best ? "best: " : "") << escape(trials[i].value("label", "")) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string render_report(const json& history, int64_t best_iteration, const std::string& title) {
  std::vector<double> steps;
  if (history.contains("iteration"))
    for (const auto& v : history["iteration"]) steps.push_back(v.get<double>());
  auto panels = panels_of(history);
  double height = 40 + kPanelHeight * std::max<size_t>(1, panels.size());

  std::ostringstream svg;
  svg << svg_start(height, title);
  if (steps.empty()) svg << "<text x=\"" << kLeft << "\" y=\"80\">no validation yet</text>\n";
  for (size_t p = 0; p < panels.size() && !steps.empty(); ++p)
    draw_panel(svg, 40 + kPanelHeight * p, panels[p], steps, best_iteration);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace pinnacle
