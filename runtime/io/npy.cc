#include "runtime/io/npy.h"

#include <cstring>
#include <memory>
#include <sstream>

#include "runtime/io/atomic_file.h"
#include "runtime/io/read_file.h"

namespace sq {

namespace {

// Finds `'key': value` in the header dict and returns the raw value text.
std::string header_value(const std::string& header, const std::string& key,
                         const std::string& what) {
  size_t k = header.find("'" + key + "'");
  SQ_CHECK(k != std::string::npos, what, ": .npy header has no '", key, "'");
  size_t colon = header.find(':', k);
  SQ_CHECK(colon != std::string::npos, what, ": malformed .npy header");
  size_t start = header.find_first_not_of(' ', colon + 1);
  SQ_CHECK(start != std::string::npos, what, ": malformed .npy header");
  size_t end;
  if (header[start] == '(') {
    end = header.find(')', start);
    SQ_CHECK(end != std::string::npos, what, ": malformed .npy shape");
    ++end;
  } else if (header[start] == '\'') {
    end = header.find('\'', start + 1);
    SQ_CHECK(end != std::string::npos, what, ": malformed .npy header");
    ++end;
  } else {
    end = header.find_first_of(",}", start);
    SQ_CHECK(end != std::string::npos, what, ": malformed .npy header");
  }
  return header.substr(start, end - start);
}

DType parse_descr(const std::string& quoted, const std::string& what) {
  SQ_CHECK(quoted.size() >= 4 && quoted.front() == '\'' && quoted.back() == '\'', what,
           ": unsupported .npy dtype ", quoted,
           " (structured and sub-array dtypes are not supported)");
  std::string d = quoted.substr(1, quoted.size() - 2);
  char order = d[0];
  std::string code = d.substr(1);
  SQ_CHECK(order != '>', what, ": big-endian .npy data is not supported (dtype ", d, ")");
  SQ_CHECK(code != "O", what, ": object arrays (dtype ", d, ") are not supported");
  if (code == "f4") return DType::kFloat32;
  if (code == "f2") return DType::kFloat16;
  if (code == "f8") return DType::kFloat64;
  if (code == "i8") return DType::kInt64;
  if (code == "i4") return DType::kInt32;
  if (code == "i1") return DType::kInt8;
  if (code == "u1") return DType::kUInt8;
  if (code == "b1") return DType::kBool;
  throw make_error(what, ": unsupported .npy dtype '", d,
                   "' (supported: float32, float16, float64, int64, int32, int8, uint8, bool)");
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat16:
      return "<f2";
    case DType::kFloat64:
      return "<f8";
    case DType::kInt64:
      return "<i8";
    case DType::kInt32:
      return "<i4";
    case DType::kInt8:
      return "|i1";
    case DType::kUInt8:
      return "|u1";
    case DType::kBool:
      return "|b1";
  }
  return "";
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& what) {
  static const char kMagic[] = "\x93NUMPY";
  SQ_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), kMagic, 6) == 0, what,
           ": not a .npy file (bad magic)");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    SQ_CHECK(bytes.size() >= 12, what, ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= size_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    }
    header_start = 12;
  } else {
    throw make_error(what, ": unsupported .npy version ", major);
  }
  SQ_CHECK(header_start + header_len <= bytes.size(), what, ": truncated .npy header");
  std::string header = bytes.substr(header_start, header_len);
  DType dtype = parse_descr(header_value(header, "descr", what), what);
  std::string fortran = header_value(header, "fortran_order", what);
  SQ_CHECK(fortran != "True", what, ": Fortran-order .npy arrays are not supported");
  SQ_CHECK(fortran == "False", what, ": malformed .npy header (fortran_order: ", fortran, ")");
  std::string shape_txt = header_value(header, "shape", what);
  SQ_CHECK(shape_txt.size() >= 2 && shape_txt.front() == '(' && shape_txt.back() == ')', what,
           ": malformed .npy shape ", shape_txt);
  Shape shape;
  {
    std::string inner = shape_txt.substr(1, shape_txt.size() - 2);
    std::stringstream ss(inner);
    std::string item;
    while (std::getline(ss, item, ',')) {
      size_t a = item.find_first_not_of(' ');
      if (a == std::string::npos) continue;
      size_t b = item.find_last_not_of(" L");  // Python 2 wrote long dims as "3L"
      std::string digits = item.substr(a, b + 1 - a);
      SQ_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos, what,
               ": malformed .npy shape ", shape_txt);
      try {
        shape.push_back(std::stoll(digits));
      } catch (const std::logic_error&) {
        throw make_error(what, ": malformed .npy shape ", shape_txt);
      }
    }
  }
  // Check the size against the file before allocating anything.
  const size_t nbytes = shape_nbytes(dtype, shape, what);
  const size_t data_start = header_start + header_len;
  SQ_CHECK(bytes.size() - data_start >= nbytes, what, ": truncated .npy data (",
           bytes.size() - data_start, " bytes, shape ", shape_str(shape), " of ", dtype_name(dtype),
           " needs ", nbytes, ")");
  Tensor t(dtype, shape);
  if (nbytes) std::memcpy(t.raw(), bytes.data() + data_start, nbytes);
  if (dtype == DType::kBool) {
    const uint8_t* p = static_cast<const uint8_t*>(t.raw());
    for (int64_t i = 0; i < t.numel(); ++i) {
      SQ_CHECK(p[i] <= 1, what, ": bool array holds a value other than 0/1");
    }
  }
  return t;
}

Tensor read_npy(const std::string& path) {
  return parse_npy(read_file_bytes(path, "a .npy file"), path);
}

namespace {

// Magic, version and the padded header dict: everything before the data.
std::string npy_header(const Tensor& t) {
  SQ_CHECK(!t.empty_handle(), "serialize_npy: the tensor holds no data");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) {
    shape += std::to_string(t.shape()[i]);
    shape += (t.shape().size() == 1 || i + 1 < t.shape().size()) ? "," : "";
    if (i + 1 < t.shape().size()) shape += " ";
  }
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(t.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  return out;
}

}  // namespace

std::string serialize_npy(const Tensor& t) {
  std::string out = npy_header(t);
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  write_npy_files({{path, &t}});
}

void write_npy_files(const std::vector<std::pair<std::string, const Tensor*>>& files) {
  std::vector<std::unique_ptr<AtomicFile>> pending;
  for (const auto& [path, t] : files) {
    const std::string header = npy_header(*t);
    pending.push_back(std::make_unique<AtomicFile>());
    pending.back()->open(path);
    pending.back()->write(header.data(), header.size());
    pending.back()->write(t->raw(), t->nbytes());
    pending.back()->finish();  // a full disk fails here, before any file is renamed into place
  }
  for (auto& f : pending) f->commit();
}

}  // namespace sq
