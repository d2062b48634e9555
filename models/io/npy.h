// NumPy .npy files: the array format of the golden cases and of `xdnn explain --out`.
//
// Format (numpy/lib/format.py, "NEP 1"): magic "\x93NUMPY", major and minor version bytes, the header
// length (uint16 LE for version 1.0, uint32 LE for 2.0 and 3.0), an ASCII Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (4, 1, 28, 28), }
// padded with spaces and ended by '\n', then the raw array data.
//
// Supported: versions 1.0, 2.0, 3.0 (read); dtypes '<f4' (F32), '<f8' (F64), '<i8' (I64), and '<i4'
// (read only, widened to I64); C order; 0-d to n-d shapes. Anything else is an xdnn::Error whose
// one-line message names the file and what was expected. The reader never trusts the header's size:
// it checks the shape against the bytes actually present before allocating.
#pragma once
#include <string>

#include "engine/tensor.h"

namespace xdnn {

// Reads a whole .npy file into a CPU tensor. With `file_dtype`, also says what the file itself holds, e.g.
// "int32 ('<i4')": an '<i4' file becomes an int64 tensor, and a message about a wrong dtype must name the
// file's, not the converted one.
Tensor load_npy(const std::string& path, std::string* file_dtype = nullptr);

// Rows [begin, end) (axis 0) of the array in a .npy file, reading only their bytes: one MPI rank's share of
// a training set (explain/cli/cluster.h). The header is checked as load_npy checks it; rows outside the
// array are an Error naming the file. `file_dtype`: as for load_npy.
Tensor load_npy_rows(const std::string& path, int64_t begin, int64_t end, std::string* file_dtype = nullptr);
// The shape in a .npy file's header (checked as load_npy checks it), without reading the data.
Shape npy_shape(const std::string& path);

// Writes version 1.0, or 2.0 when the header does not fit version 1.0's 65535 bytes.
void save_npy(const std::string& path, const Tensor& t);

// The complete header (magic, version, header length, padded dict) of an array of `shape` and `dtype`: the
// bytes before its data. Lets a writer put the final shape first and append rows as they are computed
// (explain/cli/resumable.h).
std::string npy_header(const Shape& shape, DType dtype);

// In-memory versions (fuzzing, tests, embedding). `name_for_errors` is what error messages call the data.
Tensor parse_npy(const std::string& bytes, const std::string& name_for_errors);
std::string npy_bytes(const Tensor& t);

}  // namespace xdnn
