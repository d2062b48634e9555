// A .npy output written chunk by chunk, so that a run over a whole data set that is killed halfway
// continues where it stopped (`xdnn explain --resume`, or by default when the progress record exists).
//
// Files next to the output OUT:
//   OUT.partial        the .npy being written: the header with the final shape (N, ...) first, then the
//                      rows of each finished chunk appended in order and fsynced
//   OUT.progress.json  the progress record, rewritten atomically (temporary file + rename) after each
//                      chunk's rows are on disk: how many rows of OUT.partial are valid, the row shape
//                      and dtype, and a key describing the run (input and model hashes, options)
// A resumed run checks the record against its own key and refuses, in one line naming the difference,
// to mix two runs; it cuts OUT.partial back to the recorded rows (a kill during an append leaves a torn
// tail) and goes on. When the last rows are in, the record is removed and OUT.partial renamed over OUT:
// the result is bit for bit the file an uninterrupted run writes.
//
// Testing hook: XDNN_STOP_AFTER_CHUNKS=k ends the run with an error after k chunks of this process have
// been recorded (a kill at a known point; tests/cli_resume.sh).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::cli {

class ResumableNpy {
 public:
  // out: the final path; key: what must match for a resume (e.g. {"input": hash, "options": text});
  // rows_total: N, the rows of the finished array; resume_requested: --resume (a record is used without
  // it too; with it and no record, the run starts from row 0 and says so).
  ResumableNpy(std::string out, std::map<std::string, std::string> key, int64_t rows_total, bool resume_requested);

  int64_t rows_done() const { return rows_done_; }
  // (rows_total, row_shape...) once the row shape is known (a record or the first append).
  Shape shape() const {
    Shape s = row_shape_;
    s.insert(s.begin(), rows_total_);
    return s;
  }

  // Appends `rows` (n, row_shape...) rows of `dtype` given as raw bytes (n · row bytes), the rows
  // [rows_done, rows_done + n) of the output; fsyncs them, then records the new count.
  void append(std::string_view bytes, int64_t n, const Shape& row_shape, DType dtype);

  // After the last row: removes the record and renames OUT.partial to OUT.
  void finish();

  static std::string partial_path(const std::string& out) { return out + ".partial"; }
  static std::string record_path(const std::string& out) { return out + ".progress.json"; }

 private:
  void read_record();
  void write_record() const;
  int64_t row_bytes() const;

  std::string out_, partial_, record_;
  std::map<std::string, std::string> key_;
  int64_t rows_total_ = 0, rows_done_ = 0;
  Shape row_shape_;
  DType dtype_ = DType::F32;
  bool have_layout_ = false;  // row_shape_ and dtype_ known (from the record or the first append)
  int64_t header_bytes_ = 0;
  int chunks_this_run_ = 0;
  int stop_after_ = 0;  // XDNN_STOP_AFTER_CHUNKS; 0: never
};

// The same for an output assembled from text rows (`xdnn report`: one HTML table row per sample): OUT.partial
// holds the rows' text appended pass by pass, the record how many rows and bytes of it are valid and a few
// numbers the page shows (each method's seconds so far). The caller writes OUT itself (head + rows +
// tail, atomically) and then calls discard().
class ResumableText {
 public:
  ResumableText(std::string out, std::map<std::string, std::string> key, int64_t rows_total, bool resume_requested);

  int64_t rows_done() const { return rows_done_; }
  const std::string& text_done() const { return text_done_; }      // the valid text of OUT.partial
  const std::vector<double>& numbers() const { return numbers_; }  // as recorded by the last append

  // Appends `text`, the rows up to `rows_done_now`, and records them with `numbers`.
  void append(std::string_view text, int64_t rows_done_now, const std::vector<double>& numbers);
  // After OUT is written: removes the record and OUT.partial.
  void discard();

 private:
  std::string out_, partial_, record_;
  std::map<std::string, std::string> key_;
  int64_t rows_total_ = 0, rows_done_ = 0, bytes_done_ = 0;
  std::string text_done_;
  std::vector<double> numbers_;
  int chunks_this_run_ = 0, stop_after_ = 0;
};

}  // namespace xdnn::cli
