// Jinja lexer and parser: splits the source into text / {{ }} / {% %} / {# #} with whitespace
// control (-), trim_blocks and lstrip_blocks as transformers configures them, then parses
// statements and expressions with Jinja2's operator precedence into the AST of jinja.h.
#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstring>

#include "chat/jinja.h"
#include "core/error.h"
#include "tokenizer/unicode.h"

namespace edgellm::jinja {

void template_error(int line, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fail(EDGELLM_ERR_TEMPLATE, "chat template line %d: %s", line, buf);
}

namespace {

struct Tok {
    enum Kind { Name, Str, Int, Float, Op, End } kind;
    std::string s;
    int64_t i = 0;
    double f = 0;
};

struct Chunk {
    enum Kind { Text, Var, Block } kind;
    std::string text;   // Text
    std::vector<Tok> toks;
    int line;
};

int count_lines(const std::string &s, size_t from, size_t to) {
    int n = 0;
    for (size_t i = from; i < to && i < s.size(); i++) n += s[i] == '\n';
    return n;
}

std::vector<Tok> lex_expr(const std::string &src, size_t b, size_t e, int line) {
    std::vector<Tok> out;
    size_t i = b;
    while (i < e) {
        char c = src[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') { i++; continue; }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < e && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) j++;
            out.push_back({Tok::Name, src.substr(i, j - i)});
            i = j;
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            size_t j = i;
            bool flt = false;
            while (j < e && (std::isdigit(static_cast<unsigned char>(src[j])) || src[j] == '_')) j++;
            if (j + 1 < e && src[j] == '.' && std::isdigit(static_cast<unsigned char>(src[j + 1]))) {
                flt = true;
                j++;
                while (j < e && std::isdigit(static_cast<unsigned char>(src[j]))) j++;
            }
            std::string num = src.substr(i, j - i);
            num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
            Tok t{flt ? Tok::Float : Tok::Int, num};
            if (flt) t.f = std::strtod(num.c_str(), nullptr); else t.i = std::strtoll(num.c_str(), nullptr, 10);
            out.push_back(t);
            i = j;
        } else if (c == '\'' || c == '"') {
            std::string s;
            size_t j = i + 1;
            while (j < e && src[j] != c) {
                if (src[j] == '\\' && j + 1 < e) {
                    char n = src[++j];
                    switch (n) {
                        case 'n': s += '\n'; break;
                        case 't': s += '\t'; break;
                        case 'r': s += '\r'; break;
                        case '0': s += '\0'; break;
                        case '\\': s += '\\'; break;
                        case '\'': s += '\''; break;
                        case '"': s += '"'; break;
                        case 'x': case 'u': case 'U': {
                            int len = n == 'x' ? 2 : n == 'u' ? 4 : 8;
                            if (j + len >= e) template_error(line, "truncated \\%c escape", n);
                            uint32_t cp = static_cast<uint32_t>(std::strtoul(src.substr(j + 1, len).c_str(), nullptr, 16));
                            j += len;
                            // A surrogate pair written as two \u escapes is one character; a lone
                            // surrogate or a value past U+10FFFF has no UTF-8 form and becomes U+FFFD.
                            if (cp >= 0xD800 && cp <= 0xDBFF && j + 6 < e && src[j + 1] == '\\' && src[j + 2] == 'u') {
                                uint32_t lo = static_cast<uint32_t>(std::strtoul(src.substr(j + 3, 4).c_str(), nullptr, 16));
                                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    j += 6;
                                }
                            }
                            if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
                            unicode::append_utf8(s, cp);
                            break;
                        }
                        default: s += '\\'; s += n;
                    }
                    j++;
                } else {
                    s += src[j++];
                }
            }
            if (j >= e) template_error(line, "unterminated string literal");
            out.push_back({Tok::Str, s});
            i = j + 1;
        } else {
            static const char *ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                        "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "=", nullptr};
            bool ok = false;
            for (int k = 0; ops[k]; k++) {
                size_t n = std::strlen(ops[k]);
                if (i + n <= e && src.compare(i, n, ops[k]) == 0) {
                    out.push_back({Tok::Op, ops[k]});
                    i += n;
                    ok = true;
                    break;
                }
            }
            if (!ok) template_error(line, "unexpected character '%c'", c);
        }
    }
    out.push_back({Tok::End, ""});
    return out;
}

// The end of an expression or statement tag: the first `close` outside a string literal, as
// jinja2's lexer finds it ({{ "}}" }} prints "}}"); npos when there is none.
size_t find_tag_end(const std::string &src, size_t from, const char *close) {
    for (size_t i = from; i + 1 < src.size(); ++i) {
        const char c = src[i];
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < src.size() && src[j] != c) j += src[j] == '\\' ? 2 : 1;
            if (j >= src.size()) return std::string::npos;
            i = j;
        } else if (c == close[0] && src[i + 1] == close[1]) {
            return i;
        }
    }
    return std::string::npos;
}

