// What summing gradients costs on this machine by itself: two processes (fork), a c10d
// FileStore and a ProcessGroupGloo on 127.0.0.1, as compute_kwargs.workers: 2 builds them,
// allreduce of BYTES of float32 again and again with nothing else to do. Prints the mean
// milliseconds per allreduce, and the loopback rate that implies: a ring allreduce of two
// ranks sends every byte once each way.
//
//   gloo_allreduce BYTES...
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/torch.h>

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds_per_allreduce(c10d::ProcessGroupGloo& group, int64_t bytes) {
  std::vector<at::Tensor> gradients = {torch::ones({bytes / 4})};
  for (int i = 0; i < 20; ++i) group.allreduce(gradients)->wait();
  const int calls = 200;
  auto start = Clock::now();
  for (int i = 0; i < calls; ++i) group.allreduce(gradients)->wait();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count() / calls;
}

void run_rank(int rank, const std::string& store_path, int argc, char** argv) {
  torch::set_num_threads(1);
  auto store = c10::make_intrusive<c10d::FileStore>(store_path, 2);
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  c10d::ProcessGroupGloo group(store, rank, 2, options);
  for (int i = 1; i < argc; ++i) {
    int64_t bytes = std::atoll(argv[i]);
    double ms = milliseconds_per_allreduce(group, bytes);
    if (rank == 0)
      std::printf("gloo_allreduce_%lld_bytes_ms=%.3f\ngloo_allreduce_%lld_bytes_mb_per_s=%.0f\n",
                  static_cast<long long>(bytes), ms, static_cast<long long>(bytes), bytes / ms / 1e3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  char store_path[] = "/tmp/gloo_allreduce_XXXXXX";
  int fd = mkstemp(store_path);
  if (fd < 0) return 1;
  close(fd);
  unlink(store_path);  // the FileStore creates it
  pid_t other = fork();
  if (other == 0) {
    run_rank(1, store_path, argc, argv);
    _exit(0);
  }
  run_rank(0, store_path, argc, argv);
  int status = 0;
  waitpid(other, &status, 0);
  unlink(store_path);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
