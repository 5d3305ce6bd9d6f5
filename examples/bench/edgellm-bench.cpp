// edgellm-bench: prefill (-p N tokens) and greedy decode (-n M tokens after the prefill, each
// chosen on the device as edgellm_generate does at temperature 0) throughput per backend and
// device, median of -r repetitions, markdown or JSON (-o md|json), on a model file (-m) or a
// synthetic model of a named shape (--shape). Reports decode bandwidth efficiency
// (weight + KV bytes per token / time / measured copy bandwidth) and prefill GFLOPS against a
// measured FMA peak; --profile adds per-kernel OpenCL event times.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "backend/backend.h"
#include "backend/cpu_fast/cpu_fast_backend.h"
#include "core/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "synthetic.h"
#ifdef EDGELLM_WITH_OPENCL
#include "backend/opencl/opencl_backend.h"
#endif

using namespace edgellm;

namespace {

struct Args {
    std::string model, shape = "smollm2-135m", weights = "q4", out = "md";
    std::vector<std::string> backends = {"opencl"};
    int p = 512, n = 128, r = 3, device = -1, threads = 0;
    std::string affinity;  // CPU list for the whole process, e.g. 4-7
    bool profile = false;
    bool sync_tokens = false;  // decode reads each token back before the next step (no pipelining)
};

void usage() {
    std::printf(
        "usage: edgellm-bench [options]\n"
        "  -m FILE            model file (GGUF or HF dir) instead of a synthetic shape\n"
        "  --shape NAME       llama3-8b | llama3.2-1b | smollm2-135m (default smollm2-135m)\n"
        "  -w FMT             synthetic weights: q4 | q8 | f16 | f32 (default q4)\n"
        "  -p N               prefill tokens (default 512; 0 = skip)\n"
        "  -n M               decoded tokens after the prefill (default 128; 0 = skip)\n"
        "  -r R               repetitions, the median is reported (default 3)\n"
        "  -b LIST            backends, comma separated: cpu,reference,opencl (default opencl);\n"
        "                     cpu is the fast CPU backend, reference the scalar one\n"
        "  --backend LIST     the same as -b\n"
        "  -d I               OpenCL device index (default: EDGELLM_OPENCL_DEVICE, else first GPU)\n"
        "  -t N               CPU threads (default: all)\n"
        "  --affinity LIST    run on these CPUs only, e.g. 4-7 (the RK3588's A76 cores)\n"
        "  -o md|json         output format (default md)\n"
        "  --profile          per-kernel OpenCL times (event profiling)\n"
        "  --sync-tokens      decode: read each token back before issuing the next step, even where\n"
        "                     the backend keeps greedy tokens on the device (for comparison)\n");
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Result {
    std::string backend, device, model, weights, test;
    double tok_s = 0, ms_per_tok = 0, gbs = 0, bw_peak = 0, eff = 0, gflops = 0, peak_gflops = 0;
    double launches_per_token = 0;
};

// Host copy bandwidth (GB/s, read + write) for the CPU backend's efficiency figure.
double host_bandwidth() {
    const size_t bytes = (size_t)256 << 20;
    std::vector<char> a(bytes, 1), b(bytes, 0);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        double t0 = now_s();
        std::memcpy(b.data(), a.data(), bytes);
        best = std::max(best, 2.0 * bytes / (now_s() - t0) / 1e9);
    }
    return best;
}

DType parse_type(const std::string &w) {
    if (w == "q4") return DType::Q4;
    if (w == "q8" || w == "q8_0") return DType::Q8_0;
    if (w == "f16") return DType::F16;
    if (w == "f32") return DType::F32;
    fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown weight format %s", w.c_str());
}

void run_backend(const Args &a, const std::string &bname, std::vector<Result> &results) {
    std::unique_ptr<Model> model;
    double t0 = now_s();
    if (!a.model.empty()) {
        ModelOpenOptions o;
        o.backend = bname == "cpu"         ? EDGELLM_BACKEND_CPU
                    : bname == "reference" ? EDGELLM_BACKEND_CPU_REFERENCE
                                           : EDGELLM_BACKEND_OPENCL;
        o.n_threads = a.threads;
        o.device_index = a.device;
        if (bname == "opencl" && a.profile) setenv("EDGELLM_OPENCL_PROFILE", "1", 1);
        model = Model::open(a.model, o);
    } else {
        ModelConfig c;
        if (!bench::shape_config(a.shape, c)) fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown shape %s", a.shape.c_str());
        std::unique_ptr<Backend> be;
        if (bname == "cpu") {
            CpuFastOptions co;
            co.n_threads = a.threads;
            be = make_cpu_fast_backend(co);
        } else if (bname == "reference") {
            CpuBackendOptions co;
            co.n_threads = a.threads;
            be = make_cpu_backend(co);
        } else {
#ifdef EDGELLM_WITH_OPENCL
            OpenClBackendOptions oo;
            oo.device_index = a.device;
            oo.profile = a.profile;
            oo.log.callback = [](int32_t level, const char *msg, void *) {
                std::fprintf(stderr, "[%s] %s\n", level <= EDGELLM_LOG_WARN ? "warn" : "info", msg);
            };
            oo.log.level = EDGELLM_LOG_INFO;  // the device line: tuning row and kernel variants
            be = make_opencl_backend(oo);
#else
            fail(EDGELLM_ERR_UNSUPPORTED, "built without OpenCL");
#endif
        }
        LoadedModel lm = bench::synthetic_model(c, parse_type(a.weights), 1234);
        double tg = now_s();
        std::fprintf(stderr, "generated %s %s weights in %.1f s\n", a.shape.c_str(), a.weights.c_str(), tg - t0);
        model = bench::model_from_synthetic(std::move(lm), std::move(be));
    }
    std::fprintf(stderr, "model ready on %s (%s) in %.1f s, %.2f GB of weights\n", model->backend->name(),
                 model->device_name.c_str(), now_s() - t0, model->weight_bytes / 1e9);
    const ModelConfig &c = model->config;
    Backend &be = *model->backend;
    const bool is_ocl = std::strcmp(be.name(), "opencl") == 0;
    const bool pipe = !a.sync_tokens && be.pipelined_tokens(*model->weights.tok_embd);  // tokens held on the device
    const int n_ctx = std::max(1, a.p + a.n);
    std::unique_ptr<KvCache> kv = be.alloc_kv(c.n_layer, n_ctx, (int)c.kv_dim());
    Scratch s(be, c, std::max(1, a.p), n_ctx);
    std::vector<int32_t> toks((size_t)std::max(a.p, 1));
    uint64_t st = 42;
    for (int32_t &t : toks) t = (int32_t)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 33) % c.n_vocab;
    std::vector<float> logits((size_t)c.n_vocab);

