// .npy reading and writing: round trips of every dtype (0-d and zero-size too), headers written by
// real NumPy (tests/data/npy, from tools/fixtures/make_npy_fixtures.py), every file the reader
// must refuse, float16 conversion against NumPy, and atomic writes that leave nothing behind.
#include "runtime/io/npy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "runtime/io/atomic_file.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return data_dir() + "/npy/" + name; }

// Expects fn() to throw sq::Error whose one-line message contains every needle.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no sq::Error thrown; expected one mentioning '" << needles.front() << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  if (a.nbytes()) {
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  }
}

Tensor round_trip(const Tensor& t) {
  std::string path = temp_dir() + "/t.npy";
  write_npy(path, t);
  return read_npy(path);
}

TEST(Npy, RoundTripEveryDtype) {
  std::vector<Tensor> tensors = {
      Tensor::from_vector<float>({2, 2}, {1.5f, -2.f, 3.25f, 1e-30f}),
      Tensor::from_vector<uint16_t>({3}, {float_to_half(1.f), float_to_half(-0.5f), 0x7bff}),
      Tensor::from_vector<double>({1, 3}, {1e300, -2.5, 0.1}),
      Tensor::from_vector<int64_t>({2}, {int64_t{1} << 62, -7}),
      Tensor::from_vector<int32_t>({2, 1, 2}, {1, -2, 2147483647, -2147483647 - 1}),
      Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 127}),
      Tensor::from_vector<uint8_t>({2, 2}, {0, 1, 128, 255}),
      Tensor::from_vector<bool>({3}, {true, false, true}),
  };
  for (const Tensor& t : tensors) {
    SCOPED_TRACE(dtype_name(t.dtype()));
    expect_same(round_trip(t), t);
  }
}

TEST(Npy, RoundTripScalarAndZeroSize) {
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kFloat64, DType::kInt64, DType::kInt32,
                   DType::kInt8, DType::kUInt8, DType::kBool}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor scalar = Tensor::zeros(dt, {});
    std::memset(scalar.raw(), 1, scalar.nbytes());  // 1 in every byte is a valid bool too
    Tensor back = round_trip(scalar);
    EXPECT_EQ(back.rank(), 0);
    expect_same(back, scalar);
    for (const Shape& s : {Shape{0}, Shape{2, 0, 3}, Shape{0, 0}}) {
      Tensor empty = Tensor::zeros(dt, s);
      expect_same(round_trip(empty), empty);
    }
  }
}

TEST(Npy, HeaderMatchesNumpyLayout) {
  // NumPy writes "(3,)" for 1-D, "()" for 0-d, pads to 64 bytes and ends the header with '\n'.
  std::string one_d = serialize_npy(Tensor::from_vector<float>({3}, {1, 2, 3}));
  EXPECT_NE(one_d.find("'shape': (3,)"), std::string::npos);
  EXPECT_EQ((one_d.size() - 12) % 64, 0u);
  EXPECT_EQ(one_d[one_d.size() - 12 - 1], '\n');
  std::string scalar = serialize_npy(Tensor::scalar_f32(1));
  EXPECT_NE(scalar.find("'shape': ()"), std::string::npos);
  std::string two_d = serialize_npy(Tensor::zeros(DType::kInt8, {2, 3}));
  EXPECT_NE(two_d.find("'descr': '|i1'"), std::string::npos);
  EXPECT_NE(two_d.find("'shape': (2, 3)"), std::string::npos);
  // Our float32 file and NumPy's for the same array are byte-identical.
  Tensor f = read_npy(fixture("f32.npy"));
  EXPECT_EQ(serialize_npy(f), read_bytes(fixture("f32.npy")));
}

