#include "spill.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace pinnacle {

namespace {

constexpr char kMagic[8] = {'P', 'T', 'S', 'P', 'I', 'L', 'L', '1'};
constexpr int64_t kRowWidthAt = 8;
constexpr int64_t kRowsAt = 16;
// Rows of this many consecutive chunks (in the epoch's chunk order) are shuffled together.
constexpr size_t kWindowChunks = 2;
// Independent random streams drawn from the one seed.
constexpr uint32_t kChunkOrderStream = 1;
constexpr uint32_t kRowOrderStream = 2;

[[noreturn]] void throw_io_error(const std::string& doing, const std::string& path, int error) {
  throw std::runtime_error(doing + " the spill file " + path + ": " + std::generic_category().message(error));
}

void write_at(const SpillFile& file, const void* data, size_t size, int64_t offset) {
  const char* from = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = pwrite(file.fd(), from, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error("writing", file.path(), errno);
    from += n;
    size -= n;
    offset += n;
  }
}

// Reads `size` bytes at `offset`, or fewer where the file ends; returns how many.
size_t read_at(const SpillFile& file, void* data, size_t size, int64_t offset) {
  char* to = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(file.fd(), to + done, size - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_io_error("reading", file.path(), errno);
    if (n == 0) break;
    done += n;
  }
  return done;
}

template <typename T>
void append_value(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

std::string header(const std::vector<std::string>& column_names, int64_t chunk_rows) {
  std::string out(kMagic, sizeof kMagic);
  append_value(out, int64_t{0});  // row width and rows, filled in by finish()
  append_value(out, int64_t{0});
  append_value(out, chunk_rows);
  append_value(out, static_cast<uint32_t>(column_names.size()));
  for (const std::string& name : column_names) {
    append_value(out, static_cast<uint32_t>(name.size()));
    out += name;
  }
  return out;
}

std::mt19937_64 seeded(uint64_t seed, uint32_t stream) {
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), stream};
  return std::mt19937_64(sequence);
}

int64_t positive(int64_t value, const char* name) {
  if (value < 1) throw std::invalid_argument(std::string(name) + " must be positive, not " + std::to_string(value));
  return value;
}

// Blocks every signal in the calling thread while it lives. A thread started meanwhile
// inherits the full mask, so that PostgreSQL's signal handlers only ever run on the main thread.
class BlockedSignals {
 public:
  BlockedSignals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~BlockedSignals() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace

SpillFile::SpillFile(const std::filesystem::path& directory) {
  std::string name = (directory / "pinnacle_spill_XXXXXX").string();
  fd_ = mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) throw_io_error("creating", name, errno);
  path_ = name;
  // Nameless from now on: the disk space goes back when the descriptor closes, even when
  // the process is killed.
  if (unlink(name.c_str()) != 0) {
    int error = errno;
    close(fd_);
    throw_io_error("unlinking", name, error);
  }
}

SpillFile::~SpillFile() { close(fd_); }

SpillWriter::SpillWriter(const std::vector<std::string>& column_names, int64_t chunk_rows,
                         const std::filesystem::path& directory)
    : chunk_rows_(positive(chunk_rows, "the rows per spill chunk")) {
  spilled_.file = std::make_unique<SpillFile>(directory);
  std::string head = header(column_names, chunk_rows_);
  write_at(*spilled_.file, head.data(), head.size(), 0);
  end_ = static_cast<int64_t>(head.size());
}

int64_t SpillWriter::buffered_rows() const {
  return spilled_.row_width == 0 ? 0 : static_cast<int64_t>(buffer_.size()) / spilled_.row_width;
}

void SpillWriter::append_row(const float* values, int64_t row_width) { append_rows(values, 1, row_width); }

void SpillWriter::append_rows(const float* data, int64_t rows, int64_t row_width) {
  if (finished_) throw std::logic_error("SpillWriter: rows appended after finish()");
  positive(row_width, "a spilled row's width");
  if (spilled_.row_width != 0 && row_width != spilled_.row_width)
    throw std::invalid_argument("SpillWriter: a row of " + std::to_string(row_width) + " values, the first row had " +
                                std::to_string(spilled_.row_width));
  spilled_.row_width = row_width;
  while (rows > 0) {
    int64_t n = std::min(rows, chunk_rows_ - buffered_rows());
    buffer_.insert(buffer_.end(), data, data + n * row_width);
    data += n * row_width;
    rows -= n;
    if (buffered_rows() == chunk_rows_) flush_chunk();
  }
}

void SpillWriter::flush_chunk() {
  int64_t bytes = static_cast<int64_t>(buffer_.size() * sizeof(float));
  write_at(*spilled_.file, buffer_.data(), bytes, end_);
  spilled_.chunk_rows.push_back(buffered_rows());
  spilled_.chunk_offsets.push_back(end_);
  spilled_.rows += buffered_rows();
  end_ += bytes;
  buffer_.clear();
}

