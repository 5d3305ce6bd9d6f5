// OpenCL device layer: enumeration, selection (index / EDGELLM_OPENCL_DEVICE), errors as
// edgellm::Error with the right status, and the program binary cache (memory + disk).
// Skips only when no OpenCL platform exists at all.
#include <doctest/doctest.h>

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "backend/opencl/cl_common.h"
#include "backend/opencl/cl_program.h"
#include "backend/opencl/cl_tuning.h"
#include "backend/opencl/opencl_backend.h"
#include "core/error.h"

using namespace edgellm;

namespace {

bool have_platform() {
    if (!list_opencl_devices().empty()) return true;
    MESSAGE("no OpenCL platform found: OpenCL device tests skipped");
    return false;
}

int count_files(const std::string &dir, const char *prefix) {
    DIR *d = opendir(dir.c_str());
    if (!d) return 0;
    int n = 0;
    while (dirent *e = readdir(d))
        if (std::string(e->d_name).rfind(prefix, 0) == 0) ++n;
    closedir(d);
    return n;
}

struct EnvGuard {
    std::string name;
    std::string old;
    bool had;
    EnvGuard(const char *n, const char *v) : name(n) {
        const char *o = std::getenv(n);
        had = o != nullptr;
        if (o) old = o;
        if (v) setenv(n, v, 1);
        else unsetenv(n);
    }
    ~EnvGuard() {
        if (had) setenv(name.c_str(), old.c_str(), 1);
        else unsetenv(name.c_str());
    }
};

}  // namespace

TEST_CASE("opencl devices are listed with their properties") {
    if (!have_platform()) return;
    std::vector<edgellm_device_info> devs = list_opencl_devices();
    for (size_t i = 0; i < devs.size(); ++i) {
        const edgellm_device_info &d = devs[i];
        CHECK(d.struct_size == sizeof(edgellm_device_info));
        CHECK(d.index == i);
        CHECK(std::string(d.name).size() > 0);
        CHECK(std::string(d.driver_version).size() > 0);
        CHECK(d.global_mem_bytes > 0);
        CHECK(d.max_alloc_bytes > 0);
        CHECK(d.max_alloc_bytes <= d.global_mem_bytes);
        CHECK(d.compute_units > 0);
        MESSAGE("device ", i, ": ", d.name, " (", d.vendor, ", ", d.driver_version, ") fp16=", d.has_fp16,
                " unified=", d.unified_memory, " subgroups=", d.has_subgroups);
    }
}

TEST_CASE("opencl device selection by index and EDGELLM_OPENCL_DEVICE") {
    if (!have_platform()) return;
    std::vector<edgellm_device_info> devs = list_opencl_devices();
    std::vector<ocl::DeviceRef> refs = ocl::enumerate_devices();
    REQUIRE(refs.size() == devs.size());
    {
        EnvGuard g("EDGELLM_OPENCL_DEVICE", nullptr);
        CHECK(ocl::select_device(refs, (int)devs.size() - 1) == devs.size() - 1);
        try {
            ocl::select_device(refs, (int)devs.size());
            FAIL("out-of-range index accepted");
        } catch (const Error &e) {
            CHECK(e.status() == EDGELLM_ERR_NO_DEVICE);
        }
    }
    {
        EnvGuard g("EDGELLM_OPENCL_DEVICE", "0");
        CHECK(ocl::select_device(refs, -1) == 0);
    }
    {
        // A name substring, matched case-insensitively.
        std::string name = devs.back().name;
        std::string sub = name.substr(0, std::min<size_t>(name.size(), 6));
        for (char &c : sub) c = (char)std::toupper((unsigned char)c);
        EnvGuard g("EDGELLM_OPENCL_DEVICE", sub.c_str());
        size_t i = ocl::select_device(refs, -1);
        CHECK(std::string(devs[i].name).substr(0, 6) == name.substr(0, 6));
    }
    {
        EnvGuard g("EDGELLM_OPENCL_DEVICE", "no-such-device-xyz");
        try {
            OpenClBackendOptions o;
            make_opencl_backend(o);
            FAIL("unknown device name accepted");
        } catch (const Error &e) {
            CHECK(e.status() == EDGELLM_ERR_NO_DEVICE);
            CHECK(std::string(e.what()).find("no-such-device-xyz") != std::string::npos);
        }
    }
}