std::vector<Chunk> lex(const std::string &src) {
    std::vector<Chunk> out;
    size_t pos = 0;
    int line = 1;
    bool strip_next = false;   // previous tag ended with '-'
    bool trim_next = false;    // previous tag was a block/comment (trim_blocks)
    while (pos <= src.size()) {
        size_t open = src.find('{', pos);
        while (open != std::string::npos && open + 1 < src.size() && !std::strchr("{%#", src[open + 1]))
            open = src.find('{', open + 1);
        if (open + 1 >= src.size()) open = std::string::npos;
        std::string text = src.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
        if (strip_next) {
            size_t k = 0;
            while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) k++;
            text.erase(0, k);
        } else if (trim_next && !text.empty() && text[0] == '\n') {
            text.erase(0, 1);
        }
        if (open == std::string::npos) {
            if (!text.empty()) out.push_back({Chunk::Text, text, {}, line});
            break;
        }
        char kind = src[open + 1];
        bool lstrip_minus = open + 2 < src.size() && src[open + 2] == '-';
        bool plus = open + 2 < src.size() && src[open + 2] == '+';
        if (lstrip_minus) {
            while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
        } else if (kind != '{' && !plus) {
            // lstrip_blocks: drop spaces/tabs between the line start and a block/comment tag.
            size_t j = open;
            while (j > pos && (src[j - 1] == ' ' || src[j - 1] == '\t')) j--;
            bool at_line_start = j == 0 || src[j - 1] == '\n';
            if (at_line_start) text.erase(text.size() - std::min(text.size(), open - j));
        }
        int tag_line = line + count_lines(src, pos, open);
        if (!text.empty()) out.push_back({Chunk::Text, text, {}, line});
        size_t body = open + 2 + ((lstrip_minus || plus) ? 1 : 0);
        const char *close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
        size_t end = kind == '#' ? src.find(close, body) : find_tag_end(src, body, close);
        if (end == std::string::npos) template_error(tag_line, "unclosed '{%c' tag", kind);
        bool rstrip_minus = end > body && src[end - 1] == '-';
        size_t body_end = rstrip_minus ? end - 1 : end;
        line = tag_line + count_lines(src, open, end + 2);
        pos = end + 2;
        strip_next = rstrip_minus;
        trim_next = kind != '{';
        if (kind == '#') continue;
        auto toks = lex_expr(src, body, body_end, tag_line);
        if (kind == '%' && toks[0].kind == Tok::Name && toks[0].s == "raw") {
            // {% raw %} ... {% endraw %}: verbatim text.
            size_t k = pos, tag;
            for (;;) {
                tag = src.find("{%", k);
                if (tag == std::string::npos) template_error(tag_line, "{%% raw %%} without {%% endraw %%}");
                size_t b2 = tag + 2 + (src[tag + 2] == '-' ? 1 : 0);
                while (b2 < src.size() && src[b2] == ' ') b2++;
                if (src.compare(b2, 6, "endraw") == 0) break;
                k = tag + 2;
            }
            std::string raw = src.substr(pos, tag - pos);
            if (strip_next) { size_t q = 0; while (q < raw.size() && std::isspace(static_cast<unsigned char>(raw[q]))) q++; raw.erase(0, q); }
            if (src[tag + 2] == '-') while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.pop_back();
            if (!raw.empty()) out.push_back({Chunk::Text, raw, {}, line});
            size_t e2 = src.find("%}", tag);
            if (e2 == std::string::npos) template_error(tag_line, "unclosed endraw");
            strip_next = src[e2 - 1] == '-';
            trim_next = true;
            line += count_lines(src, pos, e2 + 2);
            pos = e2 + 2;
            continue;
        }
        out.push_back({kind == '{' ? Chunk::Var : Chunk::Block, "", std::move(toks), tag_line});
    }
    return out;
}

