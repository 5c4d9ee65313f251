#include "compute_threads.hpp"

#include <dlfcn.h>

#include <torch/torch.h>

namespace pinnacle {

namespace {

// OpenBLAS is the system BLAS we install, but another libblas.so.3 may be chosen by the
// alternatives system: look the setter up instead of linking against OpenBLAS.
void set_blas_threads(int threads) {
  using Setter = void (*)(int);
  if (auto set = reinterpret_cast<Setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

}  // namespace

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  set_blas_threads(threads);
}

}  // namespace pinnacle
