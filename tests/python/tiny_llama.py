"""A tiny, randomly initialised causal language model written the way Hugging Face writes
Llama-family attention: q_proj / k_proj / v_proj modules, a module-level
apply_rotary_pos_emb called by each attention layer, grouped-query heads repeated with
repeat_kv. tools/export_qk.py captures from it exactly as from a transformers model, and each
layer keeps the probabilities it really used (last_probs) so that a test can compare them."""
import math
from types import SimpleNamespace

import torch
from torch import nn


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def repeat_kv(x, times):
    b, h, n, d = x.shape
    return x[:, :, None].expand(b, h, times, n, d).reshape(b, h * times, n, d)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim, base):
        super().__init__()
        self.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))

    def forward(self, positions):
        angles = positions[:, None].double() * self.inv_freq[None, :]
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().float(), emb.sin().float()


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, self.kv_heads * self.head_dim, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, cfg.hidden_size, bias=False)
        self.last_probs = None

    def forward(self, hidden_states, cos, sin):
        b, n, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden_states).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden_states).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos[None, None], sin[None, None])
        k = repeat_kv(k, self.heads // self.kv_heads)
        v = repeat_kv(v, self.heads // self.kv_heads)
        scores = q @ k.transpose(2, 3) / math.sqrt(self.head_dim)
        causal = torch.ones(n, n, dtype=torch.bool).triu(1)
        probs = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        self.last_probs = probs.detach()
        out = (probs @ v).transpose(1, 2).reshape(b, n, -1)
        return self.o_proj(out)


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(cfg.hidden_size)
        self.self_attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden_size, 2 * cfg.hidden_size), nn.GELU(),
                                 nn.Linear(2 * cfg.hidden_size, cfg.hidden_size))

    def forward(self, h, cos, sin):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        return h + self.mlp(h)


class TinyCausalLM(nn.Module):
    def __init__(self, vocab=97, hidden=64, layers=3, heads=4, kv_heads=2, head_dim=16, rope_theta=10000.0):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                      num_attention_heads=heads, num_key_value_heads=kv_heads,
                                      head_dim=head_dim, rope_theta=rope_theta)
        self.embed_tokens = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(Layer(self.config) for _ in range(layers))
        self.rotary_emb = RotaryEmbedding(head_dim, rope_theta)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, input_ids, use_cache=False):
        h = self.embed_tokens(input_ids)
        cos, sin = self.rotary_emb(torch.arange(input_ids.shape[1]))
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.lm_head(h)
