#include "serialize.hpp"

#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <c10/core/CPUAllocator.h>

#include "optimizer.hpp"

namespace pinnacle {

namespace {
// (the priority of a replacement: libtorch's own registrations use lower ones)
constexpr uint8_t kAllocatorPriority = 255;
}  // namespace

UntrustedArchive::UntrustedArchive() : previous_(c10::GetCPUAllocator()) {
  c10::SetCPUAllocator(this, kAllocatorPriority);
}

UntrustedArchive::~UntrustedArchive() { c10::SetCPUAllocator(previous_, kAllocatorPriority); }

c10::DataPtr UntrustedArchive::allocate(size_t bytes) const {
  c10::DataPtr data = previous_->allocate(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  sizes_[data.get()] = bytes;  // (an address freed and reused is recorded anew)
  return data;
}

c10::DeleterFnPtr UntrustedArchive::raw_deleter() const { return previous_->raw_deleter(); }

// The last element a tensor addresses must lie within its storage, and its storage within the
// record it was read into.
void UntrustedArchive::check(const torch::Tensor& tensor, const std::string& what) const {
  if (!tensor.defined() || tensor.numel() == 0) return;
  bool fits = tensor.device().is_cpu() && tensor.layout() == torch::kStrided && tensor.storage_offset() >= 0;
  int64_t extent = tensor.storage_offset() + 1;  // elements, up to the last one addressed
  for (int64_t d = 0; fits && d < tensor.dim(); ++d) {
    fits = tensor.stride(d) >= 0 && (tensor.size(d) - 1) <= (INT64_MAX - extent) / std::max<int64_t>(tensor.stride(d), 1);
    if (fits) extent += (tensor.size(d) - 1) * tensor.stride(d);
  }
  fits = fits && extent <= static_cast<int64_t>(tensor.storage().nbytes() / tensor.element_size());
  if (fits) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto read = sizes_.find(tensor.storage().data());
    fits = read != sizes_.end() && read->second >= tensor.storage().nbytes();
  }
  if (!fits)
    throw std::runtime_error("malformed " + what + ": a tensor's values do not lie within the bytes stored for it");
}

namespace {

template <class T>
std::string archive_bytes(const T& saveable) {
  torch::serialize::OutputArchive archive;
  saveable.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// Name and shape of every parameter and buffer: torch's loading checks the names but
// not the shapes, and weights of another architecture must not slip in.
std::map<std::string, std::vector<int64_t>> tensor_shapes(const torch::nn::Module& module) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : module.named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  for (const auto& b : module.named_buffers()) shapes[b.key()] = b.value().sizes().vec();
  return shapes;
}

template <class T>
void load_archive(T& loadable, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  loadable.load(archive);
}

}  // namespace

std::string save_to_bytes(const torch::nn::Module& module) { return archive_bytes(module); }
std::string save_to_bytes(const torch::optim::Optimizer& optimizer) { return archive_bytes(optimizer); }
void load_from_bytes(torch::nn::Module& module, const std::string& bytes) {
  auto expected = tensor_shapes(module);
  UntrustedArchive archive;
  load_archive(module, bytes);
  for (const auto& [name, shape] : tensor_shapes(module))
    if (shape != expected[name])
      throw std::runtime_error("the stored weights do not fit this model: \"" + name + "\" has another shape");
  for (const auto& p : module.named_parameters()) archive.check(p.value(), "weights");
  for (const auto& b : module.named_buffers()) archive.check(b.value(), "weights");
}

void load_from_bytes(torch::optim::Optimizer& optimizer, const std::string& bytes) {
  UntrustedArchive archive;
  try {
    load_archive(optimizer, bytes);
  } catch (const c10::Error& e) {  // libtorch's own assertions: a state of another optimizer, a field missing
    throw std::runtime_error(std::string("the stored optimizer state is not one this optimizer_cls can continue "
                                         "from (was it saved by another optimizer, or with other options?): ") +
                             e.what_without_backtrace());
  }
  check_optimizer_state(optimizer, [&](const torch::Tensor& state) { archive.check(state, "optimizer state"); });
}

}  // namespace pinnacle
