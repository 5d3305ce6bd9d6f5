// The tuning table. Each row: how a device is recognised (substrings of vendor, name and driver;
// empty matches anything), its settings in the override syntax, and the bench result that chose
// them. A row's kernels are the ones named in cl_ops.cpp; which variant a setting picks is in
// docs/opencl-backend.md.
#include "backend/opencl/cl_tuning.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace edgellm {
namespace ocl {

namespace {

struct Row {
    const char *name;
    const char *vendor;              // substring of CL_DEVICE_VENDOR ("" any)
    std::vector<const char *> names; // substrings of CL_DEVICE_NAME, any of them ({} any)
    const char *driver;              // substring of CL_DRIVER_VERSION ("" any)
    const char *settings;
    const char *chosen_by;           // bench/results file, or the design note that explains it
    const char *clblast_hgemm = "";  // Tuning::clblast_hgemm
};

// First match wins.
const std::vector<Row> &table() {
    static const std::vector<Row> rows = {
        // Mali-G610 (RK3588; the driver reports "Mali-G610 r0p0" or "Mali-LODX r0p0"): one
        // 16-lane sub-group per row team, four rows per team, no __local staging.
        {"mali-g610", "", {"Mali-G610", "Mali-LODX"}, "",
         "gemv_wg=64,gemv_lpr=16,gemv_rows=4,gemv_max_n=4,attn_wg=64,attn_chunk=64,norm_wg=64,"
         "gemm_tile_mb=64,argmax_wg=64,argmax_groups=64",
         "docs/mali-g610.md (design; no board measurement yet)",
         // CLBlast 1.7.0's database entry for "Mali-G610 MC6" (Debian's 1.5.3 has no Valhall row).
         "GEMMK=0,KREG=1,KWG=32,KWI=2,MDIMA=32,MDIMC=32,MWG=64,NDIMB=8,NDIMC=8,NWG=64,SA=0,SB=0,STRM=0,STRN=0,VWM=2,VWN=4"},
        // Other Valhall / Bifrost Malis: the G610 settings.
        {"mali", "ARM", {"Mali"}, "",
         "gemv_wg=64,gemv_lpr=16,gemv_rows=4,gemv_max_n=4,attn_wg=64,attn_chunk=64,norm_wg=64,"
         "gemm_tile_mb=64,argmax_wg=64,argmax_groups=64",
         "docs/mali-g610.md"},
        {"adreno", "", {"Adreno", "QUALCOMM"}, "",
         "gemv_wg=64,gemv_lpr=16,gemv_rows=4,gemm_tile_mb=64", "docs/opencl-backend.md"},
        // NVIDIA's OpenCL: no sub-groups, no fp16; 32-lane teams (a warp) of 4 rows.
        {"nvidia", "NVIDIA", {}, "",
         "gemv_wg=128,gemv_lpr=32,gemv_rows=4,gemv_max_n=8,attn_wg=64,attn_chunk=32,norm_wg=256,"
         "gemm_tile_mb=256,argmax_wg=256,argmax_groups=128",
         "bench/results/opencl-h100-2026-12-06.json"},
        // CPU devices (PoCL, Intel's CPU runtime): small work-groups, big attention chunks.
        {"cpu", "", {"pthread", "cpu", "CPU", "Processor", "Xeon", "EPYC", "Ryzen"}, "",
         "gemv_wg=16,gemv_lpr=16,gemv_rows=4,attn_wg=16,attn_chunk=256,norm_wg=16,argmax_wg=16,argmax_groups=16",
         "docs/opencl-backend.md (correctness devices; not tuned)"},
        {"generic", "", {}, "", "", "the defaults of cl_tuning.h"},
    };
    return rows;
}

bool contains(const std::string &s, const char *sub) { return !*sub || s.find(sub) != std::string::npos; }

bool matches(const Row &r, const std::string &name, const std::string &vendor, const std::string &driver) {
    if (!contains(vendor, r.vendor) || !contains(driver, r.driver)) return false;
    if (r.names.empty()) return true;
    for (const char *n : r.names)
        if (name.find(n) != std::string::npos) return true;
    return false;
}

bool pow2(long v) { return v > 0 && (v & (v - 1)) == 0; }

}  // namespace

void apply_tuning(Tuning &t, const std::string &overrides) {
    size_t pos = 0;
    while (pos < overrides.size()) {
        size_t e = overrides.find(',', pos);
        if (e == std::string::npos) e = overrides.size();
        const std::string kv = overrides.substr(pos, e - pos);
        pos = e + 1;
        if (kv.find_first_not_of(" \t") == std::string::npos) continue;
        const size_t eq = kv.find('=');
        if (eq == std::string::npos)
            fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: '%s' is not key=value", kv.c_str());
        const std::string k = kv.substr(0, eq);
        const char *vs = kv.c_str() + eq + 1;
        char *end = nullptr;
        const long v = std::strtol(vs, &end, 10);
        if (end == vs || *end) fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: %s needs an integer", k.c_str());
        struct Knob {
            const char *key;
            int *field;
            long lo, hi;
            bool power_of_two;
        };
        const Knob knobs[] = {
            {"gemv_wg", &t.gemv_wg, 1, 1024, true},        {"gemv_lpr", &t.gemv_lpr, 1, 1024, true},
            {"gemv_rows", &t.gemv_rows, 1, 16, false},     {"gemv_max_n", &t.gemv_max_n, 1, 64, false},
            {"dot", &t.dot, -1, 2, false},                 {"attn_wg", &t.attn_wg, 1, 1024, true},
            {"attn_chunk", &t.attn_chunk, 1, kAttnMaxChunk, false}, {"norm_wg", &t.norm_wg, 1, 1024, true},
            {"subgroups", &t.subgroups, -1, 1, false},     {"fp16", &t.fp16, -1, 1, false},
            {"gemm_tile_mb", &t.gemm_tile_mb, 1, 4096, false}, {"hgemm_k", &t.hgemm_k, 32, 1 << 20, false}, {"argmax_wg", &t.argmax_wg, 1, 1024, true},
            {"argmax_groups", &t.argmax_groups, 1, 4096, false}, {"flush_every", &t.flush_every, 0, 1 << 20, false},
        };
        bool found = false;
        for (const Knob &kn : knobs) {
            if (k != kn.key) continue;
            found = true;
            if (v < kn.lo || v > kn.hi || (kn.power_of_two && !pow2(v)))
                fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: %s=%ld outside [%ld, %ld]%s", k.c_str(), v, kn.lo,
                     kn.hi, kn.power_of_two ? " or not a power of two" : "");
            *kn.field = (int)v;
        }
        if (!found) fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: unknown key '%s'", k.c_str());
    }
    if (t.gemv_lpr > t.gemv_wg)
        fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: gemv_lpr %d exceeds gemv_wg %d", t.gemv_lpr, t.gemv_wg);
}

Tuning tuning_for(const std::string &name, const std::string &vendor, const std::string &driver,
                  const std::string &forced_row, const std::string &overrides) {
    const Row *row = nullptr;
    for (const Row &r : table()) {
        if (forced_row.empty() ? matches(r, name, vendor, driver) : forced_row == r.name) {
            row = &r;
            break;
        }
    }
    if (!row) fail(EDGELLM_ERR_INVALID_ARGUMENT, "OpenCL tuning: no row named '%s'", forced_row.c_str());
    Tuning t;
    t.row = row->name;
    t.clblast_hgemm = row->clblast_hgemm;
    apply_tuning(t, row->settings);
    apply_tuning(t, overrides);
    return t;
}

std::vector<std::string> tuning_rows() {
    std::vector<std::string> out;
    for (const Row &r : table()) out.push_back(r.name);
    return out;
}

}  // namespace ocl
}  // namespace edgellm
