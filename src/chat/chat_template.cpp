// render_chat_template: runs a model's Jinja chat template (or a built-in one) over the messages
// with the variables transformers' apply_chat_template provides (messages, add_generation_prompt,
// bos_token, eos_token).
#include "chat/chat_template.h"

#include "chat/jinja.h"
#include "core/error.h"
#include "core/utf8.h"

namespace edgellm {

namespace {
// Built-in templates, written as the Jinja the models' own tokenizer_config.json files carry.
const char *kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const char *kChatml =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const char *kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
// Mistral Instruct: [INST] ... [/INST] turns; a system prompt is put before the first user turn.
const char *kMistral =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = '' %}{% endif %}{{ bos_token }}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{% if loop.first and system_message %}"
    "{{ '[INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{% else %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% endif %}{% endfor %}";
// Gemma: <start_of_turn>user / model turns; a system message goes before the first user turn's
// text, as Gemma 3's template puts it (Gemma 2's rejects one; otherwise the two render alike).
const char *kGemma =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}"
    "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + "
    "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}";
// Phi-3 / Phi-3.5: <|system|>, <|user|>, <|assistant|> turns closed by <|end|>.
const char *kPhi3 =
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{ '<|system|>\n' + message['content'] + '<|end|>\n' }}{% elif message['role'] == 'user' %}"
    "{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";
}  // namespace

std::string render_chat_template(const std::string &source, const std::vector<ChatMessage> &messages,
                                 const ChatTemplateContext &ctx) {
    const std::string *src = &source;
    std::string builtin;
    if (source == "llama3") builtin = kLlama3;
    else if (source == "llama2") builtin = kLlama2;
    else if (source == "chatml") builtin = kChatml;
    else if (source == "mistral") builtin = kMistral;
    else if (source == "gemma") builtin = kGemma;
    else if (source == "phi3") builtin = kPhi3;
    if (!builtin.empty()) src = &builtin;
    // The source may come from a model file; invalid UTF-8 in it would pass into the output.
    if (!utf8_valid(*src)) fail(EDGELLM_ERR_TEMPLATE, "chat template: the template source is not valid UTF-8");

    jinja::List msgs;
    for (const auto &m : messages)
        msgs.push_back(jinja::Value::make_dict({{"role", jinja::Value::str(m.role)}, {"content", jinja::Value::str(m.content)}}));
    jinja::Dict globals = {
        {"messages", jinja::Value::make_list(std::move(msgs))},
        {"add_generation_prompt", jinja::Value::boolean(ctx.add_generation_prompt)},
        {"bos_token", jinja::Value::str(ctx.bos_token)},
        {"eos_token", jinja::Value::str(ctx.eos_token)},
    };
    std::string out = jinja::render(*src, globals);
    // BOS / EOS texts come from the vocabulary and are not checked elsewhere.
    if (!utf8_valid(out)) fail(EDGELLM_ERR_TEMPLATE, "chat template: the rendered text is not valid UTF-8");
    return out;
}

std::string builtin_template_name(bool has_start_header_id, bool has_im_start, bool has_inst, bool has_start_of_turn,
                                  bool has_phi_user) {
    if (has_start_header_id) return "llama3";
    if (has_im_start) return "chatml";
    if (has_start_of_turn) return "gemma";
    if (has_phi_user) return "phi3";
    if (has_inst) return "mistral";
    return "llama2";
}

}  // namespace edgellm
