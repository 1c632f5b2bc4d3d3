"""What each supported model family computes in attention, as transformers 4.47 writes it
(tools/requirements-capture.txt pins the version these recipes were checked against):

- where Q, K and V come from (separate q_proj/k_proj/v_proj, or one fused projection),
- whether rotary embedding is applied, on how many dimensions, with what base,
- the mask of each layer (causal, bidirectional, a sliding window), the scale q.k is
  multiplied by, and Gemma-2's soft cap,
- and what cannot be captured exactly, refused by name with the reason.

Every recipe is checked by tests/python against the model's own eager attention weights,
and export_qk checks it again on the first tokens of every capture (--check-tokens).
"""
import math


class Unsupported(Exception):
    """This model (or this configuration of it) cannot be captured exactly; the message says why."""


def _heads_view(x, heads, d):
    """[b, c, heads * d] -> [heads, c, d] for batch 1."""
    b, c, _ = x.shape
    return x[0].reshape(c, heads, d).transpose(0, 1)


def _separate_projections(q, k, v, heads, kv_heads, d, store):
    """Hooks on three projection modules putting their outputs into store as q, k, v."""
    def keep(role, n):
        return lambda module, args, out: store.__setitem__(role, _heads_view(out, n, d))

    return [q.register_forward_hook(keep("q", heads)), k.register_forward_hook(keep("k", kv_heads)),
            v.register_forward_hook(keep("v", kv_heads))]


class Family:
    name = ""             # what the user reads
    model_types = ()      # config.model_type values
    chunked = True        # can prefill in chunks with a KV cache
    mask_in_kwargs = True  # the attention module receives the 4-D additive mask it applies
    rotary_module = None  # the modeling module whose apply_rotary_pos_emb is wrapped (name)
    legacy_cache = False  # past_key_values are tuples (GPT-2), not a Cache object

    # ---- shapes ----
    def heads(self, cfg):
        h = cfg.num_attention_heads
        kv = getattr(cfg, "num_key_value_heads", None) or h
        d = getattr(cfg, "head_dim", None) or cfg.hidden_size // h
        return h, kv, d

    def max_positions(self, cfg):
        """Absolute position embeddings stop here (None: no limit from the model)."""
        return None

    # ---- modules and hooks ----
    def attention_modules(self, model):
        return [layer.self_attn for layer in model.layers]

    def projection_hooks(self, attn, cfg, store):
        """Registers forward hooks that put pre-rotary "q", "k", "v" ([heads, c, d]) into store.
        Returns the hook handles."""
        h, kv, d = self.heads(cfg)
        return _separate_projections(attn.q_proj, attn.k_proj, attn.v_proj, h, kv, d, store)

    # ---- what attention computes ----
    def rotary(self, cfg):
        """{"base", "dims", "style", "scaling"} of the rotary embedding, or None."""
        _, _, d = self.heads(cfg)
        return {"base": float(getattr(cfg, "rope_theta", 10000.0)), "dims": d, "style": "halves",
                "scaling": _rope_scaling_type(cfg)}

    def layer_attention(self, cfg, layer):
        """{"mask": causal|bidirectional|sliding_window, "window": W or None, "scale", "softcap"}."""
        _, _, d = self.heads(cfg)
        return {"mask": "causal", "window": None, "scale": 1.0 / math.sqrt(d), "softcap": None}

    def check(self, cfg, n, chunk):
        """Raises Unsupported when this configuration cannot be captured exactly."""
        rot = self.rotary(cfg)
        if rot and chunk and chunk < n:
            kind = rot["scaling"]
            limit = _original_positions(cfg)
            if kind in ("dynamic", "longrope", "su") and (limit is None or n > limit):
                raise Unsupported(
                    f"{self.name} with {kind} rope scaling changes its rotary frequencies with the length "
                    f"of the whole sequence, so chunks of {chunk} tokens would be rotated differently from "
                    f"one pass over {n}: capture in one pass (--chunk 0) or at most {limit} tokens")
        limit = self.max_positions(cfg)
        if limit is not None and n > limit:
            raise Unsupported(f"{self.name} has absolute position embeddings for {limit} positions; "
                              f"{n} tokens are more than the model can read (--max-tokens {limit})")

    def fix_mask(self, cfg, layer, mask, cache_position, key_length):
        """The additive mask to use instead of the one transformers built, or None."""
        return None