TEST(Npy, ReadsNumpyFilesOfEveryDtype) {
  const std::vector<double> base = {1.5, -2.0, 3.0, 4.0, 0.0, -6.25};
  struct Case {
    const char* file;
    DType dtype;
  };
  for (const Case& c : {Case{"f32.npy", DType::kFloat32}, Case{"f16.npy", DType::kFloat16},
                        Case{"f64.npy", DType::kFloat64}, Case{"v2_f32.npy", DType::kFloat32}}) {
    SCOPED_TRACE(c.file);
    Tensor t = read_npy(fixture(c.file));
    EXPECT_EQ(t.dtype(), c.dtype);
    ASSERT_EQ(t.shape(), (Shape{2, 3}));
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(t.get_as_double(i), base[i]);
  }
  const std::vector<int64_t> ints = {1, -2, 3, -128, 0, 127};
  Tensor i64 = read_npy(fixture("i64.npy"));
  Tensor i32 = read_npy(fixture("i32.npy"));
  Tensor i8 = read_npy(fixture("i8.npy"));
  ASSERT_EQ(i64.dtype(), DType::kInt64);
  ASSERT_EQ(i32.dtype(), DType::kInt32);
  ASSERT_EQ(i8.dtype(), DType::kInt8);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(i64.data<int64_t>()[i], ints[i] * (int64_t{1} << 40));
    EXPECT_EQ(i32.data<int32_t>()[i], ints[i] * 100000);
    EXPECT_EQ(i8.data<int8_t>()[i], ints[i]);
  }
  Tensor u8 = read_npy(fixture("u8.npy"));
  EXPECT_EQ(u8.to_int64_vector(), (std::vector<int64_t>{0, 1, 2, 128, 254, 255}));
  Tensor b = read_npy(fixture("bool.npy"));
  ASSERT_EQ(b.dtype(), DType::kBool);
  EXPECT_EQ(b.to_int64_vector(), (std::vector<int64_t>{1, 0, 1, 0, 0, 1}));

  Tensor scalar = read_npy(fixture("scalar_f64.npy"));
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.data<double>()[0], 2.5);
  Tensor empty = read_npy(fixture("empty_i32.npy"));
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(empty.dtype(), DType::kInt32);
  Tensor vec = read_npy(fixture("vec_i64.npy"));
  EXPECT_EQ(vec.to_int64_vector(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Npy, RefusesWhatItCannotRepresent) {
  expect_error([] { read_npy(fixture("fortran_f32.npy")); }, {"fortran_f32.npy", "Fortran"});
  expect_error([] { read_npy(fixture("bigendian_f4.npy")); }, {"bigendian_f4.npy", "big-endian"});
  expect_error([] { read_npy(fixture("object.npy")); }, {"object.npy", "object"});
  expect_error([] { read_npy(fixture("complex64.npy")); }, {"complex64.npy", "unsupported", "c8"});
  expect_error([] { read_npy(fixture("truncated_f32.npy")); },
               {"truncated_f32.npy", "truncated .npy data", "needs 24"});
  expect_error([] { read_npy(fixture("truncated_header.npy")); },
               {"truncated_header.npy", "truncated .npy header"});
  expect_error([] { read_npy(fixture("nope.npy")); }, {"nope.npy", "no such file"});
  expect_error([] { read_npy(data_dir() + "/npy"); }, {"is a directory"});
  expect_error([] { read_npy("/dev/zero"); }, {"/dev/zero", "not a regular file"});
}

TEST(Npy, RefusesMalformedBytes) {
  const std::string good = serialize_npy(Tensor::from_vector<float>({2}, {1, 2}));
  expect_error([] { parse_npy("", "x.npy"); }, {"x.npy", "bad magic"});
  expect_error([] { parse_npy("PK\x03\x04 not numpy at all", "x.npy"); }, {"bad magic"});
  std::string v9 = good;
  v9[6] = 9;
  expect_error([&] { parse_npy(v9, "x.npy"); }, {"unsupported .npy version 9"});
  // Every cut of a valid file is refused with an error, never a crash.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_THROW(parse_npy(good.substr(0, cut), "x.npy"), Error);
  }
  auto with_header = [](const std::string& dict) {
    std::string h = dict;
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h + std::string(64, '\0');
  };
  expect_error([&] { parse_npy(with_header("{'fortran_order': False, 'shape': (2,), }"), "x"); },
               {"no 'descr'"});
  expect_error(
      [&] {
        parse_npy(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"), "x");
      },
      {"malformed .npy shape"});
  expect_error(
      [&] {
        parse_npy(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2x,), }"), "x");
      },
      {"malformed .npy shape"});
  expect_error(
      [&] {
        parse_npy(with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"),
                  "x");
      },
      {"structured"});
  // A shape far larger than the data must be refused before anything is allocated.
  expect_error(
      [&] {
        parse_npy(with_header("{'descr': '<f8', 'fortran_order': False, "
                              "'shape': (100000000000, 100000000000), }"),
                  "x");
      },
      {"x: shape"});
  expect_error(
      [&] {
        parse_npy(with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000,), }"),
                  "x");
      },
      {"truncated .npy data"});
  std::string bad_bool = serialize_npy(Tensor::from_vector<bool>({2}, {true, false}));
  bad_bool[bad_bool.size() - 1] = 7;
  expect_error([&] { parse_npy(bad_bool, "x"); }, {"bool array"});
}

