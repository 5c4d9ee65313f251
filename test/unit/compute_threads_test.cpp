// A trainer or a helper lowers its RLIMIT_DATA once libtorch has started (pt_runtime_init).
// OpenBLAS asks for a new work buffer when every mapped one is held, and retries a refused
// mapping forever: these tests fork a process that does what such a process does, with an
// OpenBLAS pool thread that starts late, and check that its products still end.
#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "pinnacle_core.h"

namespace {

constexpr int kSpun = 3;  // the child's exit code when its product did not end in time
constexpr int kNotOpenBlas = 4;

// This process's data segment, as RLIMIT_DATA counts it.
long data_segment_bytes() {
  FILE* status = std::fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (status != nullptr && std::fgets(line, sizeof line, status) != nullptr)
    if (std::sscanf(line, "VmData: %ld kB", &kb) == 1) break;
  if (status != nullptr) std::fclose(status);
  return kb * 1024;
}

// Runs `body` in a forked child; its exit code, or kSpun when it ran past 20 s.
int exit_code_in_child(const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    alarm(20);  // a product spinning on a refused mapping ends here
    signal(SIGALRM, [](int) { _exit(kSpun); });
    _exit(body());
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Products large enough for OpenBLAS's work buffer (a small one skips it on some CPUs), with a
// bias as Linear's: addmm.
void products() {
  torch::Tensor bias = torch::ones({256});
  for (int i = 0; i < 3; ++i) torch::addmm(bias, torch::ones({256, 256}), torch::ones({256, 256})).sum().item<float>();
}

// cblas_sgemm of OpenBLAS, for threads that are not libtorch's (which starts its own pools
// in each new thread that calls it).
using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
constexpr int kRowMajor = 101, kNoTrans = 111, kSize = 256;

// What a trainer does, with one OpenBLAS buffer taken by a pool thread that starts only after
// the caller's first product, then a limit of 8 MB above what the process holds; then
// `callers` more threads (intra-op threads, say) multiply at once with the caller.
int products_after_a_late_pool_thread(int threads, int callers) {
  if (!pt_runtime_init(threads)) return 1;
  using Alloc = void* (*)(int);
  auto alloc = reinterpret_cast<Alloc>(dlsym(RTLD_DEFAULT, "blas_memory_alloc"));
  auto sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "cblas_sgemm"));
  if (alloc == nullptr || sgemm == nullptr) return kNotOpenBlas;
  std::thread late_pool_thread([alloc] { alloc(2); });  // held for life, as a pool thread does
  late_pool_thread.join();
  // the callers start before the limit, as a pool's threads do, with their operands
  std::atomic<bool> go{false};
  std::vector<std::thread> multiplying;
  for (int i = 0; i < callers; ++i)
    multiplying.emplace_back([&go, sgemm] {
      std::vector<float> a(kSize * kSize, 1.0f), c(kSize * kSize);
      while (!go) std::this_thread::yield();
      for (int j = 0; j < 3; ++j)
        sgemm(kRowMajor, kNoTrans, kNoTrans, kSize, kSize, kSize, 1.0f, a.data(), kSize, a.data(), kSize, 0.0f, c.data(),
              kSize);
    });
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = data_segment_bytes() + (8 << 20);
  if (setrlimit(RLIMIT_DATA, &limit) != 0) return 2;
  go = true;
  products();
  for (std::thread& thread : multiplying) thread.join();
  return 0;
}

void expect_products_end(int threads, int callers) {
  int code = exit_code_in_child([=] { return products_after_a_late_pool_thread(threads, callers); });
  if (code == kNotOpenBlas) GTEST_SKIP() << "the BLAS chosen is not OpenBLAS";
  EXPECT_NE(code, kSpun) << "a product spun on a refused mapping of an OpenBLAS buffer";
  EXPECT_EQ(code, 0);
}

TEST(ComputeThreads, AProductAfterTheLimitFindsABufferMapped) { expect_products_end(1, 0); }

TEST(ComputeThreads, EachThreadMultiplyingAtOnceFindsABufferMapped) { expect_products_end(2, 2); }

}  // namespace
