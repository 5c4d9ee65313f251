// Data-parallel training on torch.distributed's own engine: a c10d FileStore for the
// rendezvous, wrapped in a PrefixStore per run, and a ProcessGroupGloo for the collectives.
// Every rank runs the same steps; what they exchange is gradients, a loss, and validation
// outputs, never rows.
//
// Why a FileStore and not a TCPStore on one server: libtorch 1.13's TCPStore server listens on
// every interface, whatever address it is given, and answers anyone; one byte sent to it and
// held blocks its only thread, so anyone who can reach the host could stop a run (found by an
// adversarial test). The ranks of a run on one server share a file in a directory only the
// server's OS user can open instead. A run across servers (compute_kwargs.servers) has no
// file all its ranks can open: it takes a TCPStore on the calling server (rank 0 serves it,
// on a port the kernel picks), its keys under an unguessable per-run prefix; the README says
// that port must be reachable by the run's servers only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
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
  // Across servers: a TCPStore at store_host:store_port instead of the file (rank 0 serves it,
  // on a port the kernel picks when store_port is 0), and this rank's Gloo connections on
  // gloo_address, an address of this host the other servers reach.
  std::string store_host;              // empty: the FileStore at store_path
  int store_port = 0;
  std::string gloo_address = "127.0.0.1";
  // Each rank holds only its own rows (rows on several servers), not every row: the set's
  // order is the dense interleave of the ranks' rows, and the validation split and the
  // transform's statistics are reduced over the ranks (see Trainer::prepare_local_rows).
  bool local_rows = false;
};

// The run's store, which every rank opens; a rank's process group is built on it.
class Rendezvous {
 public:
  explicit Rendezvous(RankSpec rank);
  const RankSpec& rank() const { return rank_; }
  const c10::intrusive_ptr<c10d::Store>& store() const { return store_; }
  // The port rank 0's TCPStore listens on (0 for a FileStore).
  int port() const;

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
  bool local_rows() const { return local_rows_; }

  // Rank 0's values into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Sums float tensors over the ranks, in place, in buckets of at most kBucketBytes; the
  // buckets are in flight together.
  void sum(const std::vector<torch::Tensor>& tensors);
  // Every rank's count, by rank.
  std::vector<int64_t> gather_counts(int64_t count);
  // The elementwise minimum or maximum over the ranks, in place.
  void minimum(const torch::Tensor& tensor);
  void maximum(const torch::Tensor& tensor);
  // Every rank's rows one after another, rank 0's first (rank r's count is counts[r]).
  torch::Tensor gather_concatenated(const torch::Tensor& local, const std::vector<int64_t>& counts);
  // Rank 0's bytes on every rank.
  std::string broadcast_bytes(const std::string& bytes);
  // Every rank's rows, interleaved as rank r's row j was row j * world + r of one set:
  // (sum of counts x ...) in the order of that set. `counts` from gather_counts.
  torch::Tensor gather_interleaved(const torch::Tensor& local, const std::vector<int64_t>& counts);

  // Time spent waiting in sum() and the bytes it reduced, both since the start.
  double sum_seconds() const { return sum_seconds_; }
  int64_t sum_bytes() const { return sum_bytes_; }

  static constexpr int64_t kBucketBytes = 4 << 20;

 private:
  static constexpr int64_t kNonceBytes = 16;
  // Every other end of this rank's connections is a rank of the run (see distributed.cpp).
  void verify_peers(c10d::Store& store);
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what);
  // Every rank's `local` rows, each padded with zeros to `rows` (allgather needs one shape);
  // `what` names the gathering in the error when a rank is lost.
  std::vector<torch::Tensor> allgather_padded(const torch::Tensor& local, int64_t rows, const char* what);

  int rank_;
  int world_;
  bool local_rows_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  double sum_seconds_ = 0;
  int64_t sum_bytes_ = 0;
};

}  // namespace pinnacle
