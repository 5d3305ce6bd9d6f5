// Helpers shared by the OpenCL op tests: random data and tensors, a CPU reference backend, an
// OpenCL backend with tuning overrides, buffers twinned on both backends and their comparison.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "core/fp16.h"
#include "model/config.h"
#include "model/tensor.h"
#include "test_tensors.h"

namespace edgellm_test {

using namespace edgellm;

inline bool small_mode() {
    const char *s = std::getenv("EDGELLM_TEST_SMALL");
    return s && *s && *s != '0';
}

// An OpenCL backend with tuning overrides `tune` and, if not empty, the tuning row `row` forced.
// The row can also come from EDGELLM_OPENCL_ROW (CI runs the suite with the Mali row forced).
inline std::unique_ptr<Backend> make_tuned(const std::string &tune, const std::string &row = "") {
    OpenClBackendOptions o;
    o.tune = tune;
    o.row = row;
    return make_opencl_backend(o);
}

inline Backend &cpu_backend() {
    static std::unique_ptr<Backend> be = make_cpu_backend(CpuBackendOptions{});
    return *be;
}

struct Pair {  // the same buffer on both backends
    std::unique_ptr<Buffer> c, o;
    size_t n;
};

inline Pair twin(Backend &ob, const std::vector<float> &v) {
    Pair p{cpu_backend().alloc(v.size()), ob.alloc(v.size()), v.size()};
    cpu_backend().write(*p.c, v.data(), v.size());
    ob.write(*p.o, v.data(), v.size());
    return p;
}

// Compares the two buffers; returns the max error relative to tolerance (<= 1 passes).
inline void expect_close(Backend &ob, const Pair &p, double atol, double rtol, const std::string &what) {
    std::vector<float> a(p.n), b(p.n);
    cpu_backend().read(*p.c, a.data(), p.n);
    ob.read(*p.o, b.data(), p.n);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < p.n; ++i) {
        double e = std::fabs((double)a[i] - (double)b[i]) / (atol + rtol * std::fabs((double)a[i]));
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    INFO(what, ": worst at ", at, " cpu=", a[at], " ocl=", b[at]);
    CHECK(worst <= 1.0);
}

inline std::vector<float> read_all(Backend &b, const Buffer &x) {
    std::vector<float> v(x.n_floats);
    b.read(x, v.data(), v.size());
    return v;
}

}  // namespace edgellm_test
