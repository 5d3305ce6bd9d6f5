// Jinja evaluator: scopes (a for-loop body is its own scope, as in Jinja2, hence namespace()),
// loop variables, macros, break/continue, Python-like operators, str() and json.dumps()
// formatting of values.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "chat/jinja.h"
#include "core/error.h"
#include "core/utf8.h"

namespace edgellm::jinja {

namespace {

// What one render owns besides its AST: the work done so far and every list / dict created while
// it runs. The containers are held here until the render ends, so dropping a value never destroys
// a deep chain recursively (a container's destructor only releases children this list still
// holds), and cycles (`l.append(l)`, `ns.x = ns`) are broken by clearing every container at the
// end instead of leaking.
struct RenderState {
    int64_t steps = 0;
    std::vector<std::shared_ptr<List>> lists;
    std::vector<std::shared_ptr<Dict>> dicts;
    size_t prune_at = 4096;

    // Releases containers only this state holds, newest first (a parent before its children).
    template <class T>
    static void release_unused(std::vector<std::shared_ptr<T>> &v) {
        for (size_t k = v.size(); k-- > 0;)
            if (v[k].use_count() == 1) v[k].reset();
        size_t w = 0;
        for (auto &p : v)
            if (p) v[w++] = std::move(p);
        v.resize(w);
    }
    void prune() {
        if (lists.size() + dicts.size() < prune_at) return;
        release_unused(lists);
        release_unused(dicts);
        prune_at = std::max<size_t>(4096, 2 * (lists.size() + dicts.size()));
    }
    ~RenderState() {
        // Every container is alive while its contents are cleared, so no destructor recurses.
        for (auto &l : lists) { List tmp; tmp.swap(*l); }
        for (auto &d : dicts) { Dict tmp; tmp.swap(*d); }
    }
};

thread_local RenderState *tl_render = nullptr;

}  // namespace

void charge(int64_t n, int line) {
    if (!tl_render) return;
    tl_render->steps += n;
    if (tl_render->steps > kMaxSteps)
        template_error(line, "the template exceeds the work limit of %lld steps (loops or recursion too long)",
                       static_cast<long long>(kMaxSteps));
}

void check_size(size_t bytes, int line) {
    if (bytes > kMaxOutputBytes)
        template_error(line, "a string of %zu bytes exceeds the template output limit of %zu bytes", bytes,
                       kMaxOutputBytes);
}

Value Value::str(std::string x) {
    check_size(x.size(), 0);
    charge(4 + static_cast<int64_t>(x.size() / 16), 0);
    Value v;
    v.type = String;
    v.s = std::move(x);
    return v;
}

Value Value::make_list(List l) {
    Value v;
    v.type = ListT;
    v.list = std::make_shared<List>(std::move(l));
    if (tl_render) {
        tl_render->lists.push_back(v.list);
        tl_render->prune();
    }
    return v;
}

Value Value::make_dict(Dict d) {
    Value v;
    v.type = DictT;
    v.dict = std::make_shared<Dict>(std::move(d));
    if (tl_render) {
        tl_render->dicts.push_back(v.dict);
        tl_render->prune();
    }
    return v;
}

bool Value::truthy() const {
    switch (type) {
        case Undefined: case None: return false;
        case Bool: return b;
        case Int: return i != 0;
        case Float: return f != 0.0;
        case String: return !s.empty();
        case ListT: return !list->empty();
        case DictT: return !dict->empty();
        default: return true;
    }
}

const Value *Value::find(const std::string &key) const {
    if ((type != DictT && type != Namespace) || !dict) return nullptr;
    for (const auto &kv : *dict)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void Value::set(const std::string &key, Value v) {
    for (auto &kv : *dict) {
        if (kv.first == key) {
            kv.second = std::move(v);
            return;
        }
    }
    dict->emplace_back(key, std::move(v));
}

static std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
}

static std::string py_repr_str(const std::string &s) {
    char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
    std::string o(1, q);
    for (unsigned char c : s) {
        if (c == '\\') o += "\\\\";
        else if (c == static_cast<unsigned char>(q)) { o += '\\'; o += q; }
        else if (c == '\n') o += "\\n";
        else if (c == '\r') o += "\\r";
        else if (c == '\t') o += "\\t";
        else if (c < 0x20 || c == 0x7F) { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); o += b; }
        else o += static_cast<char>(c);
    }
    return o + q;
}

