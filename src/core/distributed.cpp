#include "distributed.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

namespace pinnacle {

namespace {

// A c10::Error's message carries a C++ backtrace, with the process's addresses: not for a
// catalog any role reads.
std::string message_of(const std::exception& e) {
  if (auto error = dynamic_cast<const c10::Error*>(&e)) return error->what_without_backtrace();
  return e.what();
}

c10::intrusive_ptr<c10d::Store> open_store(const RankSpec& rank) {
  try {
    if (!rank.store_host.empty()) {
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(rank.store_port);
      options.isServer = rank.rank == 0;
      options.numWorkers = rank.world;
      options.waitWorkers = false;  // rank 0 reports the port before the others can come
      options.timeout = rank.timeout;
      return c10::make_intrusive<c10d::TCPStore>(rank.store_host, options);
    }
    auto store = c10::make_intrusive<c10d::FileStore>(rank.store_path, rank.world);
    store->setTimeout(rank.timeout);
    return store;
  } catch (const std::exception& e) {
    throw PeerLost("could not open the run's store: " + message_of(e));
  }
}

}  // namespace

Rendezvous::Rendezvous(RankSpec rank) : rank_(std::move(rank)), store_(open_store(rank_)) {}

int Rendezvous::port() const {
  auto tcp = dynamic_cast<c10d::TCPStore*>(store_.get());
  return tcp ? tcp->getPort() : 0;
}

Collective::Collective(const Rendezvous& rendezvous)
    : rank_(rendezvous.rank().rank), world_(rendezvous.rank().world), local_rows_(rendezvous.rank().local_rows) {
  const RankSpec& spec = rendezvous.rank();
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = spec.timeout;
  // the ranks' connections to each other: on the loopback interface, or across servers on
  // the address of this host that pinnacle.rendezvous_address names
  try {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(spec.gloo_address));
  } catch (const std::exception& e) {
    throw PeerLost("could not listen for the other ranks on " + spec.gloo_address + ": " + message_of(e));
  }
  auto store = c10::make_intrusive<c10d::PrefixStore>(spec.run_key, rendezvous.store());
  try {
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank_, world_, options);
  } catch (const std::exception& e) {
    throw PeerLost("could not join the other " + std::to_string(world_ - 1) +
                   " ranks within compute_kwargs.timeout: " + message_of(e));
  }
  verify_peers(*store);
}

// Gloo's connections have no authentication: a rank's listening port takes the first process
// that connects, and any local process can find the port and race the real peer to it (found
// by an adversarial test, which then read rank 0's broadcast weights). So before anything of
// the run travels, every rank sends a random nonce of its own over its connections, and
// checks each one it receives against the sender's copy in the run's store, which only the
// run's ranks can read (a FileStore in a directory private to the server's OS user, or keys
// under an unguessable prefix). An impostor cannot send the nonce of the rank it stands for;
// what it receives is that run's nonces, worth nothing, and the run ends here.
void Collective::verify_peers(c10d::Store& store) {
  std::random_device random;
  torch::Tensor nonce = torch::empty({kNonceBytes}, torch::kUInt8);
  uint8_t* mine = nonce.data_ptr<uint8_t>();
  for (int64_t i = 0; i < kNonceBytes; ++i) mine[i] = static_cast<uint8_t>(random());
  auto key = [](int rank) { return "pinnacle_rank_nonce_" + std::to_string(rank); };
  try {
    store.set(key(rank_), std::vector<uint8_t>(mine, mine + kNonceBytes));
  } catch (const std::exception& e) {
    throw PeerLost("could not write to the run's store: " + message_of(e));
  }
  std::vector<torch::Tensor> received = allgather_padded(nonce, kNonceBytes, "the ranks' check of each other");
  for (int r = 0; r < world_; ++r) {
    if (r == rank_) continue;
    std::vector<uint8_t> expected;
    try {  // (a real rank wrote its nonce before it sent it: no wait)
      if (store.check({key(r)})) expected = store.get(key(r));
    } catch (const std::exception& e) {
      throw PeerLost("could not read the run's store: " + message_of(e));
    }
    const uint8_t* got = received[r].data_ptr<uint8_t>();
    if (expected.size() != static_cast<size_t>(kNonceBytes) || !std::equal(expected.begin(), expected.end(), got))
      throw PeerLost("a process that is not rank " + std::to_string(r) +
                     " of this run answered on that rank's connection; the run ends before anything of it is sent");
  }
}

