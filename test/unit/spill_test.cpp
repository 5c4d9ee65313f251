#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <numeric>
#include <set>
#include <thread>

#include "spill.hpp"

using namespace pinnacle;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kWidth = 3;
const std::vector<std::string> kColumns = {"id", "twice", "negated"};

// Row `id` is (id, 2 id, -id): the id to count it by, the rest to show it arrived whole.
std::vector<float> row_of(int64_t id) {
  float x = static_cast<float>(id);
  return {x, 2 * x, -x};
}

SpilledRows spill(int64_t rows, int64_t chunk_rows, const fs::path& directory = fs::temp_directory_path()) {
  SpillWriter writer(kColumns, chunk_rows, directory);
  for (int64_t id = 0; id < rows; ++id) writer.append_row(row_of(id).data(), kWidth);
  return writer.finish();
}

std::vector<int64_t> ids_of(const torch::Tensor& batch) {
  std::vector<int64_t> ids;
  auto rows = batch.accessor<float, 2>();
  for (int64_t r = 0; r < batch.size(0); ++r) {
    EXPECT_EQ(rows[r][1], 2 * rows[r][0]);
    EXPECT_EQ(rows[r][2], -rows[r][0]);
    ids.push_back(static_cast<int64_t>(rows[r][0]));
  }
  return ids;
}

// The ids of one epoch's rows, in the order they came.
std::vector<int64_t> next_epoch(ChunkedBatchReader& reader) {
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < reader.batches_per_epoch(); ++b) {
    std::vector<int64_t> more = ids_of(reader.next_batch());
    ids.insert(ids.end(), more.begin(), more.end());
  }
  return ids;
}

std::vector<int64_t> sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> first_ids(int64_t n) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

// Whether any of this process's descriptors still refers to `path` (unlinked or not).
bool descriptor_open_for(const std::string& path) {
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    fs::path target = fs::read_symlink(entry.path(), error);
    if (!error && target.string().rfind(path, 0) == 0) return true;
  }
  return false;
}

// Runs `work` on a thread of its own; false if it has not returned within `limit`.
bool finishes_within(std::chrono::seconds limit, std::function<void()> work) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([done, work] {
    work();
    done->set_value();
  }).detach();  // a hung thread must not hang the test too
  return finished.wait_for(limit) == std::future_status::ready;
}

// The blocked-signal mask of this process's thread named `name`, from /proc.
uint64_t blocked_signals_of_thread(const std::string& name) {
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm != name) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  ADD_FAILURE() << "no thread named " << name;
  return 0;
}

