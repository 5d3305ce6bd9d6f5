// Jinja filters, tests, Python str/list/dict methods and global functions (range, namespace,
// raise_exception, strftime_now) used by real chat templates. Anything else is an
// Error(EDGELLM_ERR_TEMPLATE) that names it.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <ctime>

#include "chat/jinja.h"
#include "core/error.h"
#include "tokenizer/unicode.h"

namespace edgellm::jinja {

namespace {
using KwArgs = std::vector<std::pair<std::string, Value>>;

const Value *kwarg(const KwArgs &kw, const char *name) {
    for (const auto &p : kw)
        if (p.first == name) return &p.second;
    return nullptr;
}
// Positional argument k, else keyword `name`, else nullptr.
const Value *arg(const List &a, const KwArgs &kw, size_t k, const char *name) {
    return k < a.size() ? &a[k] : kwarg(kw, name);
}

bool is_space_cp(uint32_t c) { return unicode::is_whitespace(c) || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x1F; }

std::string strip(const std::string &s, const Value *chars, bool left, bool right) {
    std::vector<std::pair<size_t, uint32_t>> cp;  // (byte offset, code point)
    for (size_t i = 0; i < s.size();) {
        size_t at = i;
        cp.emplace_back(at, unicode::next_cp(s, i));
    }
    std::vector<uint32_t> set;
    bool custom = chars && chars->type == Value::String;
    if (custom)
        for (size_t i = 0; i < chars->s.size();) set.push_back(unicode::next_cp(chars->s, i));
    auto strip_it = [&](uint32_t c) {
        return custom ? std::find(set.begin(), set.end(), c) != set.end() : is_space_cp(c);
    };
    size_t b = 0, e = cp.size();
    while (left && b < e && strip_it(cp[b].second)) b++;
    while (right && e > b && strip_it(cp[e - 1].second)) e--;
    size_t bs = b < cp.size() ? cp[b].first : s.size(), es = e < cp.size() ? cp[e].first : s.size();
    return s.substr(bs, es - bs);
}

std::string ascii_case(std::string s, int mode) {  // 0 lower, 1 upper, 2 title, 3 capitalize
    bool word_start = true;
    for (size_t k = 0; k < s.size(); k++) {
        unsigned char c = static_cast<unsigned char>(s[k]);
        bool alpha = std::isalpha(c) != 0;
        if (mode == 0) s[k] = static_cast<char>(std::tolower(c));
        else if (mode == 1) s[k] = static_cast<char>(std::toupper(c));
        else if (mode == 2) s[k] = static_cast<char>(word_start ? std::toupper(c) : std::tolower(c));
        else s[k] = static_cast<char>(k == 0 ? std::toupper(c) : std::tolower(c));
        if (mode == 2) word_start = !alpha && !(c >= 0x80);
    }
    return s;
}

int64_t length_of(const Value &v, int line) {
    switch (v.type) {
        case Value::String: {
            int64_t n = 0;
            for (unsigned char c : v.s) n += (c & 0xC0) != 0x80;
            return n;
        }
        case Value::ListT: return static_cast<int64_t>(v.list->size());
        case Value::DictT: return static_cast<int64_t>(v.dict->size());
        case Value::Undefined: return 0;
        default: template_error(line, "object has no length");
    }
}

List items_of(const Value &v) {
    List out;
    if (v.type == Value::DictT)
        for (const auto &kv : *v.dict) out.push_back(Value::make_list({Value::str(kv.first), kv.second}));
    return out;
}

List as_list(const Value &v, int line) {
    if (v.type == Value::ListT) {
        for (const auto &x : *v.list) charge(copy_cost(x), line);
        return *v.list;
    }
    if (v.type == Value::DictT) {
        List k;
        for (const auto &kv : *v.dict) k.push_back(Value::str(kv.first));
        return k;
    }
    if (v.type == Value::String) {
        List c;
        charge(static_cast<int64_t>(v.s.size()), line);
        for (size_t i = 0; i < v.s.size();) {
            size_t b = i;
            unicode::next_cp(v.s, i);
            c.push_back(Value::str(v.s.substr(b, i - b)));
        }
        return c;
    }
    if (v.type == Value::Undefined || v.type == Value::None) return {};
    template_error(line, "value is not iterable");
}

Value attr_of(const Value &v, const std::string &path) {
    Value cur = v;
    size_t b = 0;
    while (b <= path.size()) {
        size_t e = path.find('.', b);
        std::string key = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
        const Value *x = cur.find(key);
        cur = x ? *x : Value();
        if (e == std::string::npos) break;
        b = e + 1;
    }
    return cur;
}

std::string replace_all(const std::string &s, const std::string &from, const std::string &to, int64_t count) {
    if (from.empty()) return s;
    std::string o;
    size_t pos = 0;
    for (int64_t n = 0; count < 0 || n < count; n++) {
        size_t f = s.find(from, pos);
        if (f == std::string::npos) break;
        o.append(s, pos, f - pos);
        check_size(o.size() + to.size(), 0);
        o += to;
        pos = f + from.size();
    }
    o.append(s, pos, std::string::npos);
    return o;
}
}  // namespace

bool apply_test(const std::string &name, const Value &v, const List &args, int line) {
    auto need = [&](size_t n) {
        if (args.size() < n) template_error(line, "test '%s' needs an argument", name.c_str());
    };
    if (name == "none") return v.type == Value::None;
    if (name == "string") return v.type == Value::String;
    if (name == "number") return v.type == Value::Int || v.type == Value::Float;
    if (name == "integer") return v.type == Value::Int;
    if (name == "float") return v.type == Value::Float;
    if (name == "boolean") return v.type == Value::Bool;
    if (name == "true") return v.type == Value::Bool && v.b;
    if (name == "false") return v.type == Value::Bool && !v.b;
    if (name == "mapping") return v.type == Value::DictT;
    if (name == "sequence") return v.type == Value::ListT || v.type == Value::String || v.type == Value::DictT;
    if (name == "iterable") return v.type == Value::ListT || v.type == Value::String || v.type == Value::DictT;
    if (name == "callable") return v.type == Value::MacroT || v.type == Value::Builtin;
    if (name == "odd" || name == "even") {
        if (v.type != Value::Int) template_error(line, "test '%s' needs an integer", name.c_str());
        return (v.i % 2 != 0) == (name == "odd");
    }
    if (name == "divisibleby") {
        need(1);
        return v.type == Value::Int && args[0].type == Value::Int && args[0].i != 0 && v.i % args[0].i == 0;
    }
    if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") { need(1); return equals(v, args[0]); }
    if (name == "ne" || name == "!=") { need(1); return !equals(v, args[0]); }
    if (name == "in") {
        need(1);
        if (args[0].type == Value::String) return args[0].s.find(to_str(v)) != std::string::npos;
        for (const auto &x : as_list(args[0], line))
            if (equals(v, x)) return true;
        return false;
    }
    if (name == "lower") return v.type == Value::String && ascii_case(v.s, 0) == v.s;
    if (name == "upper") return v.type == Value::String && ascii_case(v.s, 1) == v.s;
    template_error(line, "unsupported construct: test '%s'", name.c_str());
}

Value apply_filter(const std::string &name, const Value &v, const List &a, const KwArgs &kw, int line,
                   const std::function<Value(const Value &, const List &)> &call) {
    (void)call;
    if (name == "trim") return Value::str(strip(to_str(v), arg(a, kw, 0, "chars"), true, true));
    if (name == "length" || name == "count") return Value::integer(length_of(v, line));
    if (name == "tojson") {
        const Value *ind = arg(a, kw, 0, "indent");
        int64_t indent = ind && ind->type == Value::Int ? ind->i : -1;
        if (indent > kMaxIndent)
            template_error(line, "tojson indent %lld exceeds the indent limit of %d", static_cast<long long>(indent),
                           kMaxIndent);
        return Value::str(to_json(v, static_cast<int>(std::max<int64_t>(indent, -1))));
    }
    if (name == "upper") return Value::str(ascii_case(to_str(v), 1));
    if (name == "lower") return Value::str(ascii_case(to_str(v), 0));
    if (name == "title") return Value::str(ascii_case(to_str(v), 2));
    if (name == "capitalize") return Value::str(ascii_case(to_str(v), 3));
    if (name == "string") return Value::str(to_str(v));
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
        if (name == "safe") return v;
        std::string o;
        for (char c : to_str(v)) {
            switch (c) {
                case '&': o += "&amp;"; break;
                case '<': o += "&lt;"; break;
                case '>': o += "&gt;"; break;
                case '"': o += "&#34;"; break;
                case '\'': o += "&#39;"; break;
                default: o += c;
            }
        }
        return Value::str(o);
    }
    if (name == "default" || name == "d") {
        const Value *dv = arg(a, kw, 0, "default_value");
        const Value *boolean = arg(a, kw, 1, "boolean");
        bool use = !v.defined() || (boolean && boolean->truthy() && !v.truthy());
        return use ? (dv ? *dv : Value::str("")) : v;
    }
    if (name == "first" || name == "last") {
        List l = as_list(v, line);
        if (l.empty()) return Value();
        return name == "first" ? l.front() : l.back();
    }
    if (name == "join") {
        const Value *sep = arg(a, kw, 0, "d");
        const Value *at = arg(a, kw, 1, "attribute");
        std::string o;
        List l = as_list(v, line);
        for (size_t k = 0; k < l.size(); k++) {
            if (k && sep) o += to_str(*sep);
            o += to_str(at ? attr_of(l[k], to_str(*at)) : l[k]);
            check_size(o.size(), line);
        }
        return Value::str(o);
    }
    if (name == "list") return Value::make_list(as_list(v, line));
    if (name == "items") return Value::make_list(items_of(v));
    if (name == "reverse") {
        if (v.type == Value::String) {
            List c = as_list(v, line);
            std::string o;
            for (auto it = c.rbegin(); it != c.rend(); ++it) o += it->s;
            return Value::str(o);
        }
        List l = as_list(v, line);
        std::reverse(l.begin(), l.end());
        return Value::make_list(std::move(l));
    }
    if (name == "int") {
        if (v.type == Value::Int) return v;
        if (v.type == Value::Float) {
            // Only doubles inside int64's range convert (the conversion of others is undefined).
            if (!(v.f > -9223372036854775808.0 && v.f < 9223372036854775808.0))
                template_error(line, "int of %g: out of the 64-bit integer range", v.f);
            return Value::integer(static_cast<int64_t>(v.f));
        }
        if (v.type == Value::Bool) return Value::integer(v.b);
        if (v.type == Value::String) {
            char *end = nullptr;
            long long x = std::strtoll(v.s.c_str(), &end, 10);
            return Value::integer(end && *end == '\0' && !v.s.empty() ? x : 0);
        }
        return Value::integer(0);
    }
    if (name == "float") {
        if (v.type == Value::Int) return Value::number(static_cast<double>(v.i));
        if (v.type == Value::Float) return v;
        if (v.type == Value::String) return Value::number(std::strtod(v.s.c_str(), nullptr));
        return Value::number(0);
    }
    if (name == "abs") {
        if (v.type == Value::Int) {
            if (v.i == INT64_MIN) template_error(line, "integer overflow in abs (integers are limited to 64 bits)");
            return Value::integer(v.i < 0 ? -v.i : v.i);
        }
        if (v.type == Value::Float) return Value::number(std::fabs(v.f));
        template_error(line, "abs of a non-number");
    }
    if (name == "replace") {
        if (a.size() < 2) template_error(line, "replace needs two arguments");
        const Value *cnt = arg(a, kw, 2, "count");
        return Value::str(replace_all(to_str(v), to_str(a[0]), to_str(a[1]), cnt && cnt->type == Value::Int ? cnt->i : -1));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
        bool attr = name == "selectattr" || name == "rejectattr";
        bool want = name == "selectattr" || name == "select";
        size_t ti = attr ? 1 : 0;
        List out;
        for (const auto &x : as_list(v, line)) {
            if (attr && a.empty()) template_error(line, "%s needs an attribute name", name.c_str());
            Value subj = attr ? attr_of(x, to_str(a[0])) : x;
            bool r;
            if (a.size() > ti) {
                std::string test = to_str(a[ti]);
                List targs(a.begin() + static_cast<long>(ti) + 1, a.end());
                r = test == "defined" ? subj.defined() : test == "undefined" ? !subj.defined() : apply_test(test, subj, targs, line);
            } else {
                r = subj.truthy();
            }
            if (r == want) out.push_back(x);
        }
        return Value::make_list(std::move(out));
    }
    if (name == "map") {
        const Value *at = kwarg(kw, "attribute");
        List out;
        for (const auto &x : as_list(v, line)) {
            if (at) {
                Value r = attr_of(x, to_str(*at));
                const Value *dflt = kwarg(kw, "default");
                out.push_back(!r.defined() && dflt ? *dflt : r);
            } else if (!a.empty()) {
                out.push_back(apply_filter(to_str(a[0]), x, List(a.begin() + 1, a.end()), {}, line, call));
            } else {
                template_error(line, "map needs a filter name or attribute=");
            }
        }
        return Value::make_list(std::move(out));
    }
    if (name == "unique") {
        List out;
        for (const auto &x : as_list(v, line)) {
            charge(static_cast<int64_t>(out.size()), line);
            bool seen = false;
            for (const auto &y : out) seen = seen || equals(x, y);
            if (!seen) out.push_back(x);
        }
        return Value::make_list(std::move(out));
    }
    if (name == "sum") {
        Value acc = Value::integer(0);
        for (const auto &x : as_list(v, line)) {
            if (x.type == Value::Float || acc.type == Value::Float)
                acc = Value::number((acc.type == Value::Float ? acc.f : acc.i) + (x.type == Value::Float ? x.f : x.i));
            else if (__builtin_add_overflow(acc.i, x.type == Value::Bool ? int64_t{x.b} : x.i, &acc.i))
                template_error(line, "integer overflow in sum (integers are limited to 64 bits)");
        }
        return acc;
    }
    if (name == "indent") {
        const Value *w = arg(a, kw, 0, "width");
        const Value *first = arg(a, kw, 1, "first");
        int64_t width = w && w->type == Value::Int ? w->i : 4;
        if (width > kMaxIndent)
            template_error(line, "indent width %lld exceeds the indent limit of %d", static_cast<long long>(width),
                           kMaxIndent);
        std::string pad(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
        std::string s = to_str(v), o;
        for (size_t k = 0; k < s.size(); k++) {
            o += s[k];
            if (s[k] == '\n' && k + 1 < s.size() && s[k + 1] != '\n') {
                check_size(o.size() + pad.size(), line);
                o += pad;
            }
        }
        return Value::str((first && first->truthy() ? pad : "") + o);
    }
    if (name == "sort") {
        const Value *rev = arg(a, kw, 0, "reverse");
        const Value *at = kwarg(kw, "attribute");
        List l = as_list(v, line);
        auto key = [&](const Value &x) { return at ? attr_of(x, to_str(*at)) : x; };
        std::stable_sort(l.begin(), l.end(), [&](const Value &x, const Value &y) {
            Value kx = key(x), ky = key(y);
            if (kx.type == Value::String && ky.type == Value::String) return ascii_case(kx.s, 0) < ascii_case(ky.s, 0);
            bool nx = kx.type == Value::Int || kx.type == Value::Float || kx.type == Value::Bool;
            bool ny = ky.type == Value::Int || ky.type == Value::Float || ky.type == Value::Bool;
            if (!nx || !ny) template_error(line, "sort of values that cannot be compared");
            auto d = [](const Value &q) { return q.type == Value::Float ? q.f : static_cast<double>(q.type == Value::Bool ? q.b : q.i); };
            return d(kx) < d(ky);
        });
        if (rev && rev->truthy()) std::reverse(l.begin(), l.end());
        return Value::make_list(std::move(l));
    }
    if (name == "dictsort") {
        List l = items_of(v);
        std::stable_sort(l.begin(), l.end(), [](const Value &x, const Value &y) { return (*x.list)[0].s < (*y.list)[0].s; });
        return Value::make_list(std::move(l));
    }
    template_error(line, "unsupported construct: filter '%s'", name.c_str());
}

bool has_method(const Value &self, const std::string &n) {
    static const char *str_m[] = {"strip", "lstrip", "rstrip", "startswith", "endswith", "split", "upper", "lower", "title",
                                  "capitalize", "replace", "find", "rfind", "count", "join", "splitlines", "format", nullptr};
    static const char *list_m[] = {"append", "pop", "index", "extend", "insert", "count", nullptr};
    static const char *dict_m[] = {"items", "keys", "values", "get", "update", "pop", nullptr};
    const char **m = self.type == Value::String ? str_m : self.type == Value::ListT ? list_m
                     : self.type == Value::DictT ? dict_m : nullptr;
    for (; m && *m; m++)
        if (n == *m) return true;
    return false;
}

Value call_method(const Value &self, const std::string &n, const List &a, const KwArgs &kw, int line) {
    if (self.type == Value::String) {
        const std::string &s = self.s;
        if (n == "strip") return Value::str(strip(s, arg(a, kw, 0, "chars"), true, true));
        if (n == "lstrip") return Value::str(strip(s, arg(a, kw, 0, "chars"), true, false));
        if (n == "rstrip") return Value::str(strip(s, arg(a, kw, 0, "chars"), false, true));
        if (n == "startswith" || n == "endswith") {
            if (a.empty()) template_error(line, "%s needs an argument", n.c_str());
            List pre = a[0].type == Value::ListT ? *a[0].list : List{a[0]};
            for (const auto &p : pre) {
                const std::string &x = p.s;
                bool hit = n == "startswith" ? s.compare(0, x.size(), x) == 0
                                             : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
                if (hit) return Value::boolean(true);
            }
            return Value::boolean(false);
        }
        if (n == "upper") return Value::str(ascii_case(s, 1));
        if (n == "lower") return Value::str(ascii_case(s, 0));
        if (n == "title") return Value::str(ascii_case(s, 2));
        if (n == "capitalize") return Value::str(ascii_case(s, 3));
        if (n == "replace") {
            if (a.size() < 2) template_error(line, "replace needs two arguments");
            return Value::str(replace_all(s, to_str(a[0]), to_str(a[1]), a.size() > 2 && a[2].type == Value::Int ? a[2].i : -1));
        }
        if (n == "find" || n == "rfind" || n == "count") {
            if (a.empty()) template_error(line, "%s needs an argument", n.c_str());
            std::string x = to_str(a[0]);
            if (n == "count") {
                int64_t c = 0;
                for (size_t p = s.find(x); !x.empty() && p != std::string::npos; p = s.find(x, p + x.size())) c++;
                return Value::integer(c);
            }
            size_t p = n == "find" ? s.find(x) : s.rfind(x);
            if (p == std::string::npos) return Value::integer(-1);
            int64_t cp = 0;
            for (size_t k = 0; k < p; k++) cp += (static_cast<unsigned char>(s[k]) & 0xC0) != 0x80;
            return Value::integer(cp);
        }
        if (n == "split" || n == "splitlines") {
            const Value *sep = n == "split" ? arg(a, kw, 0, "sep") : nullptr;
            const Value *maxv = n == "split" ? arg(a, kw, 1, "maxsplit") : nullptr;
            int64_t maxsplit = maxv && maxv->type == Value::Int ? maxv->i : -1;
            List out;
            if (n == "splitlines") {
                size_t b = 0;
                while (b < s.size()) {
                    size_t e = s.find_first_of("\r\n", b);
                    if (e == std::string::npos) { out.push_back(Value::str(s.substr(b))); break; }
                    out.push_back(Value::str(s.substr(b, e - b)));
                    b = e + ((s[e] == '\r' && e + 1 < s.size() && s[e + 1] == '\n') ? 2 : 1);
                }
            } else if (!sep || sep->type == Value::None) {
                size_t i = 0;
                int64_t splits = 0;
                while (i < s.size()) {
                    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) i++;
                    if (i >= s.size()) break;
                    if (maxsplit >= 0 && splits >= maxsplit) {
                        std::string rest = s.substr(i);
                        while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back()))) rest.pop_back();
                        out.push_back(Value::str(rest));
                        break;
                    }
                    size_t j = i;
                    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) j++;
                    out.push_back(Value::str(s.substr(i, j - i)));
                    splits++;
                    charge(1, line);
                    i = j;
                }
            } else {
                std::string d = to_str(*sep);
                if (d.empty()) template_error(line, "split with an empty separator");
                size_t b = 0;
                int64_t splits = 0;
                for (;;) {
                    size_t e = s.find(d, b);
                    if (e == std::string::npos || (maxsplit >= 0 && splits >= maxsplit)) break;
                    out.push_back(Value::str(s.substr(b, e - b)));
                    b = e + d.size();
                    splits++;
                    charge(1, line);
                }
                out.push_back(Value::str(s.substr(b)));
            }
            return Value::make_list(std::move(out));
        }
        if (n == "join") {
            std::string o;
            List l = a.empty() ? List{} : as_list(a[0], line);
            for (size_t k = 0; k < l.size(); k++) o += (k ? s : "") + to_str(l[k]);
            return Value::str(o);
        }
        if (n == "format") {
            std::string o;
            size_t ai = 0;
            for (size_t k = 0; k < s.size(); k++) {
                if (s[k] == '{' && k + 1 < s.size() && s[k + 1] == '}') {
                    if (ai < a.size()) o += to_str(a[ai++]);
                    k++;
                } else {
                    o += s[k];
                }
            }
            return Value::str(o);
        }
    }
    if (self.type == Value::ListT) {
        List &l = *self.list;
        auto room = [&](size_t more) {
            if (static_cast<int64_t>(l.size() + more) > kMaxItems)
                template_error(line, "a list of %zu items exceeds the list limit of %lld items", l.size() + more,
                               static_cast<long long>(kMaxItems));
        };
        if (n == "append") { room(1); if (!a.empty()) l.push_back(a[0]); return Value::none(); }
        if (n == "extend") {
            if (a.empty()) return Value::none();
            List more = as_list(a[0], line);
            room(more.size());
            for (const auto &x : more) l.push_back(x);
            return Value::none();
        }
        if (n == "insert" && a.size() >= 2 && a[0].type == Value::Int) {
            room(1);
            int64_t at = std::min<int64_t>(std::max<int64_t>(a[0].i < 0 ? a[0].i + static_cast<int64_t>(l.size()) : a[0].i, 0),
                                           static_cast<int64_t>(l.size()));
            l.insert(l.begin() + at, a[1]);
            return Value::none();
        }
        if (n == "pop") {
            if (l.empty()) template_error(line, "pop from an empty list");
            int64_t at = a.empty() ? static_cast<int64_t>(l.size()) - 1 : a[0].i;
            if (at < 0) at += static_cast<int64_t>(l.size());
            if (at < 0 || at >= static_cast<int64_t>(l.size())) template_error(line, "pop index out of range");
            Value r = l[at];
            l.erase(l.begin() + at);
            return r;
        }
        if (n == "index" || n == "count") {
            int64_t c = 0;
            for (size_t k = 0; k < l.size(); k++) {
                if (!a.empty() && equals(l[k], a[0])) {
                    if (n == "index") return Value::integer(static_cast<int64_t>(k));
                    c++;
                }
            }
            if (n == "index") template_error(line, "value not in list");
            return Value::integer(c);
        }
    }
    if (self.type == Value::DictT) {
        if (n == "items") return Value::make_list(items_of(self));
        if (n == "keys" || n == "values") {
            List out;
            for (const auto &kv : *self.dict) out.push_back(n == "keys" ? Value::str(kv.first) : kv.second);
            return Value::make_list(std::move(out));
        }
        if (n == "get") {
            if (a.empty()) template_error(line, "get needs a key");
            const Value *v = self.find(to_str(a[0]));
            return v ? *v : (a.size() > 1 ? a[1] : Value::none());
        }
        if (n == "update") {
            Value d = self;
            if (!a.empty() && a[0].type == Value::DictT) for (const auto &kv : *a[0].dict) d.set(kv.first, kv.second);
            for (const auto &kv : kw) d.set(kv.first, kv.second);
            return Value::none();
        }
        if (n == "pop") {
            if (a.empty()) template_error(line, "pop needs a key");
            std::string key = to_str(a[0]);
            for (auto it = self.dict->begin(); it != self.dict->end(); ++it) {
                if (it->first == key) {
                    Value r = it->second;
                    self.dict->erase(it);
                    return r;
                }
            }
            if (a.size() > 1) return a[1];
            template_error(line, "key '%s' not found", key.c_str());
        }
    }
    template_error(line, "unsupported construct: method '%s'", n.c_str());
}

