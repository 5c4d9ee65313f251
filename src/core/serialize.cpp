#include "serialize.hpp"

#include <sstream>

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

template <class T>
void load_archive(T& loadable, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  loadable.load(archive);
}

}  // namespace

std::string save_to_bytes(const torch::nn::Module& module) { return archive_bytes(module); }
std::string save_to_bytes(const torch::optim::Optimizer& optimizer) { return archive_bytes(optimizer); }
void load_from_bytes(torch::nn::Module& module, const std::string& bytes) { load_archive(module, bytes); }
void load_from_bytes(torch::optim::Optimizer& optimizer, const std::string& bytes) { load_archive(optimizer, bytes); }

}  // namespace pinnacle
