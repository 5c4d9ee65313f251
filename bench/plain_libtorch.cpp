// The benchmark's training as a user writes it with the PyTorch C++ frontend, from its docs and
// examples (pytorch/examples cpp/mnist): no database, nothing of pinnacle_train. The rows come
// from two IDX files (the MNIST format) that bench/run.sh exports from the same table.
//
//   plain_libtorch IMAGES.idx3-ubyte LABELS.idx1-ubyte [--index-batches] [--steps N]
//
// A custom torch::data Dataset over the tensors, .map(Stack<>()), make_data_loader with a
// RandomSampler (a new permutation every epoch) and batch 128; torch::nn::Sequential
// 784-256-ReLU-128-ReLU-10, torch::optim::Adam lr 1e-3, cross_entropy, torch::set_num_threads(1),
// pixels scaled by 1/255; 938 optimizer steps (two epochs of 60,000 rows).
// --index-batches batches by index_select over a torch::randperm instead of the DataLoader
// (what one writes to avoid the DataLoader's per-sample Examples and stacking).
//
// Prints key=value lines: the training loop's samples/s (timed from the first step to the
// last, like pinnacle's own rows/s), the time in main, and the process's wall time since exec
// (from /proc/self/stat, 10 ms resolution; libtorch's loading included); and, to tell how many
// cores the loop kept busy (OpenBLAS has a thread pool of its own, which set_num_threads does
// not bound), its CPU seconds per wall second and the process's thread count.
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "process_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Seconds since this process was exec'd: /proc/uptime minus /proc/self/stat's starttime.
double process_seconds() {
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t after_name = text.rfind(')');
  unsigned long long start_ticks = 0;
  const char* field = text.c_str() + after_name + 2;  // field 3, the state
  for (int i = 3; i < 22; ++i) field = std::strchr(field, ' ') + 1;
  start_ticks = std::strtoull(field, nullptr, 10);
  double uptime = 0;
  std::ifstream("/proc/uptime") >> uptime;
  return uptime - static_cast<double>(start_ticks) / sysconf(_SC_CLK_TCK);
}

int32_t read_be32(std::ifstream& in) {
  unsigned char b[4];
  in.read(reinterpret_cast<char*>(b), 4);
  return static_cast<int32_t>((uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3]);
}

// An IDX file of unsigned bytes (magic 0x0000080N, N dimensions), as a uint8 tensor.
torch::Tensor read_idx(const std::string& path, int dims) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  if (read_be32(in) != 0x800 + dims) throw std::runtime_error(path + " is not an IDX file of " + std::to_string(dims) + " dimensions");
  std::vector<int64_t> shape;
  for (int i = 0; i < dims; ++i) shape.push_back(read_be32(in));
  torch::Tensor t = torch::empty(shape, torch::kUInt8);
  in.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), t.numel());
  if (!in) throw std::runtime_error(path + " is shorter than its header says");
  return t;
}

class ImageDataset : public torch::data::datasets::Dataset<ImageDataset> {
 public:
  ImageDataset(torch::Tensor images, torch::Tensor labels) : images_(std::move(images)), labels_(std::move(labels)) {}
  torch::data::Example<> get(size_t index) override { return {images_[index], labels_[index]}; }
  torch::optional<size_t> size() const override { return images_.size(0); }

 private:
  torch::Tensor images_, labels_;
};

}  // namespace

int main(int argc, char** argv) {
  Clock::time_point start = Clock::now();
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s IMAGES.idx3-ubyte LABELS.idx1-ubyte [--index-batches] [--steps N]\n", argv[0]);
    return 2;
  }
  bool index_batches = false;
  int64_t max_steps = 938;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--index-batches") == 0)
      index_batches = true;
    else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
      max_steps = std::atoll(argv[++i]);
    else {
      std::fprintf(stderr, "plain_libtorch: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const int64_t batch_size = 128;
  try {
    torch::set_num_threads(1);
    torch::manual_seed(0);

    torch::Tensor images = read_idx(argv[1], 3);
    torch::Tensor labels = read_idx(argv[2], 1);
    const int64_t rows = images.size(0);
    if (labels.size(0) != rows) throw std::runtime_error("the image and label files hold different row counts");
    torch::Tensor x = images.reshape({rows, -1}).to(torch::kFloat32).div_(255);
    torch::Tensor y = labels.to(torch::kInt64);

    torch::nn::Sequential model(torch::nn::Linear(x.size(1), 256), torch::nn::ReLU(), torch::nn::Linear(256, 128),
                                torch::nn::ReLU(), torch::nn::Linear(128, 10));
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));

    int64_t steps = 0, samples = 0;
    torch::Tensor loss;
    auto train_step = [&](const torch::Tensor& data, const torch::Tensor& target) {
      optimizer.zero_grad();
      loss = torch::nn::functional::cross_entropy(model->forward(data), target);
      loss.backward();
      optimizer.step();
      ++steps;
      samples += data.size(0);
    };

    Clock::time_point loop_start;
    double loop_cpu_start = 0;
    if (index_batches) {
      loop_start = Clock::now();
      loop_cpu_start = cpu_seconds();
      while (steps < max_steps) {
        torch::Tensor order = torch::randperm(rows, torch::kInt64);
        for (int64_t at = 0; at < rows && steps < max_steps; at += batch_size) {
          torch::Tensor index = order.slice(0, at, std::min(at + batch_size, rows));
          train_step(x.index_select(0, index), y.index_select(0, index));
        }
      }
    } else {
      auto loader = torch::data::make_data_loader<torch::data::samplers::RandomSampler>(
          ImageDataset(x, y).map(torch::data::transforms::Stack<>()),
          torch::data::DataLoaderOptions().batch_size(batch_size));
      loop_start = Clock::now();
      loop_cpu_start = cpu_seconds();
      while (steps < max_steps) {  // each pass over the loader is an epoch, freshly shuffled
        for (auto& batch : *loader) {
          train_step(batch.data, batch.target);
          if (steps == max_steps) break;
        }
      }
    }
    double loop_s = seconds_since(loop_start);
    double loop_cpu_per_wall = (cpu_seconds() - loop_cpu_start) / loop_s;
    int threads = thread_count();

    // not a speed: shows that it learned (the classes are learnable by construction)
    torch::NoGradGuard no_grad;
    int64_t check = std::min<int64_t>(rows, 2000);
    double accuracy =
        model->forward(x.slice(0, 0, check)).argmax(1).eq(y.slice(0, 0, check)).to(torch::kFloat64).mean().item<double>();

    std::printf("plain_batching=%s\nplain_rows=%lld\nplain_iterations=%lld\nplain_samples=%lld\n",
                index_batches ? "index_select" : "DataLoader", static_cast<long long>(rows),
                static_cast<long long>(steps), static_cast<long long>(samples));
    std::printf("plain_loop_s=%.3f\nplain_samples_per_s=%.0f\nplain_last_loss=%.4f\nplain_train_accuracy=%.3f\n", loop_s,
                samples / loop_s, loss.item<double>(), accuracy);
    std::printf("plain_threads=%d\nplain_loop_cpu_per_wall=%.2f\nplain_main_s=%.3f\nplain_since_exec_s=%.2f\n",
                threads, loop_cpu_per_wall, seconds_since(start), process_seconds());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plain_libtorch: %s\n", e.what());
    return 1;
  }
  return 0;
}