static void check_value_depth(int depth) {
    if (depth > kMaxValueDepth)
        fail(EDGELLM_ERR_TEMPLATE, "chat template: a value nested deeper than the limit of %d levels (or containing "
             "itself) was printed or compared", kMaxValueDepth);
}

static std::string to_str_at(const Value &v, int depth);
static std::string repr(const Value &v, int depth) {
    return v.type == Value::String ? py_repr_str(v.s) : to_str_at(v, depth);
}
static std::string repr(const Value &v) { return repr(v, 0); }

std::string to_str(const Value &v) { return to_str_at(v, 0); }

static std::string to_str_at(const Value &v, int depth) {
    check_value_depth(depth);
    switch (v.type) {
        case Value::Undefined: return "";
        case Value::None: return "None";
        case Value::Bool: return v.b ? "True" : "False";
        case Value::Int: return std::to_string(v.i);
        case Value::Float: return float_repr(v.f);
        case Value::String: return v.s;
        case Value::ListT: {
            std::string o = "[";
            for (size_t k = 0; k < v.list->size(); k++) {
                charge(1, 0);
                o += (k ? ", " : "") + repr((*v.list)[k], depth + 1);
                check_size(o.size(), 0);
            }
            return o + "]";
        }
        case Value::DictT: {
            std::string o = "{";
            for (size_t k = 0; k < v.dict->size(); k++) {
                charge(1, 0);
                o += (k ? ", " : "") + py_repr_str((*v.dict)[k].first) + ": " + repr((*v.dict)[k].second, depth + 1);
                check_size(o.size(), 0);
            }
            return o + "}";
        }
        case Value::Namespace: return "<Namespace>";
        default: return "<function>";
    }
}

static void json_str(std::string &o, const std::string &s) {
    o += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            case '\b': o += "\\b"; break;
            case '\f': o += "\\f"; break;
            default:
                if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
                else o += static_cast<char>(c);
        }
    }
    o += '"';
}

static void json_val(std::string &o, const Value &v, int indent, int depth) {
    check_value_depth(depth);
    check_size(o.size(), 0);
    charge(1, 0);
    auto nl = [&](int d) {
        if (indent < 0) return;
        o += '\n';
        o.append(static_cast<size_t>(indent * d), ' ');
    };
    const char *sep = indent < 0 ? ", " : ",";
    switch (v.type) {
        case Value::Undefined: case Value::None: o += "null"; break;
        case Value::Bool: o += v.b ? "true" : "false"; break;
        case Value::Int: o += std::to_string(v.i); break;
        case Value::Float:
            o += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f > 0 ? "Infinity" : "-Infinity") : float_repr(v.f);
            break;
        case Value::String: json_str(o, v.s); break;
        case Value::ListT:
            if (v.list->empty()) { o += "[]"; break; }
            o += '[';
            for (size_t k = 0; k < v.list->size(); k++) {
                if (k) o += sep;
                nl(depth + 1);
                json_val(o, (*v.list)[k], indent, depth + 1);
            }
            nl(depth);
            o += ']';
            break;
        case Value::DictT: case Value::Namespace:
            if (v.dict->empty()) { o += "{}"; break; }
            o += '{';
            for (size_t k = 0; k < v.dict->size(); k++) {
                if (k) o += sep;
                nl(depth + 1);
                json_str(o, (*v.dict)[k].first);
                o += ": ";
                json_val(o, (*v.dict)[k].second, indent, depth + 1);
            }
            nl(depth);
            o += '}';
            break;
        default: fail(EDGELLM_ERR_TEMPLATE, "chat template: tojson of a function");
    }
}

std::string to_json(const Value &v, int indent) {
    std::string o;
    json_val(o, v, indent, 0);
    return o;
}

static bool is_num(const Value &v) { return v.type == Value::Int || v.type == Value::Float || v.type == Value::Bool; }
static double num(const Value &v) { return v.type == Value::Float ? v.f : v.type == Value::Bool ? v.b : static_cast<double>(v.i); }

static bool equals_at(const Value &a, const Value &b, int depth);
bool equals(const Value &a, const Value &b) { return equals_at(a, b, 0); }

