// Training rows streamed from a temporary file, for a spec with "in_memory": false.
//
// How the trainer uses them:
//   SpillWriter writer(column_names, prefetch_size);           // prefetch_size = rows per chunk
//   writer.append_row(values, row_width);                       // per decoded row (or append_rows)
//   ChunkedBatchReader reader(writer.finish(), batch_size, shuffle, drop_last, seed, prefetch_factor);
//   torch::Tensor rows = reader.next_batch();                   // per step: (batch x row_width) float32
// next_batch() never returns an undefined tensor: after the last batch of an epoch the next
// call starts the next epoch, as the in-memory Trainer::next_batch() does; reader.epoch()
// says which epoch the latest batch came from. Call the reader from one thread only.
//
// Rows held out as validation rows (validation.split) stay in the file, marked in
// SpilledRows::held_out; the reader and for_each_chunk pass over them.
//
// Shuffling is coarser than in memory: each epoch visits the chunks in a new seeded order and
// shuffles the rows of each two consecutive chunks together, so larger chunks mix better.
//
// The file is unlinked as soon as it is created and lives only as an open descriptor, so no
// file survives the process however it ends; its disk space is freed when the reader (or an
// unfinished writer) is destroyed.
//
// File format (host byte order; the file never leaves this process):
//   offset 0   char[8]  "PTSPILL1"
//   offset 8   int64    row width in floats (written by finish())
//   offset 16  int64    total rows (written by finish())
//   offset 24  int64    rows per chunk
//   offset 32  uint32   column count, then per column: uint32 byte length, name bytes
//   then the chunks back to back, each `rows per chunk` row-major float32 rows (the last
//   one may be shorter). SpilledRows keeps the chunks' offsets and row counts in memory.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "batch_source.hpp"

namespace pinnacle {

// An open temporary file whose name is already unlinked; the descriptor closes with it.
class SpillFile {
 public:
  explicit SpillFile(const std::filesystem::path& directory);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }  // the name it had, for messages

 private:
  int fd_;
  std::string path_;
};

// What SpillWriter::finish() wrote; move it into a ChunkedBatchReader.
struct SpilledRows {
  std::unique_ptr<SpillFile> file;
  int64_t row_width = 0;
  int64_t rows = 0;
  std::vector<int64_t> chunk_rows;     // rows of each chunk, in file order
  std::vector<int64_t> chunk_offsets;  // byte offset of each chunk in the file
  std::vector<bool> held_out;          // by row number; empty when none is
  int64_t held_out_rows = 0;

  int64_t training_rows() const { return rows - held_out_rows; }
  bool is_held_out(int64_t row) const { return !held_out.empty() && held_out[row]; }
};

// Reads chunk `index` (chunk_rows[index] x row_width floats) into `out`; throws naming the
// file when it is shorter.
void read_chunk(const SpilledRows& spilled, size_t index, float* out);

// Reads the chunks once, in file order, one at a time: `visit` gets the training rows of each
// as a (rows x row_width) tensor valid during the call (e.g. to fit a transform on them).
void for_each_chunk(const SpilledRows& spilled, const std::function<void(const torch::Tensor&)>& visit);

class SpillWriter {
 public:
  // Holds one chunk of `chunk_rows` rows in memory at a time.
  SpillWriter(const std::vector<std::string>& column_names, int64_t chunk_rows,
              const std::filesystem::path& directory = std::filesystem::temp_directory_path());

  // The first row fixes the row width; a row of another width throws std::invalid_argument.
  void append_row(const float* values, int64_t row_width);
  void append_rows(const float* data, int64_t rows, int64_t row_width);
  int64_t rows() const { return spilled_.rows + buffered_rows(); }

  // Writes the last, partial chunk; the writer takes no rows after this.
  SpilledRows finish();

 private:
  int64_t buffered_rows() const;
  void flush_chunk();

  int64_t chunk_rows_;
  SpilledRows spilled_;
  int64_t end_ = 0;  // where the next chunk goes
  std::vector<float> buffer_;
  bool finished_ = false;
};

class ChunkedBatchReader : public BatchSource {
 public:
  // Keeps up to `prefetch_factor` chunks read ahead by a background thread, plus the two
  // chunks whose rows are being shuffled together: at most prefetch_factor + 2 chunks in memory.
  // Throws std::invalid_argument when there are no rows, or drop_last leaves no batch.
  ChunkedBatchReader(SpilledRows spilled, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed,
                     int64_t prefetch_factor);
  // Stops and joins the reading thread, even mid-epoch, and closes the file.
  ~ChunkedBatchReader() override;
  ChunkedBatchReader(const ChunkedBatchReader&) = delete;
  ChunkedBatchReader& operator=(const ChunkedBatchReader&) = delete;

  // The next (batch x row_width) float32 batch; rolls over into the next epoch. The last batch
  // of an epoch is smaller unless drop_last. Throws std::runtime_error when reading failed.
  torch::Tensor next_batch() override;

  int64_t epoch() const { return epoch_; }  // of the latest batch, from 0
  int64_t batches_per_epoch() const;
  int64_t rows() const { return spilled_.training_rows(); }  // per epoch
  int64_t row_width() const { return spilled_.row_width; }

  // Chunk buffers in memory now (being read, queued or being shuffled) and at most so far.
  int64_t chunks_loaded() const { return loaded_.now; }
  int64_t peak_chunks_loaded() const { return loaded_.peak; }

 private:
  // Chunk buffers alive, for the memory bound.
  struct Counter {
    std::atomic<int64_t> now{0};
    std::atomic<int64_t> peak{0};
  };
  // One chunk's rows in memory, counted while it lives.
  class Chunk {
   public:
    Chunk(Counter& counter, size_t values, int64_t first_row);
    Chunk(Chunk&& other) noexcept;
    Chunk& operator=(Chunk&&) = delete;
    ~Chunk();
    std::vector<float> values;
    int64_t first_row;  // its first row's number in the file

   private:
    Counter* counter_;
  };

  void check_header() const;
  void start_reading_thread();
  // the reading thread
  void read_ahead() noexcept;
  void read_epochs();
  bool wait_for_room();
  Chunk read_chunk(size_t index);
  void fail(const std::string& message);
  // the trainer's thread
  Chunk take_chunk();
  void load_window();
  const float* next_row();
  void start_next_epoch();

  SpilledRows spilled_;
  std::vector<int64_t> chunk_first_row_;
  int64_t batch_size_;
  bool shuffle_;
  bool drop_last_;
  uint64_t seed_;
  size_t prefetch_factor_;
  Counter loaded_;  // before the chunks: they count down into it as they are destroyed

  // Shared with the reading thread, under mutex_.
  std::mutex mutex_;
  std::condition_variable room_;   // the thread waits for a free queue slot
  std::condition_variable ready_;  // the trainer waits for a chunk
  std::deque<Chunk> queue_;
  bool stop_ = false;
  std::string error_;  // non-empty once the thread failed
  pthread_t thread_;

  // The trainer's side.
  std::mt19937_64 row_rng_;
  std::vector<Chunk> window_;
  std::vector<const float*> window_rows_;  // in the order they are handed out
  size_t next_in_window_ = 0;
  size_t chunks_left_in_epoch_ = 0;
  int64_t rows_left_in_epoch_;
  int64_t epoch_ = 0;
};

}  // namespace pinnacle
