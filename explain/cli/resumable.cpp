// explain/cli/resumable.h: the partial .npy and its progress record.
#include "explain/cli/resumable.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "models/io/npy.h"

namespace xdnn::cli {

namespace {

constexpr int kRecordVersion = 1;

std::string start_over_hint(const std::string& out) {
  return "to start over, delete " + ResumableNpy::record_path(out) + " and " + ResumableNpy::partial_path(out);
}

Error record_error(const std::string& out, const std::string& what) {
  return Error(ResumableNpy::record_path(out) + ": " + what, start_over_hint(out));
}

std::string dtype_text(DType d) { return dtype_name(d); }

DType dtype_from_text(const std::string& s, const std::string& out) {
  for (DType d : {DType::F32, DType::F64, DType::I64})
    if (s == dtype_name(d)) return d;
  throw record_error(out, "unknown dtype '" + s + "' in the progress record");
}

// The chunk count at which XDNN_STOP_AFTER_CHUNKS stops this process; 0: never.
int stop_after_chunks() {
  const char* v = std::getenv("XDNN_STOP_AFTER_CHUNKS");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long k = std::strtol(v, &end, 10);
  if (*end != '\0' || k < 1 || k > 1000000)
    throw Error("XDNN_STOP_AFTER_CHUNKS: expected a chunk count >= 1, got '" + std::string(v) + "'");
  return static_cast<int>(k);
}

}  // namespace

ResumableNpy::ResumableNpy(std::string out, std::map<std::string, std::string> key, int64_t rows_total,
                           bool resume_requested)
    : out_(std::move(out)),
      partial_(partial_path(out_)),
      record_(record_path(out_)),
      key_(std::move(key)),
      rows_total_(rows_total),
      stop_after_(stop_after_chunks()) {
  key_["rows"] = std::to_string(rows_total_);
  struct stat st {};
  if (::stat(record_.c_str(), &st) == 0) {
    read_record();
    std::fprintf(stderr, "resuming %s: %lld of %lld rows were done (%s)\n", out_.c_str(),
                 static_cast<long long>(rows_done_), static_cast<long long>(rows_total_), record_.c_str());
  } else if (resume_requested) {
    std::fprintf(stderr, "--resume: no progress record %s; starting from the first row\n", record_.c_str());
  }
}

namespace {

// The record of `out`, checked against `key` (every field equal, no other field): a record of another
// run is refused even when its numbers look fine.
nlohmann::json read_checked_record(const std::string& out, const std::map<std::string, std::string>& key) {
  std::ifstream in(ResumableNpy::record_path(out), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw record_error(out, "cannot read the progress record");
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw record_error(out, "malformed progress record (not valid JSON)");
  try {
    if (!j.is_object() || j.value("xdnn_progress", 0) != kRecordVersion)
      throw record_error(out, "not an xdnn progress record (version " + std::to_string(kRecordVersion) + ")");
    const nlohmann::json& k = j.at("key");
    for (const auto& [name, value] : key) {
      if (!k.contains(name)) throw record_error(out, "the record lacks the run's '" + name + "'");
      const std::string recorded = k.at(name).get<std::string>();
      if (recorded != value)
        throw record_error(out, "the recorded run's " + name + " is '" + recorded + "', this run's is '" + value +
                                    "': refusing to mix two runs");
    }
    if (k.size() != key.size()) throw record_error(out, "its run key has fields this run does not know");
  } catch (const nlohmann::json::exception& e) {
    throw record_error(out, std::string("malformed progress record (") + e.what() + ")");
  }
  return j;
}

// Writes `bytes` at `offset` of `path` (created; emptied first when `fresh`) and fsyncs it.
void write_at(const std::string& path, std::string_view bytes, int64_t offset, bool fresh) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0666);
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  bool ok = true;
  while (ok && !bytes.empty()) {
    const ssize_t w = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) {
      bytes.remove_prefix(static_cast<size_t>(w));
      offset += w;
    }
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) throw Error(path + ": write failed: " + std::strerror(saved));
}

}  // namespace