SpilledRows SpillWriter::finish() {
  if (finished_) throw std::logic_error("SpillWriter: finish() called twice");
  if (buffered_rows() > 0) flush_chunk();
  write_at(*spilled_.file, &spilled_.row_width, sizeof spilled_.row_width, kRowWidthAt);
  write_at(*spilled_.file, &spilled_.rows, sizeof spilled_.rows, kRowsAt);
  finished_ = true;
  std::vector<float>().swap(buffer_);
  return std::move(spilled_);
}

ChunkedBatchReader::Chunk::Chunk(Counter& counter, size_t values, int64_t first_row)
    : values(values), first_row(first_row), counter_(&counter) {
  int64_t now = ++counter.now;
  int64_t peak = counter.peak;
  while (now > peak && !counter.peak.compare_exchange_weak(peak, now)) {
  }
}

ChunkedBatchReader::Chunk::Chunk(Chunk&& other) noexcept
    : values(std::move(other.values)), first_row(other.first_row), counter_(std::exchange(other.counter_, nullptr)) {}

ChunkedBatchReader::Chunk::~Chunk() {
  if (counter_) --counter_->now;
}

ChunkedBatchReader::ChunkedBatchReader(SpilledRows spilled, int64_t batch_size, bool shuffle, bool drop_last,
                                       uint64_t seed, int64_t prefetch_factor)
    : spilled_(std::move(spilled)),
      batch_size_(positive(batch_size, "batch_size")),
      shuffle_(shuffle),
      drop_last_(drop_last),
      seed_(seed),
      prefetch_factor_(positive(prefetch_factor, "prefetch_factor")),
      row_rng_(seeded(seed, kRowOrderStream)),
      rows_left_in_epoch_(spilled_.training_rows()) {
  if (!spilled_.file || rows() == 0) throw std::invalid_argument("ChunkedBatchReader: no spilled rows");
  if (drop_last_ && rows() < batch_size_)
    throw std::invalid_argument("drop_last: the " + std::to_string(rows()) +
                                " rows do not fill one batch of " + std::to_string(batch_size_));
  check_header();
  int64_t first_row = 0;
  for (int64_t rows_in_chunk : spilled_.chunk_rows) {
    chunk_first_row_.push_back(first_row);
    first_row += rows_in_chunk;
  }
  window_.reserve(kWindowChunks);
  start_reading_thread();
}

ChunkedBatchReader::~ChunkedBatchReader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  room_.notify_all();
  pthread_join(thread_, nullptr);
}

// The thread only reads and queues chunks: a small stack does. A default one (8 MB) would
// take that much of compute_kwargs.memory_limit, which the trainer's RLIMIT_DATA enforces.
void ChunkedBatchReader::start_reading_thread() {
  constexpr size_t kStackBytes = 256 << 10;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, kStackBytes);
  auto body = [](void* reader) -> void* {
    static_cast<ChunkedBatchReader*>(reader)->read_ahead();
    return nullptr;
  };
  int failed;
  {
    BlockedSignals blocked;
    failed = pthread_create(&thread_, &attributes, body, this);
  }
  pthread_attr_destroy(&attributes);
  if (failed == EAGAIN || failed == ENOMEM) throw std::bad_alloc();  // no memory left for its stack
  if (failed) throw std::system_error(failed, std::generic_category(), "starting the spill reading thread");
  pthread_setname_np(thread_, "pinnacle-spill");  // for ps and top; best effort
}

// Catches a SpilledRows that does not describe its file before any batch is promised.
void ChunkedBatchReader::check_header() const {
  char head[kRowsAt + sizeof(int64_t)];
  int64_t row_width, rows;
  bool whole = read_at(*spilled_.file, head, sizeof head, 0) == sizeof head;
  std::memcpy(&row_width, head + kRowWidthAt, sizeof row_width);
  std::memcpy(&rows, head + kRowsAt, sizeof rows);
  if (!whole || std::memcmp(head, kMagic, sizeof kMagic) != 0 || row_width != spilled_.row_width ||
      rows != spilled_.rows)
    throw std::runtime_error("the spill file " + spilled_.file->path() + " does not hold the " +
                             std::to_string(spilled_.rows) + " rows it was written with");
}

int64_t ChunkedBatchReader::batches_per_epoch() const {
  return drop_last_ ? rows() / batch_size_ : (rows() + batch_size_ - 1) / batch_size_;
}

// The thread's body: nothing may escape it, a failure is handed to the trainer's thread.
void ChunkedBatchReader::read_ahead() noexcept {
  try {
    read_epochs();
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("an unknown error");
  }
}

void ChunkedBatchReader::fail(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = message;
  }
  ready_.notify_all();
}

// Queues the chunks epoch after epoch, each epoch in its own order, until stopped. Running
// on into the next epoch keeps its first chunks ready when the trainer gets there.
void ChunkedBatchReader::read_epochs() {
  std::mt19937_64 rng = seeded(seed_, kChunkOrderStream);
  std::vector<size_t> order(spilled_.chunk_rows.size());
  for (;;) {
    std::iota(order.begin(), order.end(), 0);
    if (shuffle_) std::shuffle(order.begin(), order.end(), rng);
    for (size_t index : order) {
      if (!wait_for_room()) return;
      Chunk chunk = read_chunk(index);
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(chunk));
      ready_.notify_one();
    }
  }
}