static bool equals_at(const Value &a, const Value &b, int depth) {
    check_value_depth(depth);
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a.type != b.type) return (a.type == Value::None || a.type == Value::Undefined) &&
                                 (b.type == Value::None || b.type == Value::Undefined) && a.type == b.type;
    switch (a.type) {
        case Value::String: return a.s == b.s;
        case Value::ListT:
            if (a.list->size() != b.list->size()) return false;
            for (size_t k = 0; k < a.list->size(); k++)
                if (!equals_at((*a.list)[k], (*b.list)[k], depth + 1)) return false;
            return true;
        case Value::DictT:
            if (a.dict->size() != b.dict->size()) return false;
            for (const auto &kv : *a.dict) {
                const Value *o = b.find(kv.first);
                if (!o || !equals_at(kv.second, *o, depth + 1)) return false;
            }
            return true;
        case Value::None: case Value::Undefined: return true;
        default: return a.dict == b.dict && a.macro == b.macro;
    }
}

namespace {

std::vector<uint32_t> cps(const std::string &s);
std::string from_cps(const std::vector<uint32_t> &v, size_t b, size_t e);

class Eval {
public:
    explicit Eval(const Dict &globals) { scopes_.push_back(std::make_shared<Dict>(globals)); }

    enum Flow { Normal, Break, Continue };

    Flow exec(const Body &body, std::string &out) {
        Deeper guard(this, body.empty() ? 0 : body.front()->line);
        for (const auto &n : body) {
            Flow f = exec_node(*n, out);
            if (f != Normal) return f;
        }
        return Normal;
    }

private:
    // Counts nested evaluation (exec and eval frames) against kMaxEvalDepth.
    struct Deeper {
        Eval *ev;
        Deeper(Eval *e, int line) : ev(e) {
            if (++ev->depth_ > kMaxEvalDepth)
                template_error(line, "the template exceeds the recursion depth limit of %d (recursive macro?)",
                               kMaxEvalDepth);
        }
        ~Deeper() { --ev->depth_; }
        Deeper(const Deeper &) = delete;
        Deeper &operator=(const Deeper &) = delete;
    };

    static void emit(std::string &out, const std::string &s, int line) {
        check_size(out.size() + s.size(), line);
        out += s;
    }

    Flow exec_node(const Node &n, std::string &out) {
        charge(1, n.line);
        switch (n.kind) {
            case Node::Text: emit(out, n.text, n.line); break;
            case Node::Output: emit(out, to_str(eval(n.expr)), n.line); break;
            case Node::If:
                for (const auto &br : n.branches)
                    if (eval(br.first).truthy()) return exec(br.second, out);
                return exec(n.else_body, out);
            case Node::For: exec_for(n, out); break;
            case Node::Set: assign(n, eval(n.expr)); break;
            case Node::SetBlock: {
                std::string s;
                exec(n.body, s);
                check_size(out.size() + s.size(), n.line);
                assign(n, Value::str(s));
                break;
            }
            case Node::MacroDef: {
                Value m;
                m.type = Value::MacroT;
                m.macro = std::make_shared<Macro>();
                m.macro->def = std::make_shared<Node>(n);
                scopes_.back()->emplace_back(n.text, m);
                break;
            }
            case Node::Break: return Break;
            case Node::Continue: return Continue;
            case Node::Scope: return exec(n.body, out);
        }
        return Normal;
    }

    void assign(const Node &n, Value v) {
        if (!n.attr.empty()) {
            Value ns = lookup(n.text);
            if (ns.type != Value::Namespace) template_error(n.line, "'%s' is not a namespace", n.text.c_str());
            ns.set(n.attr, std::move(v));
            return;
        }
        Dict &d = *scopes_.back();
        for (auto &kv : d) {
            if (kv.first == n.text) {
                kv.second = std::move(v);
                return;
            }
        }
        d.emplace_back(n.text, std::move(v));
    }

    Value lookup(const std::string &name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            for (auto kv = (*it)->rbegin(); kv != (*it)->rend(); ++kv)
                if (kv->first == name) return kv->second;
        static const char *globals[] = {"range", "namespace", "raise_exception", "strftime_now", "dict", nullptr};
        for (int k = 0; globals[k]; k++) {
            if (name == globals[k]) {
                Value f;
                f.type = Value::Builtin;
                f.s = name;
                return f;
            }
        }
        return Value();
    }