TEST_CASE("opencl program build errors carry the build log; the disk cache is used") {
    if (!have_platform()) return;
    std::vector<ocl::DeviceRef> refs = ocl::enumerate_devices();
    cl_int err = CL_SUCCESS;
    cl_context ctx = clCreateContext(nullptr, 1, &refs[0].device, nullptr, nullptr, &err);
    REQUIRE(err == CL_SUCCESS);
    Logger log;
    try {
        ocl::build_program(ctx, refs[0].device, "__kernel void broken(__global float *x) { x[0] = undefined_name; }",
                           "", "test-device", log);
        FAIL("broken kernel built");
    } catch (const Error &e) {
        CHECK(e.status() == EDGELLM_ERR_KERNEL_BUILD);
        CHECK(std::string(e.what()).find("undefined_name") != std::string::npos);
    }

    char tmpl[] = "/tmp/edgellm_cache_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    {
        EnvGuard g("EDGELLM_CACHE_DIR", dir.c_str());
        // A unique source so neither cache holds it yet.
        std::string src = "__kernel void k(__global float *x) { x[get_global_id(0)] = " +
                          std::to_string((unsigned)getpid()) + ".0f; }";
        bool cached = true;
        cl_program p = ocl::build_program(ctx, refs[0].device, src, "", "test-device", log, &cached);
        CHECK_FALSE(cached);
        clReleaseProgram(p);
        CHECK(count_files(dir, "ocl-") == 1);
        CHECK(count_files(dir, "ocl-") + 0 == 1);
        p = ocl::build_program(ctx, refs[0].device, src, "", "test-device", log, &cached);
        CHECK(cached);  // memory cache
        clReleaseProgram(p);
        // Another device key or options: a different entry.
        p = ocl::build_program(ctx, refs[0].device, src, "-cl-mad-enable", "test-device", log, &cached);
        CHECK_FALSE(cached);
        clReleaseProgram(p);
        CHECK(count_files(dir, "ocl-") == 2);
    }
    {
        // A corrupt cache file falls back to a normal build.
        EnvGuard g("EDGELLM_CACHE_DIR", dir.c_str());
        std::string src = "__kernel void k2(__global float *x) { x[0] = " + std::to_string((unsigned)getpid() + 1) + ".0f; }";
        std::string path = dir + "/ocl-" + ocl::hash_hex(src + '\x01' + "" + '\x01' + "test-device") + ".bin";
        FILE *f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fputs("not a program binary", f);
        std::fclose(f);
        bool cached = true;
        cl_program p = ocl::build_program(ctx, refs[0].device, src, "", "test-device", log, &cached);
        CHECK_FALSE(cached);
        CHECK(p != nullptr);
        clReleaseProgram(p);
    }
    std::string cmd = "rm -rf '" + dir + "'";
    CHECK(std::system(cmd.c_str()) == 0);
    clReleaseContext(ctx);
}

TEST_CASE("opencl tuning table rows, forced rows and the override parser") {
    CHECK(ocl::tuning_for("Mali-G610 r0p0", "ARM", "v1.r32p1").row == "mali-g610");
    CHECK(ocl::tuning_for("Mali-LODX r0p0", "ARM", "v1.r32p1").row == "mali-g610");
    CHECK(ocl::tuning_for("Mali-LODX", "ARM", "v1.r38p1").row == "mali-g610");
    CHECK(ocl::tuning_for("Mali-G610", "ARM", "").row == "mali-g610");
    CHECK(ocl::tuning_for("Mali-G57 r0p1", "ARM", "v1").row == "mali");
    CHECK(ocl::tuning_for("NVIDIA H100 80GB HBM3", "NVIDIA Corporation", "550").row == "nvidia");
    CHECK(ocl::tuning_for("pthread-haswell-AMD EPYC", "AuthenticAMD", "3.1").row == "cpu");
    CHECK(ocl::tuning_for("Intel(R) Xeon(R) CPU", "Intel(R) Corporation", "2026.2").row == "cpu");
    CHECK(ocl::tuning_for("Adreno (TM) 740", "QUALCOMM", "x").row == "adreno");
    CHECK(ocl::tuning_for("Some GPU", "Vendor", "1").row == "generic");
    // A forced row runs its exact settings on another device.
    const ocl::Tuning m = ocl::tuning_for("pthread-cpu", "PoCL", "3.1", "mali-g610");
    CHECK(m.row == "mali-g610");
    CHECK(m.gemv_lpr == 16);
    CHECK(m.gemv_wg == 64);
    // Overrides after the row; errors name the key.
    CHECK(ocl::tuning_for("Mali-G610", "ARM", "", "", "gemv_rows=2,dot=0").gemv_rows == 2);
    for (const char *bad : {"gemv_wg=3", "nope=1", "gemv_rows", "gemv_rows=x", "gemv_lpr=128"}) {
        INFO(bad);
        CHECK_THROWS_AS(ocl::tuning_for("Mali-G610", "ARM", "", "", bad), edgellm::Error);
    }
    CHECK_THROWS_AS(ocl::tuning_for("Mali-G610", "ARM", "", "no-such-row"), edgellm::Error);
    // Every row parses.
    for (const std::string &r : ocl::tuning_rows()) CHECK(ocl::tuning_for("x", "y", "z", r).row == r);
}