class TempDirectory {
 public:
  TempDirectory() {
    std::string name = (fs::temp_directory_path() / "spill_test_XXXXXX").string();
    if (!mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDirectory() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST(SpillWriter, ChunksWithAPartialLastOne) {
  SpillWriter writer(kColumns, 4);
  std::vector<float> rows;
  for (int64_t id = 0; id < 10; ++id) {
    std::vector<float> row = row_of(id);
    rows.insert(rows.end(), row.begin(), row.end());
  }
  writer.append_row(rows.data(), kWidth);
  writer.append_rows(rows.data() + kWidth, 6, kWidth);  // across the first chunk's end
  writer.append_rows(rows.data() + 7 * kWidth, 3, kWidth);
  EXPECT_EQ(writer.rows(), 10);
  SpilledRows spilled = writer.finish();

  EXPECT_EQ(spilled.rows, 10);
  EXPECT_EQ(spilled.row_width, kWidth);
  EXPECT_EQ(spilled.chunk_rows, (std::vector<int64_t>{4, 4, 2}));
  // 32 bytes of fixed header, the column count, then each name with its length
  int64_t header = 32 + 4 + (4 + 2) + (4 + 5) + (4 + 7);
  int64_t chunk_bytes = 4 * kWidth * sizeof(float);
  EXPECT_EQ(spilled.chunk_offsets, (std::vector<int64_t>{header, header + chunk_bytes, header + 2 * chunk_bytes}));

  std::vector<float> last(2 * kWidth);
  ASSERT_EQ(pread(spilled.file->fd(), last.data(), last.size() * sizeof(float), spilled.chunk_offsets[2]),
            static_cast<ssize_t>(last.size() * sizeof(float)));
  EXPECT_EQ(last, std::vector<float>(rows.begin() + 8 * kWidth, rows.end()));

  ChunkedBatchReader reader(std::move(spilled), 3, /*shuffle=*/false, /*drop_last=*/false, 0, 2);
  std::vector<int64_t> ids;
  for (int64_t expected : {3, 3, 3, 1}) {
    torch::Tensor batch = reader.next_batch();
    EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{expected, kWidth}));
    std::vector<int64_t> more = ids_of(batch);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  EXPECT_EQ(ids, first_ids(10));
}

TEST(SpillWriter, WholeChunksAndASingleChunk) {
  EXPECT_EQ(spill(8, 4).chunk_rows, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(spill(5, 100).chunk_rows, (std::vector<int64_t>{5}));
}

TEST(SpillWriter, RejectsARowOfAnotherWidth) {
  SpillWriter writer(kColumns, 4);
  writer.append_row(row_of(0).data(), kWidth);
  EXPECT_THROW(writer.append_row(row_of(1).data(), kWidth - 1), std::invalid_argument);
  writer.finish();
  EXPECT_THROW(writer.append_row(row_of(1).data(), kWidth), std::logic_error);
}

TEST(SpillReader, EveryRowOncePerEpoch) {
  // 21 chunks, the last one partial: an odd count, so a window that ran on into the next
  // epoch would show
  ChunkedBatchReader reader(spill(1000, 48), 50, /*shuffle=*/true, /*drop_last=*/false, 3, 2);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    EXPECT_EQ(sorted(next_epoch(reader)), first_ids(1000));
    EXPECT_EQ(reader.epoch(), epoch);
  }
}

TEST(SpillReader, ShuffleIsSeededAndDiffersByEpoch) {
  ChunkedBatchReader in_order(spill(500, 32), 40, /*shuffle=*/false, false, 1, 2);
  EXPECT_EQ(next_epoch(in_order), first_ids(500));
  EXPECT_EQ(next_epoch(in_order), first_ids(500));

  ChunkedBatchReader first(spill(500, 32), 40, /*shuffle=*/true, false, 1, 2);
  ChunkedBatchReader again(spill(500, 32), 40, /*shuffle=*/true, false, 1, 3);
  ChunkedBatchReader other_seed(spill(500, 32), 40, /*shuffle=*/true, false, 2, 2);
  std::vector<int64_t> epoch0 = next_epoch(first);
  std::vector<int64_t> epoch1 = next_epoch(first);
  EXPECT_NE(epoch0, first_ids(500));
  EXPECT_NE(epoch1, epoch0);
  EXPECT_EQ(next_epoch(again), epoch0);  // the prefetch depth does not change the order
  EXPECT_EQ(next_epoch(again), epoch1);
  EXPECT_NE(next_epoch(other_seed), epoch0);
}

TEST(SpillReader, BatchShapesAndDropLast) {
  ChunkedBatchReader keep(spill(103, 16), 10, true, /*drop_last=*/false, 0, 2);
  EXPECT_EQ(keep.batches_per_epoch(), 11);
  for (int64_t b = 0; b < 11; ++b)
    EXPECT_EQ(keep.next_batch().sizes(), (std::vector<int64_t>{b < 10 ? 10 : 3, kWidth}));
  EXPECT_EQ(keep.next_batch().size(0), 10);
  EXPECT_EQ(keep.epoch(), 1);

  ChunkedBatchReader drop(spill(103, 16), 10, true, /*drop_last=*/true, 0, 2);
  EXPECT_EQ(drop.batches_per_epoch(), 10);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::set<int64_t> ids;
    for (int64_t b = 0; b < 10; ++b) {
      torch::Tensor batch = drop.next_batch();
      EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{10, kWidth}));
      for (int64_t id : ids_of(batch)) ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 100u);
    EXPECT_EQ(drop.epoch(), epoch);
  }

  EXPECT_THROW(ChunkedBatchReader(spill(5, 4), 10, true, /*drop_last=*/true, 0, 2), std::invalid_argument);
}

