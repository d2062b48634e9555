// engine/check.h: check() throws the caller's one-line message as xdnn::Error, with the hint, and records
// the line of the check (what debug builds of the CLI print after the message).
#include <doctest/doctest.h>

#include <string>

#include "engine/check.h"

using namespace xdnn;

TEST_CASE("check: passes silently, fails with the message, the hint and the place of the check") {
  CHECK_NOTHROW(check(true, "never thrown"));
  CHECK_NOTHROW(check(1 + 1 == 2, std::string("built ") + "message"));
  const int line = __LINE__ + 2;
  try {
    check(false, "--steps must be >= " + std::to_string(1), "give a positive count");
    FAIL("check(false, ...) did not throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "--steps must be >= 1");
    CHECK(e.hint() == "give a positive count");
    CHECK(e.where() == "tests/test_check.cpp:" + std::to_string(line));
  }
  try {
    check(false, "a literal");
    FAIL("check(false, ...) did not throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "a literal");
    CHECK(e.hint().empty());
    CHECK(e.where().rfind("tests/test_check.cpp:", 0) == 0);
  }
  // A plain throw has no place.
  try {
    throw Error("plain");
  } catch (const Error& e) {
    CHECK(e.where().empty());
  }
}