    List iterate(const Value &v, int line) {
        switch (v.type) {
            case Value::ListT:
                charge(static_cast<int64_t>(v.list->size()), line);
                return *v.list;
            case Value::DictT: {
                List keys;
                for (const auto &kv : *v.dict) keys.push_back(Value::str(kv.first));
                return keys;
            }
            case Value::String: {
                List chars;
                auto c = cps(v.s);
                charge(static_cast<int64_t>(c.size()), line);
                for (size_t k = 0; k < c.size(); k++) chars.push_back(Value::str(from_cps(c, k, k + 1)));
                return chars;
            }
            case Value::Undefined: case Value::None: return {};
            default: template_error(line, "value is not iterable");
        }
    }

    void exec_for(const Node &n, std::string &out) {
        List items = iterate(eval(n.expr), n.line);
        scopes_.push_back(std::make_shared<Dict>());
        auto bind = [&](const Value &item) {
            if (n.targets.size() == 1) {
                scopes_.back()->emplace_back(n.targets[0], item);
            } else {
                if (item.type != Value::ListT || item.list->size() != n.targets.size())
                    template_error(n.line, "cannot unpack loop item into %zu names", n.targets.size());
                for (size_t k = 0; k < n.targets.size(); k++) scopes_.back()->emplace_back(n.targets[k], (*item.list)[k]);
            }
        };
        if (n.cond) {
            List kept;
            for (const auto &item : items) {
                scopes_.back()->clear();
                bind(item);
                if (eval(n.cond).truthy()) kept.push_back(item);
            }
            items.swap(kept);
        }
        const int64_t len = static_cast<int64_t>(items.size());
        for (int64_t k = 0; k < len; k++) {
            charge(1, n.line);
            scopes_.back()->clear();
            Dict loop = {{"index", Value::integer(k + 1)},         {"index0", Value::integer(k)},
                         {"revindex", Value::integer(len - k)},     {"revindex0", Value::integer(len - k - 1)},
                         {"first", Value::boolean(k == 0)},         {"last", Value::boolean(k == len - 1)},
                         {"length", Value::integer(len)}};
            if (k > 0) loop.emplace_back("previtem", items[k - 1]);
            if (k + 1 < len) loop.emplace_back("nextitem", items[k + 1]);
            scopes_.back()->emplace_back("loop", Value::make_dict(std::move(loop)));
            bind(items[k]);
            if (exec(n.body, out) == Break) break;
        }
        scopes_.pop_back();
        if (len == 0) exec(n.else_body, out);
    }

    std::pair<List, std::vector<std::pair<std::string, Value>>> eval_args(const Expr &e) {
        List args;
        std::vector<std::pair<std::string, Value>> kw;
        for (const auto &a : e.args) args.push_back(eval(a));
        for (const auto &k : e.kwargs) kw.emplace_back(k.first, eval(k.second));
        return {args, kw};
    }

    Value call_macro(const Value &m, const List &args, const std::vector<std::pair<std::string, Value>> &kw, int line) {
        const Node &def = *m.macro->def;
        auto scope = std::make_shared<Dict>();
        for (size_t k = 0; k < def.targets.size(); k++) {
            Value v;
            if (k < args.size()) v = args[k];
            else if (def.defaults[k]) v = eval(def.defaults[k]);
            for (const auto &p : kw)
                if (p.first == def.targets[k]) v = p.second;
            scope->emplace_back(def.targets[k], v);
        }
        if (args.size() > def.targets.size()) template_error(line, "too many arguments to macro %s", def.text.c_str());
        scopes_.push_back(scope);
        std::string out;
        try {
            exec(def.body, out);
        } catch (...) {
            scopes_.pop_back();
            throw;
        }
        scopes_.pop_back();
        return Value::str(out);
    }

    Value call(const Value &f, const List &args, const std::vector<std::pair<std::string, Value>> &kw, int line) {
        if (f.type == Value::MacroT) return call_macro(f, args, kw, line);
        if (f.type == Value::Builtin)
            return f.self ? call_method(*f.self, f.s, args, kw, line) : call_global(f.s, args, kw, line);
        template_error(line, "value is not callable");
    }

