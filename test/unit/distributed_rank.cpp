// One rank of a data-parallel run, as a process of its own (as trainers are): trains a spec
// on generated rows and writes what the test compares as JSON. Used by distributed_test.cpp.
//   distributed_rank <spec json> <rows> <world> <rank> <store file> <output file> [mode]
// mode "all" (the default): every rank is given every row, as the ranks of one server are.
// "own": rank r is given only the rows i with i mod world == r, as ranks on several servers
// hold their own (their dense interleave is the rows' order); "tcp": the same through a
// TCPStore that rank 0 serves on a port the kernel picks (written to <store file>.port for
// the others). "blocks:a/b/c": rank r is given the r-th block of consecutive rows, of the
// sizes listed; a run of one rank is given all the rows in those blocks' dense interleave.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "trainer.hpp"

using namespace pinnacle;

namespace {

// Two inputs and a target: y = 3*x1 - 2*x2 + 1, and a class (y > 1) for classifiers.
Dataset rows(const std::vector<int>& which, const TrainSpec& spec) {
  bool class_target = spec.objective.wants_class_index();
  Dataset data({"x1", "x2", "y"}, 0);
  if (!spec.in_memory) data.spill(spec.prefetch_size);
  for (int i : which) {
    float x1 = static_cast<float>((i * 37) % 101) / 50.f - 1.f;
    float x2 = static_cast<float>((i * 53) % 97) / 48.f - 1.f;
    float y = 3 * x1 - 2 * x2 + 1;
    data.append_row({{x1}, {x2}, {class_target ? static_cast<float>(y > 1) : y}});
  }
  return data;
}

std::vector<int> split_blocks(const std::string& list) {
  std::vector<int> sizes;
  std::stringstream in(list);
  std::string part;
  while (std::getline(in, part, '/')) sizes.push_back(std::stoi(part));
  return sizes;
}

// The rows this rank is given (see the modes above).
std::vector<int> rows_of(const std::string& mode, int n, int world, int rank) {
  std::vector<int> which;
  if (mode == "all" || (world == 1 && mode.rfind("blocks:", 0) != 0)) {
    for (int i = 0; i < n; ++i) which.push_back(i);
  } else if (mode == "own" || mode == "tcp") {
    for (int i = rank; i < n; i += world) which.push_back(i);
  } else {
    std::vector<int> sizes = split_blocks(mode.substr(7));
    std::vector<int> first(sizes.size(), 0);
    for (size_t b = 1; b < sizes.size(); ++b) first[b] = first[b - 1] + sizes[b - 1];
    if (world > 1) {
      for (int j = 0; j < sizes[rank]; ++j) which.push_back(first[rank] + j);
    } else {  // the dense interleave: round j takes the j-th row of every block that has one
      for (int j = 0;; ++j) {
        bool any = false;
        for (size_t b = 0; b < sizes.size(); ++b)
          if (j < sizes[b]) {
            which.push_back(first[b] + j);
            any = true;
          }
        if (!any) break;
      }
    }
  }
  return which;
}

// The impostor of mode "impostor": in the group, answering rank 0's first collective.
int impostor(const std::string& store_path) {
  auto store = c10::make_intrusive<c10d::PrefixStore>(
      "test", c10::make_intrusive<c10d::FileStore>(store_path, 2));
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  c10d::ProcessGroupGloo group(store, 1, 2, options);
  std::vector<at::Tensor> input = {torch::zeros({16}, torch::kUInt8)};
  std::vector<std::vector<at::Tensor>> output = {{torch::empty({16}, torch::kUInt8), torch::empty({16}, torch::kUInt8)}};
  group.allgather(output, input)->wait();
  return 0;
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
  if (argc != 7 && argc != 8) {
    std::cerr << "usage: distributed_rank <spec> <rows> <world> <rank> <store file> <output> [mode]\n";
    return 2;
  }
  std::string mode = argc == 8 ? argv[7] : "all";
  try {
    TrainSpec spec = parse_spec(argv[1]);
    int world = std::stoi(argv[3]);
    std::unique_ptr<Collective> collective;
    int rank_number = std::stoi(argv[4]);
    if (mode == "impostor" && rank_number == 1) return impostor(argv[5]);
    if (world > 1) {
      RankSpec rank;
      rank.rank = rank_number;
      rank.world = world;
      rank.store_path = argv[5];
      rank.run_key = "test";
      rank.timeout = std::chrono::seconds(30);
      rank.local_rows = mode != "all";
      std::string port_file = std::string(argv[5]) + ".port";
      if (mode == "tcp") {
        rank.store_host = "127.0.0.1";
        if (rank_number > 0) {  // rank 0's port, once it wrote it
          for (int tries = 0; tries < 300 && !std::ifstream(port_file); ++tries)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          std::ifstream(port_file) >> rank.store_port;
        }
      }
      Rendezvous rendezvous(rank);
      if (mode == "tcp" && rank_number == 0) {
        std::ofstream(port_file + ".tmp") << rendezvous.port();
        std::rename((port_file + ".tmp").c_str(), port_file.c_str());
      }
      collective = std::make_unique<Collective>(rendezvous);
    }
    Trainer trainer(spec, rows(rows_of(mode, std::stoi(argv[2]), world, rank_number), spec),
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
