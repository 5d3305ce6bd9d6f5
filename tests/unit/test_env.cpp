// The environment-variable table (src/core/env.cpp) and docs/environment.md list the same
// variables, and env() refuses a name outside the table.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/env.h"
#include "core/error.h"

TEST_CASE("environment: every variable the library reads is documented, and only those") {
    const char *root = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE(root);
    std::ifstream in(std::string(root) + "/../../docs/environment.md");
    REQUIRE(in);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string doc = ss.str();
    const std::string table = doc.substr(0, doc.find("Scripts and tests read"));
    size_t rows = 0;
    for (size_t p = table.find("| `EDGELLM_"); p != std::string::npos; p = table.find("| `EDGELLM_", p + 1)) ++rows;
    CHECK(rows == edgellm::env_table().size());
    for (const edgellm::EnvVar &v : edgellm::env_table()) {
        CAPTURE(v.name);
        CHECK(table.find(std::string("| `") + v.name + "` |") != std::string::npos);
    }
    CHECK_THROWS_AS(edgellm::env("EDGELLM_NOT_A_VARIABLE"), edgellm::Error);
    setenv("EDGELLM_HOST_SAMPLING", "0", 1);
    CHECK_FALSE(edgellm::env_flag("EDGELLM_HOST_SAMPLING"));
    setenv("EDGELLM_HOST_SAMPLING", "1", 1);
    CHECK(edgellm::env_flag("EDGELLM_HOST_SAMPLING"));
    unsetenv("EDGELLM_HOST_SAMPLING");
}