class Parser {
public:
    explicit Parser(std::vector<Chunk> chunks) : ch_(std::move(chunks)) {}

    // Counts recursive descent (brackets, unary operators, nested blocks) against kMaxParseDepth,
    // so that no source can exhaust the stack.
    struct Nest {
        Parser *p;
        explicit Nest(Parser *q) : p(q) {
            if (++p->nest_ > kMaxParseDepth)
                template_error(p->line_, "nesting deeper than the template recursion depth limit of %d", kMaxParseDepth);
        }
        ~Nest() { --p->nest_; }
        Nest(const Nest &) = delete;
        Nest &operator=(const Nest &) = delete;
    };

    Body parse_all() {
        std::string end;
        Body b = parse_body({}, &end);
        if (!end.empty()) template_error(line_, "unexpected {%% %s %%}", end.c_str());
        return b;
    }

private:
    // Parses nodes until a block statement whose keyword is in `stops`; returns it in *stop.
    Body parse_body(const std::vector<std::string> &stops, std::string *stop) {
        Nest nest(this);
        Body body;
        while (ci_ < ch_.size()) {
            Chunk &c = ch_[ci_];
            line_ = c.line;
            if (c.kind == Chunk::Text) {
                auto n = std::make_shared<Node>();
                n->kind = Node::Text;
                n->text = c.text;
                body.push_back(n);
                ci_++;
                continue;
            }
            toks_ = &c.toks;
            ti_ = 0;
            if (c.kind == Chunk::Var) {
                auto n = std::make_shared<Node>();
                n->kind = Node::Output;
                n->line = c.line;
                ci_++;
                n->expr = expr();
                expect_end();
                body.push_back(n);
                continue;
            }
            const Tok &kw = peek();
            if (kw.kind != Tok::Name) template_error(line_, "expected a statement keyword");
            for (const auto &s : stops) {
                if (kw.s == s) {
                    *stop = s;
                    ci_++;
                    ti_ = 1;
                    return body;
                }
            }
            ci_++;
            next();
            body.push_back(statement(kw.s));
        }
        if (!stops.empty()) template_error(line_, "missing {%% %s %%}", stops.back().c_str());
        return body;
    }

