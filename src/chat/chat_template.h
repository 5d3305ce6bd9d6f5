// Chat templates: a Jinja2-subset interpreter for the templates real models ship, and built-in
// templates (llama3, llama2, chatml, mistral, gemma, phi3) for models that carry none.
#pragma once

#include <string>
#include <vector>

namespace edgellm {

struct ChatMessage {
    std::string role;
    std::string content;
};

struct ChatTemplateContext {
    std::string bos_token;
    std::string eos_token;
    bool add_generation_prompt = true;
};

// `source` is Jinja source, or the name of a built-in template ("llama3", "llama2", "chatml",
// "mistral", "gemma", "phi3"). Throws Error(EDGELLM_ERR_TEMPLATE) naming the unsupported construct or the
// raise_exception message.
std::string render_chat_template(const std::string &source, const std::vector<ChatMessage> &messages,
                                 const ChatTemplateContext &ctx);

// The built-in template name that fits a model with no template of its own, judged from its
// special tokens, in this order: "llama3" if <|start_header_id|> exists, "chatml" if <|im_start|>,
// "gemma" if <start_of_turn>, "phi3" if <|user|>, "mistral" if [INST], "llama2" otherwise.
std::string builtin_template_name(bool has_start_header_id, bool has_im_start, bool has_inst,
                                  bool has_start_of_turn = false, bool has_phi_user = false);

}  // namespace edgellm