    // Peaks, measured on this device.
    double bw = 0, peak = 0;
#ifdef EDGELLM_WITH_OPENCL
    if (is_ocl) {
        bw = opencl_measure_bandwidth_gbs(be);
        peak = opencl_measure_fp32_gflops(be);
        if (a.profile) opencl_take_profile(be);
    }
#endif
    if (!is_ocl) bw = host_bandwidth();

    // Matrix parameters read per token (embedding: one row only).
    double mat_params = 0, mat_bytes = 0;
    auto add_w = [&](const Weight &w) { mat_params += (double)w.rows * w.cols; mat_bytes += (double)w.bytes; };
    for (const DeviceLayer &L : model->weights.layers) {
        for (const Weight *w : {L.wq.get(), L.wk.get(), L.wv.get(), L.wo.get(), L.w_gate.get(), L.w_up.get(), L.w_down.get()}) add_w(*w);
        mat_bytes += (double)L.attn_norm->bytes + (double)L.ffn_norm->bytes;
    }
    const double layer_params = mat_params;
    add_w(model->weights.lm_head());
    const double kv_elem = is_ocl ? 2.0 : 4.0;

    Result base;
    base.backend = bname;
    base.device = model->device_name;
    base.model = a.model.empty() ? a.shape : a.model;
    base.weights = a.model.empty() ? a.weights : "file";
    base.bw_peak = bw;
    base.peak_gflops = peak;

