// End-to-end checks of the build itself: the CLI starts, prints help, and refuses bad input.
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace sq::test {

TEST(Cli, HelpListsCommands) {
  CliResult r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("run"), std::string::npos);
  EXPECT_NE(r.out.find("models"), std::string::npos);
}

TEST(Cli, RunMissingModelIsOneLineError) {
  CliResult r = run_cli("run /nonexistent/model.onnx --input x=/nonexistent/x.npy -o /tmp/sq_out");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace sq::test
