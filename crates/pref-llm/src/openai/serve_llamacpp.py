"""Start llama.cpp's own HTTP server (the `xllamacpp` wheel) on 127.0.0.1, port 0.

Run by `pref_llm::openai::local_server` with the Python of the venv that
`cargo xtask setup` creates (the script is passed with `-c`). Prints one line
`listening <url>` once the model is loaded, then serves until its standard input
is closed (the parent holds the pipe; when the parent ends or
is killed, the pipe closes and this process exits).

usage: python serve_llamacpp.py MODEL.gguf [N_THREADS]
(or python -c "$(cat serve_llamacpp.py)" MODEL.gguf [N_THREADS])
"""
import sys

import xllamacpp as x

p = x.CommonParams()
p.model.path = sys.argv[1]
p.port = 0
p.n_parallel = 4
p.n_ctx = 4 * 4096
p.cpuparams.n_threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
p.cpuparams_batch.n_threads = p.cpuparams.n_threads
# The embedded backend's determinism settings (DESIGN §3): flash attention off
# (the default is auto), F32 K/V cache (the default is F16).
p.flash_attn_type = x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
p.cache_type_k = x.ggml_type.GGML_TYPE_F32
p.cache_type_v = x.ggml_type.GGML_TYPE_F32
server = x.Server(p)
print("listening", server.listening_address, flush=True)
sys.stdin.read()