def _rope_scaling_type(cfg):
    rs = getattr(cfg, "rope_scaling", None)
    if not rs:
        return None
    return rs.get("rope_type") or rs.get("type")


def _original_positions(cfg):
    rs = getattr(cfg, "rope_scaling", None) or {}
    return (rs.get("original_max_position_embeddings") or getattr(cfg, "original_max_position_embeddings", None)
            or getattr(cfg, "max_position_embeddings", None))


def _sliding(window, layer_attention):
    if window:
        layer_attention.update(mask="sliding_window", window=int(window))
    return layer_attention


class Llama(Family):
    name, model_types, rotary_module = "Llama", ("llama",), "transformers.models.llama.modeling_llama"


class Qwen2(Family):
    name, model_types, rotary_module = "Qwen2", ("qwen2",), "transformers.models.qwen2.modeling_qwen2"

    def layer_attention(self, cfg, layer):
        # config.sliding_window is set only with use_sliding_window; the eager mask then
        # applies it to every layer (flash attention only to layers >= max_window_layers).
        return _sliding(getattr(cfg, "sliding_window", None), super().layer_attention(cfg, layer))


class Mistral(Family):
    name, model_types, rotary_module = "Mistral", ("mistral",), "transformers.models.mistral.modeling_mistral"

    def layer_attention(self, cfg, layer):
        return _sliding(getattr(cfg, "sliding_window", None), super().layer_attention(cfg, layer))


class Phi3(Family):
    name, model_types, rotary_module = "Phi-3", ("phi3",), "transformers.models.phi3.modeling_phi3"

    def projection_hooks(self, attn, cfg, store):
        h, kv, d = self.heads(cfg)

        def split(m, a, o):
            store["q"] = _heads_view(o[..., : h * d], h, d)
            store["k"] = _heads_view(o[..., h * d: (h + kv) * d], kv, d)
            store["v"] = _heads_view(o[..., (h + kv) * d:], kv, d)

        return [attn.qkv_proj.register_forward_hook(split)]

    def layer_attention(self, cfg, layer):
        return _sliding(getattr(cfg, "sliding_window", None), super().layer_attention(cfg, layer))

    def check(self, cfg, n, chunk):
        if getattr(cfg, "partial_rotary_factor", 1.0) not in (None, 1.0):
            raise Unsupported("Phi-3 with partial_rotary_factor is not the Phi-3 transformers 4.47 implements")
        super().check(cfg, n, chunk)


class Gemma2(Family):
    name, model_types, rotary_module = "Gemma-2", ("gemma2",), "transformers.models.gemma2.modeling_gemma2"

    def _sliding_layer(self, layer):
        return layer % 2 == 0  # as Gemma2Attention: even layers are local, odd layers global

    def layer_attention(self, cfg, layer):
        a = {"mask": "causal", "window": None, "scale": cfg.query_pre_attn_scalar ** -0.5,
             "softcap": cfg.attn_logit_softcapping}
        return _sliding(cfg.sliding_window if self._sliding_layer(layer) else None, a)

    def fix_mask(self, cfg, layer, mask, cache_position, key_length):
        # transformers 4.47 builds Gemma-2's sliding-window mask with tril(diagonal=-W) over
        # the mask's own rows, which are positions past..past+c-1 only in the first chunk:
        # later chunks would see too many keys. Rebuilt here from absolute positions.
        if not self._sliding_layer(layer) or mask is None or cache_position is None:
            return None
        import torch

        W = cfg.sliding_window
        pos = cache_position.reshape(-1, 1)
        j = torch.arange(mask.shape[-1], device=mask.device).reshape(1, -1)
        allowed = (j <= pos) & (pos - j < W)
        fixed = torch.zeros_like(mask)
        return fixed.masked_fill(~allowed[None, None], torch.finfo(mask.dtype).min)