void ResumableNpy::read_record() {
  const nlohmann::json j = read_checked_record(out_, key_);
  try {
    rows_done_ = j.at("rows_done").get<int64_t>();
    if (rows_done_ < 0 || rows_done_ > rows_total_)
      throw record_error(
          out_, "rows_done " + std::to_string(rows_done_) + " is outside [0, " + std::to_string(rows_total_) + "]");
    if (rows_done_ > 0) {
      dtype_ = dtype_from_text(j.at("dtype").get<std::string>(), out_);
      row_shape_ = j.at("row_shape").get<Shape>();
      for (int64_t d : row_shape_)
        if (d < 0) throw record_error(out_, "negative row_shape entry");
      have_layout_ = true;
    }
  } catch (const nlohmann::json::exception& e) {
    throw record_error(out_, std::string("malformed progress record (") + e.what() + ")");
  }
  if (rows_done_ == 0) return;
  // The partial file must hold the header of the final shape and at least the recorded rows; anything
  // after them is the torn tail of an interrupted append, cut off here.
  Shape full = row_shape_;
  full.insert(full.begin(), rows_total_);
  const std::string header = npy_header(full, dtype_);
  header_bytes_ = static_cast<int64_t>(header.size());
  std::ifstream p(partial_, std::ios::binary);
  if (!p) throw record_error(out_, "the partial output " + partial_ + " is missing");
  std::string have(header.size(), '\0');
  p.read(have.data(), static_cast<std::streamsize>(have.size()));
  if (!p || have != header)
    throw record_error(out_, "the header of " + partial_ + " does not match the recorded shape " + shape_str(full));
  p.close();
  const int64_t valid = header_bytes_ + rows_done_ * row_bytes();
  struct stat st {};
  if (::stat(partial_.c_str(), &st) != 0 || st.st_size < valid)
    throw record_error(out_, partial_ + " holds fewer bytes than the " + std::to_string(rows_done_) + " recorded rows");
  if (st.st_size > valid && ::truncate(partial_.c_str(), valid) != 0)
    throw Error(partial_ + ": cannot cut it back to the recorded rows: " + std::strerror(errno));
}

int64_t ResumableNpy::row_bytes() const {
  int64_t n = static_cast<int64_t>(dtype_size(dtype_));
  for (int64_t d : row_shape_) n *= d;
  return n;
}

void ResumableNpy::write_record() const {
  nlohmann::json j;
  j["xdnn_progress"] = kRecordVersion;
  j["output"] = out_;
  j["rows_total"] = rows_total_;
  j["rows_done"] = rows_done_;
  j["dtype"] = dtype_text(dtype_);
  j["row_shape"] = row_shape_;
  j["key"] = key_;
  write_file_atomic(record_, {j.dump(1) + "\n"});
}

void ResumableNpy::append(std::string_view bytes, int64_t n, const Shape& row_shape, DType dtype) {
  if (n < 1) return;
  if (rows_done_ + n > rows_total_)
    throw Error(out_ + ": " + std::to_string(rows_done_ + n) + " rows for an output of " + std::to_string(rows_total_));
  if (have_layout_ && (row_shape != row_shape_ || dtype != dtype_))
    throw record_error(out_, "rows of " + dtype_text(dtype) + " " + shape_str(row_shape) + " do not continue rows of " +
                                 dtype_text(dtype_) + " " + shape_str(row_shape_));
  const bool fresh = rows_done_ == 0;
  row_shape_ = row_shape;
  dtype_ = dtype;
  have_layout_ = true;
  if (static_cast<int64_t>(bytes.size()) != n * row_bytes())
    throw Error(out_ + ": " + std::to_string(bytes.size()) + " bytes for " + std::to_string(n) + " rows of " +
                shape_str(row_shape) + " " + dtype_text(dtype));
  // Header (first chunk only) and rows at their place, whatever the file held after them.
  if (fresh) {
    Shape full = row_shape_;
    full.insert(full.begin(), rows_total_);
    const std::string header = npy_header(full, dtype_);
    header_bytes_ = static_cast<int64_t>(header.size());
    write_at(partial_, header, 0, /*fresh=*/true);
  }
  write_at(partial_, bytes, header_bytes_ + rows_done_ * row_bytes(), /*fresh=*/false);
  rows_done_ += n;
  write_record();  // only now do the new rows count
  ++chunks_this_run_;
  if (stop_after_ > 0 && chunks_this_run_ >= stop_after_ && rows_done_ < rows_total_)
    throw Error("stopped after " + std::to_string(chunks_this_run_) + " chunk(s) (" + std::to_string(rows_done_) +
                    " of " + std::to_string(rows_total_) + " rows) as XDNN_STOP_AFTER_CHUNKS asks",
                "run the same command again to resume");
}

