#include "serialize.hpp"

#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace pinnacle {

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
  load_archive(module, bytes);
  for (const auto& [name, shape] : tensor_shapes(module))
    if (shape != expected[name])
      throw std::runtime_error("the stored weights do not fit this model: \"" + name + "\" has another shape");
}
void load_from_bytes(torch::optim::Optimizer& optimizer, const std::string& bytes) { load_archive(optimizer, bytes); }

}  // namespace pinnacle