    Value eval(const ExprP &ep) {
        const Expr &e = *ep;
        Deeper guard(this, e.line);
        charge(1, e.line);
        switch (e.kind) {
            case Expr::Lit: return e.lit;
            case Expr::Name: return lookup(e.name);
            case Expr::Attr: {
                Value r = eval(e.a);
                if (const Value *v = r.find(e.name)) return *v;
                if (has_method(r, e.name)) {
                    Value f;
                    f.type = Value::Builtin;
                    f.s = e.name;
                    f.self = std::make_shared<Value>(r);
                    return f;
                }
                return Value();
            }
            case Expr::Index: return index(eval(e.a), eval(e.b), e.line);
            case Expr::Slice: return slice(e);
            case Expr::Call: {
                Value f = eval(e.a);
                auto [args, kw] = eval_args(e);
                if (!f.defined()) {
                    std::string what = e.a->kind == Expr::Name ? e.a->name : e.a->kind == Expr::Attr ? "." + e.a->name : "?";
                    template_error(e.line, "unsupported construct: call of unknown function or method '%s'", what.c_str());
                }
                return call(f, args, kw, e.line);
            }
            case Expr::Filter: {
                Value v = eval(e.a);
                auto [args, kw] = eval_args(e);
                return apply_filter(e.name, v, args, kw, e.line,
                                    [this, &e](const Value &f, const List &a) { return call(f, a, {}, e.line); });
            }
            case Expr::Test: {
                Value v = eval(e.a);
                auto [args, kw] = eval_args(e);
                bool r = e.name == "defined" ? v.defined() : e.name == "undefined" ? !v.defined() : apply_test(e.name, v, args, e.line);
                return Value::boolean(r != e.negate);
            }
            case Expr::Unary: {
                Value v = eval(e.a);
                if (e.name == "not") return Value::boolean(!v.truthy());
                if (v.type == Value::Int) {
                    if (e.name == "-" && v.i == INT64_MIN) int_overflow(e.line, "unary -");
                    return Value::integer(e.name == "-" ? -v.i : v.i);
                }
                if (is_num(v)) return Value::number(e.name == "-" ? -num(v) : num(v));
                template_error(e.line, "bad operand for unary %s", e.name.c_str());
            }
            case Expr::Ternary: return eval(e.a).truthy() ? eval(e.b) : (e.c ? eval(e.c) : Value());  // b if a else c
            case Expr::ListLit: {
                List l;
                for (const auto &a : e.args) l.push_back(eval(a));
                return Value::make_list(std::move(l));
            }
            case Expr::DictLit: {
                Value d = Value::make_dict();
                for (size_t k = 0; k + 1 < e.args.size(); k += 2) d.set(to_str(eval(e.args[k])), eval(e.args[k + 1]));
                return d;
            }
            case Expr::Binary: return binary(e);
        }
        return Value();
    }

    Value index(const Value &c, const Value &k, int line) {
        if (c.type == Value::DictT || c.type == Value::Namespace) {
            const Value *v = c.find(to_str(k));
            return v ? *v : Value();
        }
        if ((c.type == Value::ListT || c.type == Value::String) && (k.type == Value::Int || k.type == Value::Bool)) {
            if (c.type == Value::ListT) {
                int64_t n = static_cast<int64_t>(c.list->size()), i = k.i < 0 ? k.i + n : k.i;
                return i >= 0 && i < n ? (*c.list)[i] : Value();
            }
            auto v = cps(c.s);
            int64_t n = static_cast<int64_t>(v.size()), i = k.i < 0 ? k.i + n : k.i;
            return i >= 0 && i < n ? Value::str(from_cps(v, i, i + 1)) : Value();
        }
        if (c.type == Value::Undefined) return Value();
        if (c.type == Value::ListT || c.type == Value::String) template_error(line, "index must be an integer");
        return Value();
    }

    Value slice(const Expr &e) {
        Value c = eval(e.a);
        auto opt = [&](const ExprP &x, bool *has) {
            *has = false;
            if (!x) return int64_t(0);
            Value v = eval(x);
            if (v.type == Value::None) return int64_t(0);
            if (v.type != Value::Int) template_error(e.line, "slice indices must be integers");
            *has = true;
            return v.i;
        };
        bool hs, he, hp;
        int64_t start = opt(e.b, &hs), stop = opt(e.c, &he), step = opt(e.args[0], &hp);
        if (!hp) step = 1;
        if (step == 0) template_error(e.line, "slice step cannot be zero");
        std::vector<uint32_t> chars;
        int64_t n;
        if (c.type == Value::ListT) n = static_cast<int64_t>(c.list->size());
        else if (c.type == Value::String) { chars = cps(c.s); n = static_cast<int64_t>(chars.size()); }
        else template_error(e.line, "value cannot be sliced");
        auto norm = [&](int64_t i, bool has, int64_t def) {
            if (!has) return def;
            if (i < 0) i += n;
            if (step > 0) return std::min(std::max(i, int64_t(0)), n);
            return std::min(std::max(i, int64_t(-1)), n - 1);
        };
        int64_t b = norm(start, hs, step > 0 ? 0 : n - 1), en = norm(stop, he, step > 0 ? n : -1);
        List l;
        std::string s;
        // 128-bit index: i + step cannot overflow for any int64 step.
        for (__int128 i = b; step > 0 ? i < en : i > en; i += step) {
            charge(1, e.line);
            if (c.type == Value::ListT) l.push_back((*c.list)[i]);
            else s += from_cps(chars, i, i + 1);
        }
        return c.type == Value::ListT ? Value::make_list(std::move(l)) : Value::str(s);
    }