    if (a.p > 0) {
        std::vector<double> times;
        for (int rep = 0; rep < a.r + 1; ++rep) {  // first run warms up (program/CLBlast compiles)
            double t1 = now_s();
            forward(*model, *kv, s, toks.data(), a.p, 0, logits.data());
            if (rep > 0) times.push_back(now_s() - t1);
        }
        Result res = base;
        res.test = "pp" + std::to_string(a.p);
        double t = median(times);
        res.tok_s = a.p / t;
        res.ms_per_tok = t * 1e3 / a.p;
        // 2 flops per weight per token, plus QK^T and PV over the causal context.
        double attn = 2.0 * 2.0 * c.n_layer * (double)c.q_dim() * (double)a.p * (a.p + 1) / 2.0;
        double flops = 2.0 * layer_params * a.p + 2.0 * (double)c.n_vocab * c.n_embd + attn;
        res.gflops = flops / t / 1e9;
        res.eff = peak > 0 ? res.gflops / peak : 0;
        results.push_back(res);
#ifdef EDGELLM_WITH_OPENCL
        if (is_ocl && a.profile) {
            std::fprintf(stderr, "\nprefill kernel times (all %d runs):\n", a.r + 1);
            for (const auto &k : opencl_take_profile(be))
                std::fprintf(stderr, "  %-22s %8llu calls %10.2f ms\n", k.name.c_str(), (unsigned long long)k.count, k.total_ms);
        }
#endif
    }
    if (a.n > 0) {
        std::vector<double> times;
        double launches = 0;
        for (int rep = 0; rep < a.r + 1; ++rep) {
            if (a.p > 0) forward(*model, *kv, s, toks.data(), a.p, 0, logits.data());
#ifdef EDGELLM_WITH_OPENCL
            if (is_ocl && a.profile) opencl_take_profile(be);
            uint64_t l0 = is_ocl ? opencl_launch_count(be) : 0;
#endif
            int32_t tok = toks[0];
            double t1 = now_s();
            // Each token greedy from the last, chosen on the backend, as edgellm_generate decodes
            // at temperature 0: where the backend holds tokens on the device, each step is issued
            // before the previous step's token is read back (forward_greedy_keep); otherwise one
            // index is read back per step (forward_argmax).
            if (pipe) {
                for (int i = 0; i < a.n; ++i) {
                    if (i > 0) be.token_read_begin(*s.tok);
                    forward_greedy_keep(*model, *kv, s, i > 0 ? nullptr : &tok, 1, a.p + i);
                    if (i > 0) tok = be.token_read_end(*s.tok, (size_t)c.n_vocab);
                }
                be.token_read_begin(*s.tok);
                tok = be.token_read_end(*s.tok, (size_t)c.n_vocab);
            } else {
                for (int i = 0; i < a.n; ++i) tok = forward_argmax(*model, *kv, s, &tok, 1, a.p + i);
            }
            if (rep > 0) times.push_back(now_s() - t1);
#ifdef EDGELLM_WITH_OPENCL
            if (is_ocl) launches = (double)(opencl_launch_count(be) - l0) / a.n;
#endif
        }
        Result res = base;
        res.test = "tg" + std::to_string(a.n) + "@" + std::to_string(a.p);
        double t = median(times);
        res.tok_s = a.n / t;
        res.ms_per_tok = t * 1e3 / a.n;
        double ctx_avg = a.p + (a.n + 1) / 2.0;
        double bytes = mat_bytes + 2.0 * c.n_layer * ctx_avg * c.kv_dim() * kv_elem;
        res.gbs = bytes / (t / a.n) / 1e9;
        res.eff = bw > 0 ? res.gbs / bw : 0;
        res.launches_per_token = launches;
        results.push_back(res);
#ifdef EDGELLM_WITH_OPENCL
        if (is_ocl && a.profile) {
            std::fprintf(stderr, "\ndecode kernel times (last run, %d tokens):\n", a.n);
            for (const auto &k : opencl_take_profile(be))
                std::fprintf(stderr, "  %-22s %8llu calls %10.3f ms  %8.2f us/call\n", k.name.c_str(),
                             (unsigned long long)k.count, k.total_ms, 1e3 * k.total_ms / std::max<uint64_t>(1, k.count));
        }
#endif
    }
}

