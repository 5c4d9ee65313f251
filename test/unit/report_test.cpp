#include <gtest/gtest.h>

#include "report.hpp"

using namespace pinnacle;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Report, OnePanelForLossesAndOnePerMetric) {
  json history = json::parse(R"({"iteration": [10, 20, 30], "objective": [0.9, 0.5, 0.6],
                                 "train_objective": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.8, 0.7]})");
  std::string svg = render_report(history, 20, "run 7 <m>");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 3u);            // three curves
  EXPECT_EQ(count(svg, "class=\"best\""), 2u);       // the best step marked in both panels
  EXPECT_NE(svg.find("best: step 20"), std::string::npos);
  EXPECT_NE(svg.find("run 7 &lt;m&gt;"), std::string::npos);  // the title is escaped
  EXPECT_NE(svg.find("validation objective"), std::string::npos);
}

TEST(Report, EmptyHistoryStillRenders) {
  std::string svg = render_report(json::object(), 0, "run 1");
  EXPECT_NE(svg.find("no validation yet"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 0u);
}

TEST(Report, ASearchDrawsEveryTrialAndMarksTheBest) {
  json trials = json::parse(R"([
      {"label": "run 3: lr = 0.1", "best": false, "iteration": [10, 20], "values": [0.9, 0.7]},
      {"label": "run 4: lr = 0.01", "best": true, "iteration": [10, 20, 30], "values": [0.8, 0.4, 0.3]},
      {"label": "run 5: lr = 1 <never validated>", "best": false, "iteration": [], "values": []}])");
  std::string svg = render_search_report(trials, "objective", "search 2 of \"m\"");
  EXPECT_EQ(count(svg, "<polyline"), 3u);
  EXPECT_EQ(count(svg, "class=\"best\""), 1u);
  EXPECT_NE(svg.find("best: run 4: lr = 0.01"), std::string::npos);
  EXPECT_NE(svg.find("&lt;never validated&gt;"), std::string::npos);
  EXPECT_NE(svg.find("validation objective"), std::string::npos);
}