void Collective::wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw PeerLost(std::string("lost the other ranks during ") + what +
                   " (one died, or did not answer within compute_kwargs.timeout): " + message_of(e));
  }
}

void Collective::broadcast(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& tensor : tensors) {
    std::vector<at::Tensor> one = {tensor.detach()};
    wait(group_->broadcast(one), "the broadcast of the weights");
  }
}

// Gradients are flattened into buckets, reduced, and copied back. All buckets are sent
// before the first wait, so Gloo's ring works on one while the next is being flattened.
void Collective::sum(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<torch::Tensor>> buckets(1);
  int64_t bucket_bytes = 0;
  for (const torch::Tensor& tensor : tensors) {
    int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    if (bucket_bytes > 0 && bucket_bytes + bytes > kBucketBytes) {
      buckets.emplace_back();
      bucket_bytes = 0;
    }
    buckets.back().push_back(tensor);
    bucket_bytes += bytes;
    sum_bytes_ += bytes;
  }
  std::vector<std::vector<at::Tensor>> flat(buckets.size());
  std::vector<c10::intrusive_ptr<c10d::Work>> work;
  for (size_t b = 0; b < buckets.size(); ++b) {
    std::vector<torch::Tensor> views;
    for (const torch::Tensor& t : buckets[b]) views.push_back(t.reshape({-1}));
    flat[b] = {torch::cat(views)};
    work.push_back(group_->allreduce(flat[b]));
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    wait(work[b], "the sum of the gradients");
    int64_t offset = 0;
    for (const torch::Tensor& t : buckets[b]) {
      t.copy_(flat[b][0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
  sum_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<int64_t> Collective::gather_counts(int64_t count) {
  std::vector<at::Tensor> input = {torch::tensor({count}, torch::kInt64)};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty({1}, torch::kInt64));
  wait(group_->allgather(output, input), "the gathering of the validation rows");
  std::vector<int64_t> counts;
  for (const at::Tensor& t : output[0]) counts.push_back(t.item<int64_t>());
  return counts;
}

void Collective::minimum(const torch::Tensor& tensor) {
  std::vector<at::Tensor> one = {tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::MIN;
  wait(group_->allreduce(one, options), "the reduction of the statistics");
}

void Collective::maximum(const torch::Tensor& tensor) {
  std::vector<at::Tensor> one = {tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::MAX;
  wait(group_->allreduce(one, options), "the reduction of the statistics");
}

std::vector<torch::Tensor> Collective::allgather_padded(const torch::Tensor& local, int64_t rows, const char* what) {
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = rows;
  torch::Tensor padded = torch::zeros(shape, local.options());
  padded.narrow(0, 0, local.size(0)).copy_(local);
  std::vector<at::Tensor> input = {padded};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty_like(padded));
  wait(group_->allgather(output, input), what);
  return output[0];
}

torch::Tensor Collective::gather_concatenated(const torch::Tensor& local, const std::vector<int64_t>& counts) {
  int64_t most = std::max<int64_t>(1, *std::max_element(counts.begin(), counts.end()));
  std::vector<torch::Tensor> gathered = allgather_padded(local, most, "the gathering of the validation rows");
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world_; ++r) parts.push_back(gathered[r].narrow(0, 0, counts[r]));
  return torch::cat(parts);
}

std::string Collective::broadcast_bytes(const std::string& bytes) {
  torch::Tensor size = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64);
  broadcast({size});
  int64_t n = size.item<int64_t>();
  if (n < 0) throw PeerLost("rank 0 sent a negative size");
  torch::Tensor data = torch::zeros({std::max<int64_t>(n, 1)}, torch::kUInt8);
  if (rank_ == 0) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  broadcast({data});
  return std::string(reinterpret_cast<const char*>(data.data_ptr<uint8_t>()), n);
}

torch::Tensor Collective::gather_interleaved(const torch::Tensor& local, const std::vector<int64_t>& counts) {
  int64_t most = *std::max_element(counts.begin(), counts.end());
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  // (world x most x ...) -> (most x world x ...): row j of rank r lands at j * world + r;
  // the padding of the shorter ranks lands after the last real row
  torch::Tensor stacked = torch::stack(allgather_padded(local, most, "the gathering of the validation rows")).transpose(0, 1).contiguous();
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = most * world_;
  return stacked.reshape(shape).narrow(0, 0, total);
}

}  // namespace pinnacle
