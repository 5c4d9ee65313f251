// Data-parallel training on torch.distributed's own engine: a c10d FileStore for the
// rendezvous, wrapped in a PrefixStore per run, and a ProcessGroupGloo for the collectives.
// Every rank runs the same steps; what they exchange is gradients, a loss, and validation
// outputs, never rows.
//
// Why a FileStore and not a TCPStore: libtorch 1.13's TCPStore server listens on every
// interface, whatever address it is given, and answers anyone; one byte sent to it and held
// blocks its only thread, so anyone who can reach the host could stop a run (found by an
// adversarial test). The ranks of a run on one server share a file in a directory only the
// server's OS user can open instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/torch.h>

namespace pinnacle {

// One rank's place in a run.
struct RankSpec {
  int rank = 0;
  int world = 1;
  std::string store_path;              // the run's store file, in a directory private to the server
  std::string run_key;                 // the PrefixStore prefix: one run's keys never meet another's
  std::chrono::seconds timeout{60};    // how long the rendezvous and a collective wait for the others
};

// The run's store, which every rank opens; a rank's process group is built on it.
class Rendezvous {
 public:
  explicit Rendezvous(RankSpec rank);
  const RankSpec& rank() const { return rank_; }
  const c10::intrusive_ptr<c10d::Store>& store() const { return store_; }

 private:
  RankSpec rank_;
  c10::intrusive_ptr<c10d::Store> store_;
};

// A failure of the group (a rank died, or did not answer within the timeout): the run is
// interrupted, not failed, since any rank may be at fault.
class PeerLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Collective {
 public:
  // Joins the group; returns once every rank has.
  explicit Collective(const Rendezvous& rendezvous);

  int rank() const { return rank_; }
  int world() const { return world_; }

  // Rank 0's values into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Sums float tensors over the ranks, in place, in buckets of at most kBucketBytes; the
  // buckets are in flight together.
  void sum(const std::vector<torch::Tensor>& tensors);
  // Every rank's count, by rank.
  std::vector<int64_t> gather_counts(int64_t count);
  // Every rank's rows, interleaved as rank r's row j was row j * world + r of one set:
  // (sum of counts x ...) in the order of that set. `counts` from gather_counts.
  torch::Tensor gather_interleaved(const torch::Tensor& local, const std::vector<int64_t>& counts);

  // Time spent waiting in sum() and the bytes it reduced, both since the start.
  double sum_seconds() const { return sum_seconds_; }
  int64_t sum_bytes() const { return sum_bytes_; }

  static constexpr int64_t kBucketBytes = 4 << 20;

 private:
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what);

  int rank_;
  int world_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  double sum_seconds_ = 0;
  int64_t sum_bytes_ = 0;
};

}  // namespace pinnacle