    Value binary(const Expr &e) {
        const std::string &op = e.name;
        if (op == "and") { Value a = eval(e.a); return a.truthy() ? eval(e.b) : a; }
        if (op == "or") { Value a = eval(e.a); return a.truthy() ? a : eval(e.b); }
        Value a = eval(e.a), b = eval(e.b);
        if (op == "==") return Value::boolean(equals(a, b));
        if (op == "!=") return Value::boolean(!equals(a, b));
        if (op == "~") {
            std::string x = to_str(a), y = to_str(b);
            check_size(x.size() + y.size(), e.line);
            return Value::str(x + y);
        }
        if (op == "in" || op == "not in") {
            bool r = false;
            if (b.type == Value::String) r = b.s.find(to_str(a)) != std::string::npos;
            else if (b.type == Value::ListT) for (const auto &x : *b.list) r = r || equals(a, x);
            else if (b.type == Value::DictT) r = b.find(to_str(a)) != nullptr;
            else if (b.type != Value::Undefined) template_error(e.line, "'in' needs a string, list or mapping");
            return Value::boolean(op == "in" ? r : !r);
        }
        if (op == "<" || op == ">" || op == "<=" || op == ">=") {
            int c;
            if (is_num(a) && is_num(b)) c = num(a) < num(b) ? -1 : num(a) > num(b) ? 1 : 0;
            else if (a.type == Value::String && b.type == Value::String) c = a.s.compare(b.s);
            else template_error(e.line, "cannot compare these values with %s", op.c_str());
            return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
        }
        if (op == "+") {
            if (a.type == Value::String && b.type == Value::String) {
                check_size(a.s.size() + b.s.size(), e.line);
                return Value::str(a.s + b.s);
            }
            if (a.type == Value::ListT && b.type == Value::ListT) {
                check_items(static_cast<int64_t>(a.list->size() + b.list->size()), e.line);
                for (const auto *src : {a.list.get(), b.list.get()})
                    for (const auto &x : *src) charge(copy_cost(x), e.line);
                List l = *a.list;
                l.insert(l.end(), b.list->begin(), b.list->end());
                return Value::make_list(std::move(l));
            }
        }
        if (op == "*" && ((a.type == Value::String || a.type == Value::ListT) && b.type == Value::Int)) {
            if (a.type == Value::String) {
                if (b.i > 0 && !a.s.empty() && static_cast<uint64_t>(b.i) > kMaxOutputBytes / a.s.size())
                    template_error(e.line, "string repetition by %lld exceeds the template output limit of %zu bytes",
                                   static_cast<long long>(b.i), kMaxOutputBytes);
                std::string s;
                for (int64_t k = 0; k < b.i; k++) s += a.s;
                return Value::str(s);
            }
            if (b.i > 0 && !a.list->empty() && b.i > kMaxItems / static_cast<int64_t>(a.list->size()))
                template_error(e.line, "list repetition by %lld exceeds the list limit of %lld items",
                               static_cast<long long>(b.i), static_cast<long long>(kMaxItems));
            List l;
            for (int64_t k = 0; k < b.i; k++) {
                for (const auto &x : *a.list) charge(copy_cost(x), e.line);
                l.insert(l.end(), a.list->begin(), a.list->end());
            }
            return Value::make_list(std::move(l));
        }
        if (!is_num(a) || !is_num(b))
            template_error(e.line, "unsupported operand types for %s (%s and %s)", op.c_str(), repr(a).substr(0, 30).c_str(),
                           repr(b).substr(0, 30).c_str());
        bool ints = a.type != Value::Float && b.type != Value::Float;
        if (ints && op != "/" && !(op == "**" && ival(b) < 0)) return int_binary(op, ival(a), ival(b), e.line);
        double x = num(a), y = num(b);
        if (op == "+") return Value::number(x + y);
        if (op == "-") return Value::number(x - y);
        if (op == "*") return Value::number(x * y);
        if (y == 0 && op != "**") template_error(e.line, "division by zero");
        if (op == "/") return Value::number(x / y);
        if (op == "//") return Value::number(std::floor(x / y));
        if (op == "%") return Value::number(x - std::floor(x / y) * y);
        if (op == "**") return Value::number(std::pow(x, y));
        template_error(e.line, "unsupported operator %s", op.c_str());
    }

