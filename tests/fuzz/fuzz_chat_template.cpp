// libFuzzer target: arbitrary Jinja source rendered by edgellm_chat_apply_template with a small
// conversation. A template must come back with a status, within the output limit of
// docs/limits.md, without hanging (libFuzzer's -timeout) or exhausting the stack, with valid UTF-8.
#include "fuzz_util.h"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static edgellm_model *m = fuzz::open_or_die(fuzz::data("tiny/tiny_q4_0.gguf"));
    std::string src(reinterpret_cast<const char *>(data), size);
    if (src.find('\0') != std::string::npos) return 0;  // the ABI takes a C string
    static const edgellm_chat_message msgs[4] = {
        {"system", "You are \"helpful\".\n"}, {"user", "Hi <|im_start|> {{ x }}"}, {"assistant", "H\xC3\xA9llo"},
        {"user", "2+2?"}};
    static std::string buf(1 << 16, '\0');
    size_t len = 0;
    edgellm_status st = edgellm_chat_apply_template(m, src.c_str(), msgs, 4, size & 1, &buf[0], buf.size(), &len);
    fuzz::check_status(st, "chat_apply_template");
    if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
        if (len > (size_t{16} << 20)) { std::fprintf(stderr, "output of %zu bytes past the limit\n", len); std::abort(); }
        std::string big(len + 1, '\0');
        st = edgellm_chat_apply_template(m, src.c_str(), msgs, 4, size & 1, &big[0], big.size(), &len);
        fuzz::check_status(st, "chat_apply_template(again)");
        if (st == EDGELLM_OK && !fuzz::valid_utf8(big.data(), len)) std::abort();
    } else if (st == EDGELLM_OK && !fuzz::valid_utf8(buf.data(), len)) {
        std::fprintf(stderr, "template output is not valid UTF-8\n");
        std::abort();
    }
    return 0;
}