    NodeP statement(const std::string &kw) {
        auto n = std::make_shared<Node>();
        n->line = line_;
        std::string stop;
        if (kw == "for") {
            n->kind = Node::For;
            do {
                n->targets.push_back(name());
            } while (accept(","));
            if (!accept_name("in")) template_error(line_, "expected 'in' in for loop");
            n->expr = ternary(false);
            if (accept_name("if")) n->cond = or_expr();
            if (accept_name("recursive")) template_error(line_, "unsupported construct: recursive for loops");
            expect_end();
            n->body = parse_body({"else", "endfor"}, &stop);
            if (stop == "else") {
                expect_end();
                n->else_body = parse_body({"endfor"}, &stop);
            }
            expect_end();
        } else if (kw == "if") {
            n->kind = Node::If;
            ExprP cond = expr();
            expect_end();
            for (;;) {
                Body b = parse_body({"elif", "else", "endif"}, &stop);
                n->branches.emplace_back(cond, std::move(b));
                if (stop == "elif") {
                    cond = expr();
                    expect_end();
                    continue;
                }
                if (stop == "else") {
                    expect_end();
                    n->else_body = parse_body({"endif"}, &stop);
                }
                expect_end();
                break;
            }
        } else if (kw == "set") {
            n->text = name();
            if (accept(".")) n->attr = name();
            if (accept("=")) {
                n->kind = Node::Set;
                n->expr = expr();
                expect_end();
            } else {
                n->kind = Node::SetBlock;
                expect_end();
                n->body = parse_body({"endset"}, &stop);
                expect_end();
            }
        } else if (kw == "macro") {
            n->kind = Node::MacroDef;
            n->text = name();
            expect("(");
            if (!accept(")")) {
                do {
                    n->targets.push_back(name());
                    n->defaults.push_back(accept("=") ? expr() : nullptr);
                } while (accept(","));
                expect(")");
            }
            expect_end();
            n->body = parse_body({"endmacro"}, &stop);
            expect_end();
        } else if (kw == "break" || kw == "continue") {
            n->kind = kw == "break" ? Node::Break : Node::Continue;
            expect_end();
        } else if (kw == "generation") {
            // transformers' assistant-mask extension: renders its body unchanged.
            n->kind = Node::Scope;
            expect_end();
            n->body = parse_body({"endgeneration"}, &stop);
            expect_end();
        } else {
            template_error(line_, "unsupported construct: {%% %s %%}", kw.c_str());
        }
        return n;
    }

