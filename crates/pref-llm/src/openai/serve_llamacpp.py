"""Start llama.cpp's own HTTP server (the `xllamacpp` wheel) on 127.0.0.1, port 0.

Run by `pref_llm::openai::local_server` with the Python of the venv that
`cargo xtask setup` creates (the script is passed with `-c`). Prints one line
`listening <url>` once the model is loaded, then serves until its standard input
is closed (the parent holds the pipe; when the parent ends or
is killed, the pipe closes and this process exits).

usage: python serve_llamacpp.py MODEL.gguf [N_THREADS [CHAT_TEMPLATE_FILE]]
(or python -c "$(cat serve_llamacpp.py)" MODEL.gguf …)

CHAT_TEMPLATE_FILE replaces the GGUF's chat template (a Jinja file; llama.cpp
renders a request's `tools` only through a template that handles them).
"""
import sys

import xllamacpp as x

p = x.CommonParams()
p.model.path = sys.argv[1]
p.port = 0
p.cpuparams.n_threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
p.cpuparams_batch.n_threads = p.cpuparams.n_threads
# Every answer must not depend on which requests came before or alongside it.
# llama.cpp computes a row with other kernels when it sits in a decode call of
# only a few rows, which moves log-probs by up to ~0.1 nats; a server that
# batches concurrent requests together or resumes a prompt from its cache
# decodes calls whose sizes depend on timing. So: one slot, no prompt cache
# (each prompt decoded from position 0) and the whole prompt in one call, as
# the embedded backend's fixed 32-token blocks give the same bits as one call.
p.n_parallel = 1
p.cache_prompt = False
p.cache_ram_mib = 0
p.n_ctx = 4096
p.n_batch = p.n_ctx
p.n_ubatch = p.n_ctx
# The embedded backend's determinism settings (DESIGN §3): flash attention off
# (the default is auto), F32 K/V cache (the default is F16).
p.flash_attn_type = x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
p.cache_type_k = x.ggml_type.GGML_TYPE_F32
p.cache_type_v = x.ggml_type.GGML_TYPE_F32
if len(sys.argv) > 3:
    with open(sys.argv[3], encoding="utf-8") as f:
        p.chat_template = f.read()
server = x.Server(p)
print("listening", server.listening_address, flush=True)
sys.stdin.read()
