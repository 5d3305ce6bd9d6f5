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
    static Value str(std::string x) { Value v; v.type = String; v.s = std::move(x); return v; }
    static Value make_list(List l = {}) { Value v; v.type = ListT; v.list = std::make_shared<List>(std::move(l)); return v; }
    static Value make_dict(Dict d = {}) { Value v; v.type = DictT; v.dict = std::make_shared<Dict>(std::move(d)); return v; }

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

}  // namespace edgellm::jinja