TEST(Npy, Float16MatchesNumpy) {
  Tensor src = read_npy(fixture("f16_src_f32.npy"));
  Tensor ref = read_npy(fixture("f16_ref.npy"));
  ASSERT_EQ(src.dtype(), DType::kFloat32);
  ASSERT_EQ(ref.dtype(), DType::kFloat16);
  ASSERT_EQ(src.numel(), ref.numel());
  ASSERT_GT(src.numel(), 600);
  int mismatches = 0;
  for (int64_t i = 0; i < src.numel(); ++i) {
    float x = src.data<float>()[i];
    uint16_t want = ref.data<uint16_t>()[i];
    uint16_t got = float_to_half(x);
    if (got != want && ++mismatches < 10) {
      ADD_FAILURE() << "float_to_half(" << x << ") = 0x" << std::hex << got << ", numpy 0x" << want;
    }
    // half -> float is exact: NumPy's float16 widened to float32 gives the same value.
    float back = half_to_float(want);
    if (std::isnan(back)) continue;
    EXPECT_EQ(float_to_half(back), want);
  }
  EXPECT_EQ(mismatches, 0);
  // Exhaustive: every non-NaN half survives half -> float -> half; NaN stays NaN.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = half_to_float(static_cast<uint16_t>(h));
    bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (is_nan) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
    } else {
      ASSERT_EQ(float_to_half(f), h) << std::hex << h;
    }
  }
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
}

TEST(AtomicFile, FailureLeavesNoTemporaryFile) {
  std::string dir = temp_dir();
  // Unwritable destinations: a read-only pseudo file system, a missing folder, a directory.
  EXPECT_THROW(write_file_atomic("/proc/sq_nope.npy", "x"), Error);
  EXPECT_THROW(write_file_atomic("/proc/sq_nope/out.npy", "x"), Error);
  expect_error([&] { write_file_atomic(dir, "x"); }, {"is a directory"});
  expect_error([&] { write_file_atomic(dir + "/missing/out.npy", "x"); }, {"does not exist"});
  for (const auto& e : fs::directory_iterator("/proc")) {
    EXPECT_EQ(e.path().filename().string().rfind("sq_nope", 0), std::string::npos);
  }
  // A file abandoned before commit() is removed; the destination never appears.
  {
    AtomicFile f;
    f.open(dir + "/partial.bin");
    f.write("abc", 3);
  }
  EXPECT_TRUE(fs::is_empty(dir));
  // A committed file replaces the old one and leaves no temporary behind.
  write_file_atomic(dir + "/a.txt", "old");
  write_file_atomic(dir + "/a.txt", "new contents");
  EXPECT_EQ(read_bytes(dir + "/a.txt"), "new contents");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  // Misuse is an error, not a crash.
  AtomicFile g;
  EXPECT_THROW(g.write("x", 1), Error);
  EXPECT_THROW(g.commit(), Error);
  // A failed .npy write leaves the old file untouched.
  write_npy(dir + "/keep.npy", Tensor::scalar_f32(3));
  EXPECT_THROW(write_npy(dir + "/keep.npy", Tensor()), Error);
  EXPECT_EQ(read_npy(dir + "/keep.npy").data<float>()[0], 3.0f);
}

TEST(AtomicFile, SpecialFilesAreNeverReplaced) {
  // Renaming a finished temporary over a FIFO or a device would turn it into a regular file (as
  // root, /dev/null or /dev/full themselves): refused, and the special file stays what it was.
  std::string dir = temp_dir();
  const std::string fifo = dir + "/fifo", dev = dir + "/full";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { write_file_atomic(fifo, "x"); }, {"fifo", "is not a regular file"});
  EXPECT_TRUE(fs::is_fifo(fifo));
  if (::mknod(dev.c_str(), S_IFCHR | 0600, ::makedev(1, 7)) == 0) {  // /dev/full's numbers
    expect_error([&] { write_npy(dev, Tensor::scalar_f32(1)); }, {"full", "is not a regular file"});
    EXPECT_TRUE(fs::is_character_file(dev));
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
}

}  // namespace
}  // namespace sq::test
