"""Capture a Hugging Face model's queries, keys and values for attnscope.

writer    .safetensors written a slice at a time (numpy only), tokens.json
families  what each supported model family computes: where Q, K, V come from, its rotary
          embedding, its mask, scale and soft cap, and what cannot be captured exactly
capture   hooks that record post-rotary Q, K and V while the model runs in chunks with its
          KV cache, the metadata attnscope reads, and a check against the model's own
          attention weights

tools/export_qk.py is the command line.
"""
