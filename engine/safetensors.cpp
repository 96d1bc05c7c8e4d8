#include "engine/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace hc::safetensors {

namespace {

using json = nlohmann::json;

// A header is a few kilobytes per thousand tensors; anything beyond this is
// a corrupt or hostile length field, refused before allocating for it.
constexpr uint64_t kMaxHeader = 100u << 20;
// No real tensor has a dimension of 2^40; a larger one is corrupt.
constexpr uint64_t kMaxDim = uint64_t{1} << 40;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("safetensors " + path + ": " + what);
}

bool parse_dtype(const std::string& name, DType& out) {
  if (name == "F32") out = DType::F32;
  else if (name == "F64") out = DType::F64;
  else if (name == "I64") out = DType::I64;
  else return false;
  return true;
}

void write_all(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, std::string("write failed: ") + std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("cannot create ") + tmp + ": " + std::strerror(errno));
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
    if (::fsync(fd) != 0) fail(path, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(path, std::string("close failed: ") + std::strerror(errno));
  }
  // The rename is the commit point: readers see the old file or the new one.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, "rename failed: " + err);
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void save(const std::string& path, const std::map<std::string, Tensor>& tensors,
          const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, serialize(tensors, metadata, path));
}

std::string serialize(const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata, const std::string& path) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> host;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail(path, "a tensor may not be called __metadata__");
    host.push_back(t.device() == Device::CPU ? t : t.to(Device::CPU));
    header[name] = {{"dtype", dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  bytes += text;
  for (const Tensor& t : host) bytes.append(static_cast<const char*>(t.raw()), t.nbytes());
  return bytes;
}

File load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot read (is it a directory?)");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  if (!in) fail(path, "read failed");
  return parse(bytes, path);
}

File parse(const std::string& bytes, const std::string& path) {
  const uint64_t size = bytes.size();
  if (size < 8) fail(path, "file too short (" + std::to_string(size) + " bytes) for the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (header_len > size - 8)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the file (" +
                   std::to_string(size) + " bytes): truncated or corrupt");
  if (header_len > kMaxHeader) fail(path, "header length " + std::to_string(header_len) + " is implausibly large");
  const std::string text = bytes.substr(8, header_len);
  const json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail(path, "header is not valid JSON");
  if (!header.is_object()) fail(path, "header is not a JSON object");

  const uint64_t data_start = 8 + header_len, data_size = size - data_start;
  File file;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "metadata value of '" + k + "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!entry.is_object()) fail(path, where + "entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(path, where + "missing dtype");
    DType dtype;
    const std::string dname = entry["dtype"].get<std::string>();
    if (!parse_dtype(dname, dtype)) fail(path, where + "unsupported dtype " + dname + " (F32, F64, I64 are)");
    if (!entry.contains("shape") || !entry["shape"].is_array()) fail(path, where + "missing shape");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : entry["shape"]) {
      if (!d.is_number_unsigned()) fail(path, where + "shape must be a list of non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      // Bounded before anything multiplies it (a zero elsewhere in the
      // shape would let any size through the file-size check below).
      if (v > kMaxDim) fail(path, where + "dimension " + std::to_string(v) + " is implausibly large");
      if (v != 0 && numel > data_size / v) fail(path, where + "shape " + entry["shape"].dump() + " is larger than the file");
      numel *= v;
      shape.push_back(static_cast<int64_t>(v));
    }
    const json& off = entry.contains("data_offsets") ? entry["data_offsets"] : json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, where + "data_offsets must be two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (end < begin) fail(path, where + "data_offsets end before they begin");
    if (end > data_size)
      fail(path, where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") run past the data region (" + std::to_string(data_size) + " bytes): truncated or corrupt");
    if (end - begin != numel * dtype_size(dtype))
      fail(path, where + "byte size " + std::to_string(end - begin) + " does not match shape " +
                     shape_str(shape) + " of " + dname);
    Tensor t = Tensor::empty(shape, dtype);
    if (end > begin) std::memcpy(t.raw(), bytes.data() + data_start + begin, end - begin);
    spans.push_back({begin, end, name});
    file.tensors.emplace(name, std::move(t));
  }
  // The data region must be covered exactly once.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.begin < at) fail(path, "tensor '" + s.name + "' overlaps the tensor before it");
    if (s.begin > at) fail(path, "gap in the data region before tensor '" + s.name + "'");
    at = s.end;
  }
  if (at != data_size)
    fail(path, std::to_string(data_size - at) + " bytes of data after the last tensor");
  return file;
}

}  // namespace hc::safetensors