class GPT2(Family):
    name, model_types = "GPT-2", ("gpt2",)
    mask_in_kwargs = False  # the causal mask is the module's `bias` buffer
    legacy_cache = True

    def heads(self, cfg):
        return cfg.n_head, cfg.n_head, cfg.n_embd // cfg.n_head

    def max_positions(self, cfg):
        return cfg.n_positions

    def attention_modules(self, model):
        return [block.attn for block in model.h]

    def projection_hooks(self, attn, cfg, store):
        h, _, d = self.heads(cfg)

        def split(m, a, o):  # c_attn is a Conv1D: [b, c, 3 * embed] as q | k | v
            q, k, v = o.split(h * d, dim=2)
            store.update(q=_heads_view(q, h, d), k=_heads_view(k, h, d), v=_heads_view(v, h, d))

        return [attn.c_attn.register_forward_hook(split)]

    def rotary(self, cfg):
        return None  # learned absolute position embeddings, added before the first layer

    def layer_attention(self, cfg, layer):
        _, _, d = self.heads(cfg)
        scale = 1.0 / math.sqrt(d) if cfg.scale_attn_weights else 1.0
        if cfg.scale_attn_by_inverse_layer_idx:
            scale /= layer + 1
        return {"mask": "causal", "window": None, "scale": scale, "softcap": None}

    def check(self, cfg, n, chunk):
        if getattr(cfg, "add_cross_attention", False):
            raise Unsupported("GPT-2 with cross-attention is an encoder-decoder model; attnscope shows self-attention")
        super().check(cfg, n, chunk)


class GPTNeoX(Family):
    name, model_types = "GPT-NeoX / Pythia", ("gpt_neox",)
    rotary_module = "transformers.models.gpt_neox.modeling_gpt_neox"

    def attention_modules(self, model):
        return [layer.attention for layer in model.layers]

    def projection_hooks(self, attn, cfg, store):
        h, _, d = self.heads(cfg)

        def split(m, a, o):  # query_key_value: [b, c, heads * 3d], each head q | k | v
            b, c, _ = o.shape
            x = o[0].reshape(c, h, 3 * d).transpose(0, 1)
            store.update(q=x[..., :d], k=x[..., d: 2 * d], v=x[..., 2 * d:])

        return [attn.query_key_value.register_forward_hook(split)]

    def rotary(self, cfg):
        _, _, d = self.heads(cfg)
        return {"base": float(cfg.rotary_emb_base), "dims": int(d * cfg.rotary_pct), "style": "halves",
                "scaling": _rope_scaling_type(cfg)}


class Bert(Family):
    name, model_types = "BERT", ("bert",)
    chunked = False       # every token attends to every other: no prefix can run alone
    mask_in_kwargs = False

    def max_positions(self, cfg):
        return cfg.max_position_embeddings

    def attention_modules(self, model):
        return [layer.attention.self for layer in model.encoder.layer]

    def projection_hooks(self, attn, cfg, store):
        h, _, d = self.heads(cfg)
        return _separate_projections(attn.query, attn.key, attn.value, h, h, d, store)

    def rotary(self, cfg):
        return None

    def layer_attention(self, cfg, layer):
        _, _, d = self.heads(cfg)
        return {"mask": "bidirectional", "window": None, "scale": 1.0 / math.sqrt(d), "softcap": None}

    def check(self, cfg, n, chunk):
        kind = getattr(cfg, "position_embedding_type", "absolute")
        if kind != "absolute":
            raise Unsupported(f"BERT with position_embedding_type '{kind}' adds relative-position scores to "
                              "the logits outside q.k, which attnscope's maps (softmax of q.k) cannot show")
        if getattr(cfg, "is_decoder", False):
            raise Unsupported("BERT configured as a decoder (is_decoder) is not the bidirectional encoder "
                              "this recipe captures")
        super().check(cfg, n, chunk)


FAMILIES = [Llama(), Qwen2(), Mistral(), Gemma2(), Phi3(), GPT2(), GPTNeoX(), Bert()]


def family_for(cfg):
    model_type = getattr(cfg, "model_type", "")
    for f in FAMILIES:
        if model_type in f.model_types:
            return f
    names = ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES)
    raise Unsupported(f"model type '{model_type}' is not one attnscope's capture knows: it supports {names}. "
                      "Each family's attention (projections, rotary, mask, scale) is written down and tested; "
                      "an unknown one could be captured wrongly without anyone noticing")
