// One rank of a data-parallel run, as a process of its own (as trainers are): trains a spec
// on generated rows and writes what the test compares as JSON. Used by distributed_test.cpp.
//   distributed_rank <spec json> <rows> <world> <rank> <store file> <output file>
#include <fstream>
#include <iostream>

#include "trainer.hpp"

using namespace pinnacle;

namespace {

// Two inputs and a target: y = 3*x1 - 2*x2 + 1, and a class (y > 1) for classifiers.
Dataset rows(int n, const TrainSpec& spec) {
  bool class_target = spec.objective.wants_class_index();
  Dataset data({"x1", "x2", "y"}, 0);
  if (!spec.in_memory) data.spill(spec.prefetch_size);
  for (int i = 0; i < n; ++i) {
    float x1 = static_cast<float>((i * 37) % 101) / 50.f - 1.f;
    float x2 = static_cast<float>((i * 53) % 97) / 48.f - 1.f;
    float y = 3 * x1 - 2 * x2 + 1;
    data.append_row({{x1}, {x2}, {class_target ? static_cast<float>(y > 1) : y}});
  }
  return data;
}

json parameters(Trainer& trainer, const TrainSpec& spec) {
  Network network = Network::from_layers(spec.layers, 2, {});
  network.load(trainer.weights());
  json values = json::array();
  for (const torch::Tensor& p : network.parameters()) {
    torch::Tensor flat = p.detach().reshape({-1}).contiguous();
    for (int64_t i = 0; i < flat.numel(); ++i) values.push_back(flat[i].item<double>());
  }
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: distributed_rank <spec> <rows> <world> <rank> <store file> <output>\n";
    return 2;
  }
  try {
    TrainSpec spec = parse_spec(argv[1]);
    int world = std::stoi(argv[3]);
    std::unique_ptr<Collective> collective;
    if (world > 1) {
      RankSpec rank{std::stoi(argv[4]), world, argv[5], "test", std::chrono::seconds(30)};
      collective = std::make_unique<Collective>(Rendezvous(rank));
    }
    Trainer trainer(spec, rows(std::stoi(argv[2]), spec),
                    Dataset({"x1", "x2", "y"}, 0), "", std::move(collective));
    while (trainer.advance() != Trainer::Event::Finished) {
    }
    json out = {{"iteration", trainer.iteration()},     {"history", trainer.history()},
                {"transform", trainer.fitted_transform()}, {"train_rows", trainer.train_rows()},
                {"validation_rows", trainer.validation_rows()}, {"samples_seen", trainer.samples_seen()},
                {"parameters", parameters(trainer, spec)}};
    std::ofstream(argv[6]) << out.dump();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rank " << argv[4] << ": " << e.what() << "\n";
    return 1;
  }
}
