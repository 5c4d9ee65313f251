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
