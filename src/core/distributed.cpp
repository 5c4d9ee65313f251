#include "distributed.hpp"

#include <algorithm>

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
    auto store = c10::make_intrusive<c10d::FileStore>(rank.store_path, rank.world);
    store->setTimeout(rank.timeout);
    return store;
  } catch (const std::exception& e) {
    throw PeerLost("could not open the run's store: " + message_of(e));
  }
}

}  // namespace

Rendezvous::Rendezvous(RankSpec rank) : rank_(std::move(rank)), store_(open_store(rank_)) {}

Collective::Collective(const Rendezvous& rendezvous)
    : rank_(rendezvous.rank().rank), world_(rendezvous.rank().world) {
  const RankSpec& spec = rendezvous.rank();
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = spec.timeout;
  // the ranks' connections to each other: on the loopback interface only
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  auto store = c10::make_intrusive<c10d::PrefixStore>(spec.run_key, rendezvous.store());
  try {
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank_, world_, options);
  } catch (const std::exception& e) {
    throw PeerLost("could not join the other " + std::to_string(world_ - 1) +
                   " ranks within compute_kwargs.timeout: " + message_of(e));
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

torch::Tensor Collective::gather_interleaved(const torch::Tensor& local, const std::vector<int64_t>& counts) {
  int64_t most = *std::max_element(counts.begin(), counts.end());
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = most;
  torch::Tensor padded = torch::zeros(shape, local.options());
  padded.narrow(0, 0, local.size(0)).copy_(local);
  std::vector<at::Tensor> input = {padded};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty_like(padded));
  wait(group_->allgather(output, input), "the gathering of the validation rows");
  // (world x most x ...) -> (most x world x ...): row j of rank r lands at j * world + r;
  // the padding of the shorter ranks lands after the last real row
  torch::Tensor stacked = torch::stack(output[0]).transpose(0, 1).contiguous();
  shape[0] = most * world_;
  return stacked.reshape(shape).narrow(0, 0, total);
}

}  // namespace pinnacle