void print(const Args &a, const std::vector<Result> &rs) {
    if (a.out == "json") {
        std::printf("[\n");
        for (size_t i = 0; i < rs.size(); ++i) {
            const Result &r = rs[i];
            std::printf("  {\"backend\": \"%s\", \"device\": \"%s\", \"model\": \"%s\", \"weights\": \"%s\", "
                        "\"test\": \"%s\", \"tokens_per_second\": %.3f, \"ms_per_token\": %.4f, "
                        "\"gb_per_second\": %.2f, \"bandwidth_gbs\": %.2f, \"gflops\": %.2f, "
                        "\"peak_gflops\": %.2f, \"efficiency\": %.4f, \"launches_per_token\": %.1f}%s\n",
                        r.backend.c_str(), r.device.c_str(), r.model.c_str(), r.weights.c_str(), r.test.c_str(),
                        r.tok_s, r.ms_per_tok, r.gbs, r.bw_peak, r.gflops, r.peak_gflops, r.eff,
                        r.launches_per_token, i + 1 < rs.size() ? "," : "");
        }
        std::printf("]\n");
        return;
    }
    std::printf("| backend | device | model | weights | test | t/s | ms/tok | achieved | device peak | efficiency | launches/tok |\n");
    std::printf("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (const Result &r : rs) {
        bool pp = r.test.rfind("pp", 0) == 0;
        std::printf("| %s | %s | %s | %s | %s | %.2f | %.3f | %s | %s | %.1f%% | %s |\n", r.backend.c_str(),
                    r.device.c_str(), r.model.c_str(), r.weights.c_str(), r.test.c_str(), r.tok_s, r.ms_per_tok,
                    pp ? strprintf("%.1f GFLOPS", r.gflops).c_str() : strprintf("%.1f GB/s", r.gbs).c_str(),
                    pp ? (r.peak_gflops > 0 ? strprintf("%.0f GFLOPS", r.peak_gflops) : std::string("n/a")).c_str()
                       : strprintf("%.1f GB/s", r.bw_peak).c_str(),
                    100.0 * r.eff, pp ? "-" : std::to_string((int)(r.launches_per_token + 0.5)).c_str());
    }
}

}  // namespace

int main(int argc, char **argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "missing value for %s\n", k.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (k == "-m") a.model = val();
        else if (k == "--shape") a.shape = val();
        else if (k == "-w") a.weights = val();
        else if (k == "-p") a.p = std::atoi(val().c_str());
        else if (k == "-n") a.n = std::atoi(val().c_str());
        else if (k == "-r") a.r = std::max(1, std::atoi(val().c_str()));
        else if (k == "-d") a.device = std::atoi(val().c_str());
        else if (k == "-t") a.threads = std::atoi(val().c_str());
        else if (k == "-o") a.out = val();
        else if (k == "--profile") a.profile = true;
        else if (k == "--sync-tokens") a.sync_tokens = true;
        else if (k == "--affinity") a.affinity = val();
        else if (k == "-b" || k == "--backend") {
            a.backends.clear();
            std::string v = val();
            size_t pos = 0;
            while (pos <= v.size()) {
                size_t e = v.find(',', pos);
                if (e == std::string::npos) e = v.size();
                if (e > pos) a.backends.push_back(v.substr(pos, e - pos));
                pos = e + 1;
            }
        } else if (k == "-h" || k == "--help") {
            usage();
            return 0;
        } else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            usage();
            return 2;
        }
    }
    if (a.p < 0 || a.n < 0) {
        std::fprintf(stderr, "-p and -n must be >= 0\n");
        return 2;
    }
    if (!a.affinity.empty()) {
        std::vector<int> cpus;
        if (!parse_cpu_list(a.affinity.c_str(), cpus)) {
            std::fprintf(stderr, "--affinity: not a CPU list: %s\n", a.affinity.c_str());
            return 2;
        }
#if defined(__linux__)
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : cpus)
            if (c < CPU_SETSIZE) CPU_SET(c, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) std::fprintf(stderr, "--affinity: sched_setaffinity failed\n");
#endif
    }
    std::vector<Result> results;
    try {
        for (const std::string &b : a.backends) run_backend(a, b, results);
    } catch (const Error &e) {
        std::fprintf(stderr, "error (%s): %s\n", edgellm_status_string(e.status()), e.what());
        print(a, results);
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    print(a, results);
    return 0;
}