    // ---- expressions (Jinja2 precedence) ----
    ExprP expr() { return ternary(true); }
    ExprP ternary(bool allow_cond) {
        Nest nest(this);
        ExprP e = or_expr();
        if (allow_cond && peek_name("if")) {
            next();
            auto t = mk(Expr::Ternary);
            t->b = e;
            t->a = or_expr();
            if (accept_name("else")) t->c = ternary(true);
            return seal(t);
        }
        return e;
    }
    ExprP or_expr() {
        ExprP e = and_expr();
        while (accept_name("or")) e = bin("or", e, and_expr());
        return e;
    }
    ExprP and_expr() {
        ExprP e = not_expr();
        while (accept_name("and")) e = bin("and", e, not_expr());
        return e;
    }
    ExprP not_expr() {
        if (accept_name("not")) {
            Nest nest(this);
            auto u = mk(Expr::Unary);
            u->name = "not";
            u->a = not_expr();
            return seal(u);
        }
        return compare();
    }
    ExprP compare() {
        ExprP e = math1();
        for (;;) {
            const Tok &t = peek();
            if (t.kind == Tok::Op && (t.s == "==" || t.s == "!=" || t.s == "<" || t.s == ">" || t.s == "<=" || t.s == ">=")) {
                next();
                e = bin(t.s, e, math1());
            } else if (peek_name("in")) {
                next();
                e = bin("in", e, math1());
            } else if (peek_name("not") && ti_ + 1 < toks_->size() && (*toks_)[ti_ + 1].kind == Tok::Name &&
                       (*toks_)[ti_ + 1].s == "in") {
                next();
                next();
                e = bin("not in", e, math1());
            } else {
                return e;
            }
        }
    }
    ExprP math1() {
        ExprP e = concat();
        while (peek_op("+") || peek_op("-")) {
            std::string op = next().s;
            e = bin(op, e, concat());
        }
        return e;
    }
    ExprP concat() {
        ExprP e = math2();
        while (accept("~")) e = bin("~", e, math2());
        return e;
    }
    ExprP math2() {
        ExprP e = pow_expr();
        while (peek_op("*") || peek_op("/") || peek_op("//") || peek_op("%")) {
            std::string op = next().s;
            e = bin(op, e, pow_expr());
        }
        return e;
    }
    ExprP pow_expr() {
        ExprP e = unary(true);
        while (accept("**")) e = bin("**", e, unary(true));
        return e;
    }
    ExprP unary(bool with_filter) {
        ExprP e;
        if (peek_op("-") || peek_op("+")) {
            Nest nest(this);
            auto u = mk(Expr::Unary);
            u->name = next().s;
            u->a = unary(false);
            e = seal(u);
        } else {
            e = postfix(primary());
        }
        return with_filter ? filters(e) : e;
    }
    ExprP primary() {
        Tok t = next();
        if (t.kind == Tok::Str) {
            std::string s = t.s;
            while (peek().kind == Tok::Str) s += next().s;  // adjacent literals concatenate
            return lit(Value::str(s));
        }
        if (t.kind == Tok::Int) return lit(Value::integer(t.i));
        if (t.kind == Tok::Float) return lit(Value::number(t.f));
        if (t.kind == Tok::Name) {
            if (t.s == "true" || t.s == "True") return lit(Value::boolean(true));
            if (t.s == "false" || t.s == "False") return lit(Value::boolean(false));
            if (t.s == "none" || t.s == "None") return lit(Value::none());
            auto n = mk(Expr::Name);
            n->name = t.s;
            return n;
        }
        if (t.kind == Tok::Op && t.s == "(") {
            if (accept(")")) {
                auto l = mk(Expr::ListLit);
                l->tuple = true;
                return l;
            }
            ExprP e = expr();
            if (peek_op(",")) {
                auto l = mk(Expr::ListLit);
                l->tuple = true;
                l->args.push_back(e);
                while (accept(",") && !peek_op(")")) l->args.push_back(expr());
                e = seal(l);
            }
            expect(")");
            return e;
        }
        if (t.kind == Tok::Op && t.s == "[") {
            auto l = mk(Expr::ListLit);
            while (!accept("]")) {
                l->args.push_back(expr());
                if (!accept(",")) { expect("]"); break; }
            }
            return seal(l);
        }
        if (t.kind == Tok::Op && t.s == "{") {
            auto d = mk(Expr::DictLit);
            while (!accept("}")) {
                d->args.push_back(expr());
                expect(":");
                d->args.push_back(expr());
                if (!accept(",")) { expect("}"); break; }
            }
            return seal(d);
        }
        template_error(line_, "unexpected '%s' in expression", t.s.c_str());
    }
    ExprP postfix(ExprP e) {
        for (;;) {
            if (accept(".")) {
                auto a = mk(Expr::Attr);
                a->a = e;
                a->name = name();
                e = seal(a);
            } else if (accept("[")) {
                ExprP start, stop, step;
                bool slice = false;
                if (!peek_op(":")) start = expr();
                if (accept(":")) {
                    slice = true;
                    if (!peek_op("]") && !peek_op(":")) stop = expr();
                    if (accept(":") && !peek_op("]")) step = expr();
                }
                expect("]");
                auto x = mk(slice ? Expr::Slice : Expr::Index);
                x->a = e;
                x->b = start;
                x->c = stop;
                if (slice) x->args.push_back(step);
                e = seal(x);
            } else if (peek_op("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }
    ExprP call(ExprP fn) {
        expect("(");
        auto c = mk(Expr::Call);
        c->a = fn;
        call_args(c);
        return seal(c);
    }
    void call_args(const ExprP &c) {
        while (!accept(")")) {
            if (peek().kind == Tok::Name && ti_ + 1 < toks_->size() && (*toks_)[ti_ + 1].kind == Tok::Op &&
                (*toks_)[ti_ + 1].s == "=") {
                std::string k = next().s;
                next();
                c->kwargs.emplace_back(k, expr());
            } else {
                c->args.push_back(expr());
            }
            if (!accept(",")) { expect(")"); break; }
        }
    }
    ExprP filters(ExprP e) {
        for (;;) {
            if (accept("|")) {
                auto f = mk(Expr::Filter);
                f->a = e;
                f->name = name();
                if (accept("(")) call_args(f);
                e = seal(f);
            } else if (peek_name("is")) {
                next();
                auto t = mk(Expr::Test);
                t->a = e;
                t->negate = accept_name("not");
                t->name = name();
                if (accept("(")) {
                    call_args(t);
                } else if (peek().kind == Tok::Str || peek().kind == Tok::Int || peek().kind == Tok::Float ||
                           (peek().kind == Tok::Name && !peek_name("and") && !peek_name("or") && !peek_name("else") &&
                            !peek_name("if"))) {
                    t->args.push_back(postfix(primary()));  // `is divisibleby 3`, `is equalto x`
                }
                e = seal(t);
            } else if (peek_op("(")) {
                e = call(e);
            } else {
                return e;
            }
        }
    }

    // ---- token helpers ----
    const Tok &peek() const { return (*toks_)[ti_]; }
    Tok next() {
        Tok t = (*toks_)[ti_];
        if (t.kind != Tok::End) ti_++;
        return t;
    }
    bool peek_op(const char *s) const { return peek().kind == Tok::Op && peek().s == s; }
    bool peek_name(const char *s) const { return peek().kind == Tok::Name && peek().s == s; }
    bool accept(const char *s) {
        if (!peek_op(s)) return false;
        ti_++;
        return true;
    }
    bool accept_name(const char *s) {
        if (!peek_name(s)) return false;
        ti_++;
        return true;
    }
    void expect(const char *s) {
        if (!accept(s)) template_error(line_, "expected '%s' but found '%s'", s, peek().s.c_str());
    }
    void expect_end() {
        if (peek().kind != Tok::End) template_error(line_, "unexpected '%s' at the end of a tag", peek().s.c_str());
    }
    std::string name() {
        if (peek().kind != Tok::Name) template_error(line_, "expected a name but found '%s'", peek().s.c_str());
        return next().s;
    }
    ExprP mk(Expr::Kind k) {
        auto e = std::make_shared<Expr>();
        e->kind = k;
        e->line = line_;
        return e;
    }
    ExprP lit(Value v) {
        auto e = mk(Expr::Lit);
        e->lit = std::move(v);
        return e;
    }
    ExprP bin(const std::string &op, ExprP a, ExprP b) {
        auto e = mk(Expr::Binary);
        e->name = op;
        e->a = std::move(a);
        e->b = std::move(b);
        return seal(e);
    }
    // Sets a finished node's depth from its children; a tree deeper than kMaxExprDepth (also one
    // built by a long chain such as a+a+a+...) is rejected before evaluation or destruction could
    // recurse through it.
    ExprP seal(ExprP e) {
        int d = 0;
        for (const ExprP *c : {&e->a, &e->b, &e->c})
            if (*c) d = std::max(d, (*c)->depth);
        for (const auto &x : e->args)
            if (x) d = std::max(d, x->depth);
        for (const auto &kv : e->kwargs)
            if (kv.second) d = std::max(d, kv.second->depth);
        e->depth = d + 1;
        if (e->depth > kMaxExprDepth)
            template_error(line_, "an expression deeper than the limit of %d levels", kMaxExprDepth);
        return e;
    }

    std::vector<Chunk> ch_;
    size_t ci_ = 0;
    const std::vector<Tok> *toks_ = nullptr;
    size_t ti_ = 0;
    int line_ = 1;
    int nest_ = 0;
};

}  // namespace

Body parse(const std::string &source) { return Parser(lex(source)).parse_all(); }

}  // namespace edgellm::jinja