void ResumableNpy::finish() {
  if (rows_done_ != rows_total_)
    throw Error(out_ + ": " + std::to_string(rows_done_) + " of " + std::to_string(rows_total_) + " rows written");
  // Record first: a kill between the two steps leaves a partial file without a record, which the next
  // run overwrites, never a record pointing at a file that is gone.
  if (::unlink(record_.c_str()) != 0 && errno != ENOENT)
    throw Error(record_ + ": cannot remove the progress record: " + std::strerror(errno));
  if (::rename(partial_.c_str(), out_.c_str()) != 0)
    throw Error(out_ + ": cannot rename " + partial_ + " to it: " + std::strerror(errno));
}

ResumableText::ResumableText(std::string out, std::map<std::string, std::string> key, int64_t rows_total,
                             bool resume_requested)
    : out_(std::move(out)),
      partial_(ResumableNpy::partial_path(out_)),
      record_(ResumableNpy::record_path(out_)),
      key_(std::move(key)),
      rows_total_(rows_total),
      stop_after_(stop_after_chunks()) {
  key_["rows"] = std::to_string(rows_total_);
  struct stat st {};
  if (::stat(record_.c_str(), &st) != 0) {
    if (resume_requested)
      std::fprintf(stderr, "--resume: no progress record %s; starting from the first row\n", record_.c_str());
    return;
  }
  const nlohmann::json j = read_checked_record(out_, key_);
  try {
    rows_done_ = j.at("rows_done").get<int64_t>();
    bytes_done_ = j.at("bytes_done").get<int64_t>();
    numbers_ = j.at("numbers").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw record_error(out_, std::string("malformed progress record (") + e.what() + ")");
  }
  if (rows_done_ < 0 || rows_done_ > rows_total_ || bytes_done_ < 0)
    throw record_error(out_, "rows_done " + std::to_string(rows_done_) + " or bytes_done " +
                                 std::to_string(bytes_done_) + " is out of range");
  std::ifstream p(partial_, std::ios::binary);
  if (!p) throw record_error(out_, "the partial output " + partial_ + " is missing");
  text_done_.resize(static_cast<size_t>(bytes_done_));
  p.read(text_done_.data(), bytes_done_);
  if (p.gcount() != bytes_done_)
    throw record_error(out_, partial_ + " holds fewer bytes than the " + std::to_string(rows_done_) + " recorded rows");
  std::fprintf(stderr, "resuming %s: %lld of %lld rows were done (%s)\n", out_.c_str(),
               static_cast<long long>(rows_done_), static_cast<long long>(rows_total_), record_.c_str());
}

void ResumableText::append(std::string_view text, int64_t rows_done_now, const std::vector<double>& numbers) {
  check(rows_done_now >= rows_done_ && rows_done_now <= rows_total_, "ResumableText: rows out of order");
  write_at(partial_, text, bytes_done_, /*fresh=*/bytes_done_ == 0);
  rows_done_ = rows_done_now;
  bytes_done_ += static_cast<int64_t>(text.size());
  numbers_ = numbers;
  nlohmann::json j;
  j["xdnn_progress"] = kRecordVersion;
  j["output"] = out_;
  j["rows_total"] = rows_total_;
  j["rows_done"] = rows_done_;
  j["bytes_done"] = bytes_done_;
  j["numbers"] = numbers_;
  j["key"] = key_;
  write_file_atomic(record_, {j.dump(1) + "\n"});  // only now do the new rows count
  ++chunks_this_run_;
  if (stop_after_ > 0 && chunks_this_run_ >= stop_after_ && rows_done_ < rows_total_)
    throw Error("stopped after " + std::to_string(chunks_this_run_) + " chunk(s) (" + std::to_string(rows_done_) +
                    " of " + std::to_string(rows_total_) + " rows) as XDNN_STOP_AFTER_CHUNKS asks",
                "run the same command again to resume");
}

void ResumableText::discard() {
  if (::unlink(record_.c_str()) != 0 && errno != ENOENT)
    throw Error(record_ + ": cannot remove the progress record: " + std::strerror(errno));
  ::unlink(partial_.c_str());  // gone already is fine
}

}  // namespace xdnn::cli