    static int64_t ival(const Value &v) { return v.type == Value::Bool ? v.b : v.i; }

    [[noreturn]] static void int_overflow(int line, const char *op) {
        template_error(line, "integer overflow in %s (integers are limited to 64 bits)", op);
    }

    static void check_items(int64_t n, int line) {
        if (n > kMaxItems)
            template_error(line, "a list of %lld items exceeds the list limit of %lld items", static_cast<long long>(n),
                           static_cast<long long>(kMaxItems));
    }

    // Integer arithmetic with Python's floor division and modulo; results beyond 64 bits are errors.
    static Value int_binary(const std::string &op, int64_t x, int64_t y, int line) {
        int64_t r = 0;
        if (op == "+") { if (__builtin_add_overflow(x, y, &r)) int_overflow(line, "+"); return Value::integer(r); }
        if (op == "-") { if (__builtin_sub_overflow(x, y, &r)) int_overflow(line, "-"); return Value::integer(r); }
        if (op == "*") { if (__builtin_mul_overflow(x, y, &r)) int_overflow(line, "*"); return Value::integer(r); }
        if (op == "**") {  // y >= 0
            int64_t base = x;
            r = 1;
            for (int64_t p = y; p > 0; p >>= 1) {
                if ((p & 1) && __builtin_mul_overflow(r, base, &r)) int_overflow(line, "**");
                if (p > 1 && __builtin_mul_overflow(base, base, &base)) int_overflow(line, "**");
            }
            return Value::integer(r);
        }
        if (y == 0) template_error(line, "division by zero");
        if (op == "//" || op == "%") {
            if (y == -1) {
                if (op == "%") return Value::integer(0);
                if (x == INT64_MIN) int_overflow(line, "//");
                return Value::integer(-x);
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) { q -= 1; m += y; }
            return Value::integer(op == "//" ? q : m);
        }
        template_error(line, "unsupported operator %s", op.c_str());
    }

    std::vector<std::shared_ptr<Dict>> scopes_;
    int depth_ = 0;
};

std::vector<uint32_t> cps(const std::string &s) {
    std::vector<uint32_t> v;
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len && i + k < s.size(); k++) cp = (cp << 6) | (s[i + k] & 0x3F);
        v.push_back(cp);
        i += len;
    }
    return v;
}

std::string from_cps(const std::vector<uint32_t> &v, size_t b, size_t e) {
    std::string o;
    for (size_t k = b; k < e && k < v.size(); k++) utf8_append(o, v[k]);
    return o;
}

}  // namespace

// A copy of a global whose lists and dicts belong to the running render (the caller's values stay
// as they are whatever the template does to its copy).
static Value own_copy(const Value &v, int depth) {
    check_value_depth(depth);
    Value r = v;
    if (v.type == Value::ListT) {
        List l;
        for (const auto &x : *v.list) l.push_back(own_copy(x, depth + 1));
        r.list = Value::make_list(std::move(l)).list;
    } else if (v.type == Value::DictT || v.type == Value::Namespace) {
        Dict d;
        for (const auto &kv : *v.dict) d.emplace_back(kv.first, own_copy(kv.second, depth + 1));
        r.dict = Value::make_dict(std::move(d)).dict;
    }
    return r;
}

std::string render(const std::string &source, const Dict &globals) {
    if (tl_render) fail(EDGELLM_ERR_INTERNAL, "chat template: nested render");
    Body body = parse(source);
    std::string out;
    {
        RenderState state;
        struct Active {
            explicit Active(RenderState *s) { tl_render = s; }
            ~Active() { tl_render = nullptr; }
        } active(&state);
        Dict own;
        for (const auto &kv : globals) own.emplace_back(kv.first, own_copy(kv.second, 0));
        // The evaluator (its scopes hold values) goes before `state` clears the containers.
        Eval ev(own);
        ev.exec(body, out);
    }
    return out;
}

}  // namespace edgellm::jinja
