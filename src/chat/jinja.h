// A Jinja2-subset interpreter for chat templates: values (Python-like semantics), the template
// AST, parsing (jinja_parse.cpp), evaluation (jinja_eval.cpp) and filters/methods/tests
// (jinja_builtins.cpp). Behaves as transformers' environment: trim_blocks and lstrip_blocks on.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace edgellm::jinja {

// Limits of one render. A chat template comes from the model file: it is untrusted input, so it
// must not hang, exhaust the stack or ask for unbounded memory. Exceeding a limit throws
// Error(EDGELLM_ERR_TEMPLATE) naming it. Documented in docs/limits.md.
constexpr size_t kMaxOutputBytes = size_t{16} << 20;  // rendered text, and any one string value
constexpr int64_t kMaxItems = int64_t{1} << 20;       // elements of one list (range, repetition)
constexpr int64_t kMaxSteps = 10'000'000;             // work: expressions, statements, loop
                                                      // iterations, strings made, elements and
                                                      // bytes/16 copied
constexpr int kMaxParseDepth = 64;   // nesting of brackets, unary operators and blocks in the source
constexpr int kMaxExprDepth = 128;   // depth of one expression tree (chains like a+b+c... included)
constexpr int kMaxEvalDepth = 256;   // nested evaluation at run time (macro calls included)
constexpr int kMaxValueDepth = 64;   // nesting of lists / dicts when printed or compared
constexpr int kMaxIndent = 1024;     // width of |indent and the indent of |tojson

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion-ordered, string keys
struct Macro;

struct Value {
    enum Type { Undefined, None, Bool, Int, Float, String, ListT, DictT, Namespace, MacroT, Builtin };
    Type type = Undefined;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;                      // String; Builtin: function name
    std::shared_ptr<List> list;         // ListT (tuples too)
    std::shared_ptr<Dict> dict;         // DictT, Namespace
    std::shared_ptr<Macro> macro;
    std::shared_ptr<Value> self;        // Builtin bound to a receiver (methods)

    Value() = default;
    static Value none() { Value v; v.type = None; return v; }
    static Value boolean(bool x) { Value v; v.type = Bool; v.b = x; return v; }
    static Value integer(int64_t x) { Value v; v.type = Int; v.i = x; return v; }
    static Value number(double x) { Value v; v.type = Float; v.f = x; return v; }
    static Value str(std::string x);     // throws past kMaxOutputBytes; charged to the work
    static Value make_list(List l = {});  // containers are owned by the render (jinja_eval.cpp)
    static Value make_dict(Dict d = {});

    bool defined() const { return type != Undefined; }
    bool truthy() const;
    const Value *find(const std::string &key) const;  // dict / namespace lookup
    void set(const std::string &key, Value v);         // dict / namespace assignment
};

// Python str() of a value, as Jinja prints it.
std::string to_str(const Value &v);
// json.dumps(v, ensure_ascii=False, indent=indent (<0: none), sort_keys=false).
std::string to_json(const Value &v, int indent);
bool equals(const Value &a, const Value &b);

// Renders `source` with the given global variables. Throws Error(EDGELLM_ERR_TEMPLATE).
std::string render(const std::string &source, const Dict &globals);

// ---- AST ---------------------------------------------------------------------------------------
struct Expr;
using ExprP = std::shared_ptr<Expr>;
struct Expr {
    enum Kind { Lit, Name, Attr, Index, Slice, Call, Filter, Test, Unary, Binary, Ternary, ListLit, DictLit } kind;
    int line = 0;
    int depth = 1;                      // height of the tree below and including this node
    Value lit;
    std::string name;                   // Name, Attr, Filter, Test, operator
    ExprP a, b, c;                      // operands; Slice: a[b:c:d] with args[0] = step
    std::vector<ExprP> args;
    std::vector<std::pair<std::string, ExprP>> kwargs;
    bool negate = false;                // Test: `is not`
    bool tuple = false;                 // ListLit written as (a, b)
};

struct Node;
using NodeP = std::shared_ptr<Node>;
using Body = std::vector<NodeP>;
struct Node {
    enum Kind { Text, Output, For, If, Set, SetBlock, MacroDef, Break, Continue, Scope } kind;
    int line = 0;
    std::string text;                   // Text; Set: target name; MacroDef: name
    std::string attr;                   // Set: `ns.attr` target attribute
    std::vector<std::string> targets;   // For loop variables; MacroDef parameter names
    std::vector<ExprP> defaults;        // MacroDef parameter defaults (nullptr when none)
    ExprP expr, cond;                   // Output/Set value; For iterable and `if` filter
    Body body, else_body;
    std::vector<std::pair<ExprP, Body>> branches;  // If: (condition, body), else in else_body
};

struct Macro {
    NodeP def;
};

// Parses a template; throws Error(EDGELLM_ERR_TEMPLATE) naming the construct and line.
Body parse(const std::string &source);

// Builtins (jinja_builtins.cpp).
Value apply_filter(const std::string &name, const Value &v, const List &args,
                   const std::vector<std::pair<std::string, Value>> &kwargs, int line,
                   const std::function<Value(const Value &, const List &)> &call);
bool apply_test(const std::string &name, const Value &v, const List &args, int line);
Value call_method(const Value &self, const std::string &name, const List &args,
                  const std::vector<std::pair<std::string, Value>> &kwargs, int line);
bool has_method(const Value &self, const std::string &name);
Value call_global(const std::string &name, const List &args,
                  const std::vector<std::pair<std::string, Value>> &kwargs, int line);

[[noreturn]] void template_error(int line, const char *fmt, ...);

// Adds `n` to the work of the render running on this thread; throws past kMaxSteps. No-op
// outside a render.
void charge(int64_t n, int line);
// Work of copying one value: 1, plus a unit per 16 bytes of a string.
inline int64_t copy_cost(const Value &v) { return 1 + static_cast<int64_t>(v.s.size() / 16); }
// Throws unless a string of `bytes` bytes fits the output limit.
void check_size(size_t bytes, int line);

}  // namespace edgellm::jinja
