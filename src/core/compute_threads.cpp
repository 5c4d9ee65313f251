#include "compute_threads.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <vector>

#include <torch/torch.h>

namespace pinnacle {

namespace {

// OpenBLAS is the system BLAS we install, but another libblas.so.3 may be chosen by the
// alternatives system: look the setter up instead of linking against OpenBLAS.
void set_blas_threads(int threads) {
  using Setter = void (*)(int);
  if (auto set = reinterpret_cast<Setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

// OpenBLAS's own threads: the size its pool has or will have once restarted after a fork.
int blas_pool_threads() {
  if (auto size = static_cast<const int*>(dlsym(RTLD_DEFAULT, "blas_num_threads"))) return *size;
  using Getter = int (*)();
  if (auto procs = reinterpret_cast<Getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_procs"))) return procs();
  return 0;
}

}  // namespace

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  set_blas_threads(threads);
}

// OpenBLAS's pthread build, as Debian ships it, keeps its work buffers (128 MB each) in one
// table for every thread. A call takes the first buffer no call holds, and maps a new one when
// none is free, retrying forever where the mapping is refused, as a trainer's or a helper's
// RLIMIT_DATA refuses it. Its pool's threads each hold one for their whole life, taken when
// they start, which after a fork is whenever the scheduler first runs them: a late one takes
// the buffer that the caller's first product mapped and freed, and the caller's next product
// must map another, past the limit. So every buffer that can be held at once is mapped here,
// held together so that each is another: one per pool thread, the caller's, and one per
// intra-op thread calling BLAS. They are address space only until a product writes them.
void reserve_blas_buffers(int threads) {
  using Alloc = void* (*)(int);
  using Release = void (*)(void*);
  auto alloc = reinterpret_cast<Alloc>(dlsym(RTLD_DEFAULT, "blas_memory_alloc"));
  auto release = reinterpret_cast<Release>(dlsym(RTLD_DEFAULT, "blas_memory_free"));
  if (alloc == nullptr || release == nullptr) return;  // another BLAS
  std::vector<void*> held(std::max(blas_pool_threads(), threads) + threads + 1);
  for (void*& buffer : held) buffer = alloc(0);
  for (void* buffer : held) release(buffer);
}

}  // namespace pinnacle
