// Weights and optimizer state to and from bytes (torch::save's archive format), the form
// they take in pinnacle.checkpoints.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include <torch/torch.h>

namespace pinnacle {

// While one lives, every CPU buffer libtorch allocates is recorded with its size: among them
// the records an archive's tensors are read into. libtorch trusts an archive's declared
// storage sizes and offsets, so a forged archive makes a tensor that reaches past its record:
// read (and saved again), it leaks the process's memory; written (an optimizer's step), it
// writes anywhere. check() refuses any tensor that addresses an element outside its storage,
// or whose storage is larger than the bytes read for it. One at a time, around a load and
// its checks.
class UntrustedArchive final : private c10::Allocator {
 public:
  UntrustedArchive();
  ~UntrustedArchive() override;
  UntrustedArchive(const UntrustedArchive&) = delete;
  UntrustedArchive& operator=(const UntrustedArchive&) = delete;

  void check(const torch::Tensor& tensor, const std::string& what) const;

 private:
  c10::DataPtr allocate(size_t bytes) const override;
  c10::DeleterFnPtr raw_deleter() const override;

  c10::Allocator* previous_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<const void*, size_t> sizes_;
};

std::string save_to_bytes(const torch::nn::Module& module);
std::string save_to_bytes(const torch::optim::Optimizer& optimizer);
// Both check what they load: the weights' shapes against the module's, the optimizer state's
// against its parameters (check_optimizer_state), and every tensor with UntrustedArchive.
void load_from_bytes(torch::nn::Module& module, const std::string& bytes);
void load_from_bytes(torch::optim::Optimizer& optimizer, const std::string& bytes);

}  // namespace pinnacle
