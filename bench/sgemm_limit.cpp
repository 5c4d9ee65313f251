// The physical limit of the benchmark's training on one core: how fast OpenBLAS multiplies
// the matrices of one training step of the MLP 784-256-128-10 at batch 128, on ONE thread.
//
//   sgemm_limit [BATCH]
//
// libtorch's torch::set_num_threads(1) bounds its own (OpenMP) pool, but OpenBLAS
// (libopenblas0-pthread) keeps a pool of its own, as many threads as cores unless
// OPENBLAS_NUM_THREADS is set; openblas_set_num_threads(1), looked up with dlsym because
// libtorch does not export it, makes this a one-thread figure. The process's CPU seconds per
// wall second while timing (1.00 for one busy thread) are printed so that this can be checked.
//
// One step of nn.Linear layers computes, per layer, y = x W^T (forward), dW = dy^T x (weight
// gradient) and, for every layer but the first, dx = dy W (input gradient): 8 products. Each is
// timed with torch::mm_out (libtorch's sgemm call, no allocation) in the layout autograd uses
// (W^T and dy^T as transposed views), best of several trials of many calls. Prints key=value
// lines: the FLOP per trained sample, GFLOP/s per product and over the step, and the limit
// in samples/s (the batch divided by the step's matrix time). Also prediction's limit: the
// three forward products alone at 1,024 rows (the batch pinnacle_predict_batch runs), in rows/s.
#include <dlfcn.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "process_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Product {
  const char* name;
  torch::Tensor a, b, out;  // out = a x b
  double flops() const { return 2.0 * a.size(0) * a.size(1) * b.size(1); }
};

// Seconds per call of out = a x b: the best of `trials` trials of enough calls to take ~40 ms.
double seconds_per_call(Product& p, int trials) {
  for (int i = 0; i < 10; ++i) torch::mm_out(p.out, p.a, p.b);  // warm: caches, OpenBLAS buffers
  auto start = Clock::now();
  int calls = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < 0.01) {
    torch::mm_out(p.out, p.a, p.b);
    ++calls;
  }
  int per_trial = std::max(1, calls * 4);
  double best = 1e30;
  for (int t = 0; t < trials; ++t) {
    auto t0 = Clock::now();
    for (int i = 0; i < per_trial; ++i) torch::mm_out(p.out, p.a, p.b);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / per_trial);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::atoll(argv[1]) : 128;
  const int64_t widths[] = {784, 256, 128, 10};

  using SetThreads = void (*)(int);
  auto openblas_set_num_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (!openblas_set_num_threads) {
    // not linked in by name: libtorch reaches it through libblas.so.3
    if (void* blas = dlopen("libblas.so.3", RTLD_NOW | RTLD_NOLOAD))
      openblas_set_num_threads = reinterpret_cast<SetThreads>(dlsym(blas, "openblas_set_num_threads"));
  }
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  torch::set_num_threads(1);
  torch::manual_seed(0);

  std::vector<Product> products;
  auto rand = [](int64_t r, int64_t c) { return torch::randn({r, c}); };
  for (int layer = 0; layer < 3; ++layer) {
    int64_t in = widths[layer], out = widths[layer + 1];
    torch::Tensor x = rand(batch, in), w = rand(out, in), dy = rand(batch, out);
    products.push_back({"forward", x, w.t(), torch::empty({batch, out})});
    products.push_back({"weight_grad", dy.t(), x, torch::empty({out, in})});
    if (layer > 0) products.push_back({"input_grad", dy, w, torch::empty({batch, in})});
  }

  double step_seconds = 0, step_flops = 0;
  double cpu_start = cpu_seconds();
  auto wall_start = Clock::now();
  for (Product& p : products) {
    double s = seconds_per_call(p, 5);
    step_seconds += s;
    step_flops += p.flops();
    std::printf("sgemm_%s_%lldx%lldx%lld_gflops=%.1f\n", p.name, static_cast<long long>(p.a.size(0)),
                static_cast<long long>(p.a.size(1)), static_cast<long long>(p.b.size(1)), p.flops() / s / 1e9);
  }
  double predict_seconds = 0;
  const int64_t predict_rows = 1024;
  for (int layer = 0; layer < 3; ++layer) {
    int64_t in = widths[layer], out = widths[layer + 1];
    Product p{"predict", rand(predict_rows, in), rand(out, in).t(), torch::empty({predict_rows, out})};
    predict_seconds += seconds_per_call(p, 5);
  }
  double cpu_per_wall = (cpu_seconds() - cpu_start) / std::chrono::duration<double>(Clock::now() - wall_start).count();
  Product big{"square", rand(2048, 2048), rand(2048, 2048), torch::empty({2048, 2048})};
  torch::mm_out(big.out, big.a, big.b);
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) torch::mm_out(big.out, big.a, big.b);
  double big_s = std::chrono::duration<double>(Clock::now() - t0).count() / 3;

  std::printf("sgemm_openblas_threads_set=%d\nsgemm_process_threads=%d\nsgemm_cpu_per_wall=%.2f\n",
              openblas_set_num_threads ? 1 : 0, thread_count(), cpu_per_wall);
  std::printf("sgemm_2048_gflops=%.1f\n", big.flops() / big_s / 1e9);
  std::printf("mlp_flop_per_sample=%.0f\n", step_flops / batch);
  std::printf("sgemm_step_gflops=%.1f\n", step_flops / step_seconds / 1e9);
  std::printf("sgemm_step_ms=%.3f\n", step_seconds * 1e3);
  std::printf("limit_samples_per_s=%.0f\n", batch / step_seconds);
  std::printf("limit_predict_rows_per_s=%.0f\n", predict_rows / predict_seconds);
  return 0;
}
