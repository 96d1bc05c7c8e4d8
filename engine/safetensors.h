// safetensors files (https://github.com/huggingface/safetensors): the
// checkpoint format, readable by PyTorch users without our code.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//    ..., "__metadata__": {"key": "value"}}
// then the raw little-endian data; offsets count from the first data byte,
// and the tensors cover the data region exactly, without gaps or overlaps.
#pragma once

#include <map>
#include <string>

#include "engine/tensor.h"

namespace hc::safetensors {

struct File {
  std::map<std::string, Tensor> tensors;  // on the CPU
  std::map<std::string, std::string> metadata;
};

// Write atomically: a temporary file beside `path`, flushed to disk, then
// renamed over `path` (and the directory flushed). A crash at any moment
// leaves either the old file or the complete new one. Tensors on any device
// are copied to the host. Errors (unwritable directory, full disk) throw
// std::runtime_error naming the path; the old file is then untouched.
void save(const std::string& path, const std::map<std::string, Tensor>& tensors,
          const std::map<std::string, std::string>& metadata = {});

// The bytes that save() writes; `path` only names them in errors.
std::string serialize(const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata, const std::string& path);

// Read and validate a whole file. Every defect (truncation, a header that is
// not JSON, an unknown dtype, offsets outside the data, overlapping tensors,
// a size that does not match the shape, ...) throws std::runtime_error with a
// message naming the file, the problem and, where there is one, the tensor.
File load(const std::string& path);
// The same for bytes already in memory; `path` only names them in errors.
// (The fuzz harness calls this directly.)
File parse(const std::string& bytes, const std::string& path);

// Write `bytes` to `path` atomically (temporary file, fsync, rename, fsync of
// the directory). Shared with the checkpoint's JSON sidecar.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace hc::safetensors