TEST(SpillReader, MemoryStaysBounded) {
  for (int64_t prefetch : {1, 3}) {
    ChunkedBatchReader reader(spill(512, 8), 5, true, false, 0, prefetch);
    reader.next_batch();
    // the thread reads ahead until the queue is full...
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (reader.chunks_loaded() < prefetch + 2 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(reader.chunks_loaded(), prefetch + 2);
    // ...and never further
    for (int64_t step = 0; step < 3 * reader.batches_per_epoch(); ++step) {
      reader.next_batch();
      EXPECT_LE(reader.chunks_loaded(), prefetch + 2);
    }
    EXPECT_EQ(reader.peak_chunks_loaded(), prefetch + 2);
  }
}

TEST(SpillReader, NoFileOutlivesItsReaderOrWriter) {
  TempDirectory directory;
  std::string path;
  {
    SpillWriter writer(kColumns, 4, directory.path());
    EXPECT_TRUE(fs::is_empty(directory.path()));  // unlinked as soon as it was made
    writer.append_row(row_of(0).data(), kWidth);
    SpilledRows spilled = writer.finish();
    path = spilled.file->path();
    EXPECT_EQ(fs::path(path).parent_path(), directory.path());
    ChunkedBatchReader reader(std::move(spilled), 1, true, false, 0, 2);
    reader.next_batch();
    EXPECT_TRUE(descriptor_open_for(path));
    EXPECT_TRUE(fs::is_empty(directory.path()));
  }
  EXPECT_FALSE(descriptor_open_for(path));

  {
    SpillWriter unfinished(kColumns, 4, directory.path());
    unfinished.append_row(row_of(0).data(), kWidth);
  }
  EXPECT_TRUE(fs::is_empty(directory.path()));
  EXPECT_FALSE(descriptor_open_for((directory.path() / "pinnacle_spill_").string()));
}

TEST(SpillReader, DestructionMidEpochDoesNotHang) {
  auto destroy_after = [](int64_t batches, bool let_queue_fill) {
    ChunkedBatchReader reader(spill(800, 4), 7, true, false, 0, 2);
    for (int64_t b = 0; b < batches; ++b) reader.next_batch();
    if (let_queue_fill) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  EXPECT_TRUE(finishes_within(std::chrono::seconds(10), [=] { destroy_after(0, false); }));
  EXPECT_TRUE(finishes_within(std::chrono::seconds(10), [=] { destroy_after(3, false); }));
  EXPECT_TRUE(finishes_within(std::chrono::seconds(10), [=] { destroy_after(3, true); }));
}

TEST(SpillReader, TruncatedFileIsAnErrorOnTheTrainersThread) {
  SpilledRows spilled = spill(100, 10);
  ASSERT_EQ(ftruncate(spilled.file->fd(), spilled.chunk_offsets[3] + 20), 0);
  ChunkedBatchReader reader(std::move(spilled), 10, /*shuffle=*/false, false, 0, 2);
  // the first window (chunks 0 and 1) is whole; the second needs chunk 3
  EXPECT_EQ(ids_of(reader.next_batch()), std::vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  reader.next_batch();
  try {
    reader.next_batch();
    FAIL() << "a truncated chunk was read";
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("reading the spilled training rows failed"), std::string::npos) << message;
    EXPECT_NE(message.find("is truncated: chunk 3"), std::string::npos) << message;
  }
  EXPECT_THROW(reader.next_batch(), std::runtime_error);
}

TEST(SpillReader, RejectsAFileThatIsNotItsOwn) {
  SpilledRows spilled = spill(10, 4);
  ASSERT_EQ(ftruncate(spilled.file->fd(), 12), 0);
  EXPECT_THROW(ChunkedBatchReader(std::move(spilled), 4, true, false, 0, 2), std::runtime_error);
}

TEST(SpillReader, ThreadBlocksSignalsAndLeavesTheCallersMask) {
  sigset_t before, after;
  pthread_sigmask(SIG_BLOCK, nullptr, &before);
  ChunkedBatchReader reader(spill(10, 4), 4, true, false, 0, 2);
  pthread_sigmask(SIG_BLOCK, nullptr, &after);
  for (int signal = 1; signal < SIGRTMIN; ++signal)
    EXPECT_EQ(sigismember(&before, signal), sigismember(&after, signal)) << "signal " << signal;

  uint64_t blocked = blocked_signals_of_thread("pinnacle-spill");
  for (int signal : {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCHLD})
    EXPECT_TRUE(blocked & (uint64_t{1} << (signal - 1))) << "signal " << signal;
}
