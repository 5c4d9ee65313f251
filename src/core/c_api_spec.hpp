// PtSpec, the parsed spec behind the C interface: made by pinnacle_train.so
// (c_api_spec.cpp) and read by the torch core too (c_api.cpp), which builds its models.
#pragma once

#include <string>
#include <vector>

#include "spec.hpp"

struct PtSpec {
  pinnacle::TrainSpec spec;
  std::string text;
  std::vector<std::string> columns;
};