// Waits until a chunk more can be read without passing prefetch_factor; false once stopped.
bool ChunkedBatchReader::wait_for_room() {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [this] { return stop_ || queue_.size() < prefetch_factor_; });
  return !stop_;
}

void read_chunk(const SpilledRows& spilled, size_t index, float* out) {
  size_t bytes = spilled.chunk_rows[index] * spilled.row_width * sizeof(float);
  int64_t offset = spilled.chunk_offsets[index];
  size_t got = read_at(*spilled.file, out, bytes, offset);
  if (got < bytes)
    throw std::runtime_error("the spill file " + spilled.file->path() + " is truncated: chunk " +
                             std::to_string(index) + " at byte " + std::to_string(offset) + " has " +
                             std::to_string(got) + " of its " + std::to_string(bytes) + " bytes");
}

void for_each_chunk(const SpilledRows& spilled, const std::function<void(const torch::Tensor&)>& visit) {
  std::vector<float> values;
  int64_t first_row = 0;
  for (size_t i = 0; i < spilled.chunk_rows.size(); ++i) {
    values.resize(spilled.chunk_rows[i] * spilled.row_width);
    read_chunk(spilled, i, values.data());
    int64_t kept = 0;  // the training rows, moved to the front
    for (int64_t r = 0; r < spilled.chunk_rows[i]; ++r)
      if (!spilled.is_held_out(first_row + r) && kept++ != r)
        std::memmove(&values[(kept - 1) * spilled.row_width], &values[r * spilled.row_width],
                     spilled.row_width * sizeof(float));
    first_row += spilled.chunk_rows[i];
    if (kept > 0) visit(torch::from_blob(values.data(), {kept, spilled.row_width}, torch::kFloat32));
  }
}

ChunkedBatchReader::Chunk ChunkedBatchReader::read_chunk(size_t index) {
  Chunk chunk(loaded_, spilled_.chunk_rows[index] * spilled_.row_width, chunk_first_row_[index]);
  pinnacle::read_chunk(spilled_, index, chunk.values.data());
  return chunk;
}

ChunkedBatchReader::Chunk ChunkedBatchReader::take_chunk() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [this] { return !queue_.empty() || !error_.empty(); });
  // The chunks read before a failure are still good: the error comes where they end.
  if (queue_.empty()) throw std::runtime_error("reading the spilled training rows failed: " + error_);
  Chunk chunk = std::move(queue_.front());
  queue_.pop_front();
  room_.notify_one();
  return chunk;
}

// Takes the epoch's next chunks (two, or the one left) and orders their rows. A window never
// spans two epochs, so that every row comes once per epoch.
void ChunkedBatchReader::load_window() {
  window_rows_.clear();
  window_.clear();  // before taking the next chunks: that keeps the memory bound
  next_in_window_ = 0;
  if (chunks_left_in_epoch_ == 0) chunks_left_in_epoch_ = spilled_.chunk_rows.size();
  size_t take = std::min(kWindowChunks, chunks_left_in_epoch_);
  for (size_t i = 0; i < take; ++i) window_.push_back(take_chunk());
  chunks_left_in_epoch_ -= take;
  for (const Chunk& chunk : window_)
    for (size_t at = 0, row = chunk.first_row; at < chunk.values.size(); at += spilled_.row_width, ++row)
      if (!spilled_.is_held_out(static_cast<int64_t>(row))) window_rows_.push_back(&chunk.values[at]);
  if (shuffle_) std::shuffle(window_rows_.begin(), window_rows_.end(), row_rng_);
}

const float* ChunkedBatchReader::next_row() {
  while (next_in_window_ == window_rows_.size()) load_window();  // a window may hold only validation rows
  return window_rows_[next_in_window_++];
}

// Skips the rows that drop_last leaves out, so that the next epoch starts at its first chunk.
void ChunkedBatchReader::start_next_epoch() {
  for (; rows_left_in_epoch_ > 0; --rows_left_in_epoch_) next_row();
  rows_left_in_epoch_ = rows();
  ++epoch_;
}

torch::Tensor ChunkedBatchReader::next_batch() {
  if (rows_left_in_epoch_ == 0 || (drop_last_ && rows_left_in_epoch_ < batch_size_)) start_next_epoch();
  int64_t take = std::min(batch_size_, rows_left_in_epoch_);
  int64_t width = spilled_.row_width;
  torch::Tensor batch = torch::empty({take, width}, torch::kFloat32);
  float* out = batch.data_ptr<float>();
  for (int64_t i = 0; i < take; ++i) std::memcpy(out + i * width, next_row(), width * sizeof(float));
  rows_left_in_epoch_ -= take;
  return batch;
}

}  // namespace pinnacle
