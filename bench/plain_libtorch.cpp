// The benchmark's training with no database in the way: the core's own classes (parse_spec,
// Dataset, Trainer), driven the way the worker drives them, on rows read once from a file.
//
//   plain_libtorch SPEC.json IMAGES.bin
//
// IMAGES.bin holds the rows of table images, each 784 pixel bytes and then the label byte.
// Prints key=value lines: the training loop alone (timed from the first step, like the worker's
// own rows/s) and the program's total wall time, reading the file included.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "spec.hpp"
#include "trainer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kPixels = 784;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  Clock::time_point start = Clock::now();
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SPEC.json IMAGES.bin\n", argv[0]);
    return 2;
  }
  try {
    pinnacle::TrainSpec spec = pinnacle::parse_spec(read_file(argv[1]));

    // The worker gets float32 values per column (bytea bytes as 0..255); so do we.
    std::string bytes = read_file(argv[2]);
    pinnacle::Dataset train(spec.key.columns(), 0);
    std::vector<std::vector<float>> row{std::vector<float>(kPixels), std::vector<float>(1)};
    for (size_t at = 0; at + kPixels + 1 <= bytes.size(); at += kPixels + 1) {
      for (size_t i = 0; i < kPixels; ++i) row[0][i] = static_cast<unsigned char>(bytes[at + i]);
      row[1][0] = static_cast<unsigned char>(bytes[at + kPixels]);
      train.append_row(row);
    }
    int64_t rows = train.rows();

    // Building the trainer applies the transform and builds the model; the worker, too, starts
    // its clock only after that.
    pinnacle::Trainer trainer(spec, std::move(train), pinnacle::Dataset(spec.key.columns(), 0));
    Clock::time_point loop_start = Clock::now();
    while (trainer.advance() != pinnacle::Trainer::Event::Finished) {
    }
    double loop_s = seconds_since(loop_start);

    std::printf("plain_rows=%lld\nplain_iterations=%lld\nplain_samples=%lld\nplain_loop_s=%.3f\n",
                static_cast<long long>(rows), static_cast<long long>(trainer.steps_this_run()),
                static_cast<long long>(trainer.samples_seen()), loop_s);
    std::printf("plain_samples_per_s=%.0f\nplain_last_loss=%.4f\nplain_total_s=%.3f\n",
                trainer.samples_seen() / loop_s, trainer.last_loss(), seconds_since(start));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plain_libtorch: %s\n", e.what());
    return 1;
  }
  return 0;
}
