// The library's environment variables, read in one place. Every EDGELLM_* variable the library
// reads is in the table of env.cpp with its meaning (docs/environment.md lists the same, checked
// by a test); env() refuses a name that is not in the table.
#pragma once

#include <string>
#include <vector>

namespace edgellm {

struct EnvVar {
    const char *name;
    const char *meaning;
};

// The value of `name` ("" when unset or empty). Throws EDGELLM_ERR_INTERNAL for a name not in
// env_table().
std::string env(const char *name);
// Whether `name` is set to something other than "" or "0".
bool env_flag(const char *name);
const std::vector<EnvVar> &env_table();

}  // namespace edgellm