Value call_global(const std::string &n, const List &a, const KwArgs &kw, int line) {
    if (n == "raise_exception") fail(EDGELLM_ERR_TEMPLATE, "%s", a.empty() ? "raise_exception" : to_str(a[0]).c_str());
    if (n == "range") {
        int64_t start = 0, stop, step = 1;
        if (a.empty() || a.size() > 3) template_error(line, "range takes 1 to 3 arguments");
        for (const auto &x : a)
            if (x.type != Value::Int) template_error(line, "range arguments must be integers");
        if (a.size() == 1) stop = a[0].i;
        else { start = a[0].i; stop = a[1].i; if (a.size() == 3) step = a[2].i; }
        if (step == 0) template_error(line, "range step cannot be zero");
        // The length is computed in 128 bits: no int64 start, stop or step overflows it.
        __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
        __int128 mag = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
        __int128 count = span > 0 ? (span + mag - 1) / mag : 0;
        if (count > kMaxItems)
            template_error(line, "range of %lld items exceeds the list limit of %lld items",
                           static_cast<long long>(std::min<__int128>(count, INT64_MAX)), static_cast<long long>(kMaxItems));
        charge(static_cast<int64_t>(count), line);
        List out;
        out.reserve(static_cast<size_t>(count));
        for (__int128 k = 0; k < count; k++) out.push_back(Value::integer(static_cast<int64_t>(start + k * step)));
        return Value::make_list(std::move(out));
    }
    if (n == "namespace" || n == "dict") {
        Value v = Value::make_dict();
        if (n == "namespace") v.type = Value::Namespace;
        if (!a.empty() && a[0].type == Value::DictT) for (const auto &kv : *a[0].dict) v.set(kv.first, kv.second);
        for (const auto &kv : kw) v.set(kv.first, kv.second);
        return v;
    }
    if (n == "strftime_now") {
        if (a.empty()) template_error(line, "strftime_now needs a format");
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        localtime_r(&t, &tm);
        char buf[256];
        size_t len = std::strftime(buf, sizeof buf, to_str(a[0]).c_str(), &tm);
        return Value::str(std::string(buf, len));
    }
    template_error(line, "unsupported construct: function '%s'", n.c_str());
}

}  // namespace edgellm::jinja
