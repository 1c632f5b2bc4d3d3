"""Tiny random-weight models of every family export_qk supports, built from their
transformers config classes and saved with save_pretrained next to a word-level tokenizer
built with `tokenizers`, so a test loads them back through from_pretrained exactly as a user
loads a downloaded model. Nothing is downloaded.

Weights are initialised wider than the library default (initializer_range) so that
attention is peaked: with near-uniform attention a wrong scale or mask would hardly change
the probabilities and the comparisons would prove little.
"""
import os

WORDS = [f"w{i}" for i in range(200)]


def _tokenizer(kind):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    if kind == "bert":
        tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                          special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                       sep_token="[SEP]")
    if kind == "bos":
        tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 4)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>",
                                   eos_token="</s>")


VOCAB = 6 + len(WORDS)


def configs():
    """family name -> (config, tokenizer kind). 4 query heads; GQA (2 KV heads) where the
    family has it; windows and caps small enough to matter at 64 tokens."""
    import transformers as tf

    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  max_position_embeddings=4096, initializer_range=0.3)
    return {
        "llama": (tf.LlamaConfig(num_hidden_layers=2, num_key_value_heads=2, rope_theta=10000.0, **common), "bos"),
        "qwen2": (tf.Qwen2Config(num_hidden_layers=2, num_key_value_heads=2, rope_theta=1000000.0, **common), "plain"),
        "mistral": (tf.MistralConfig(num_hidden_layers=2, num_key_value_heads=2, sliding_window=24, **common), "bos"),
        "gemma2": (tf.Gemma2Config(num_hidden_layers=3, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24,
                                   attn_logit_softcapping=3.0, final_logit_softcapping=30.0, sliding_window=20,
                                   **common), "bos"),
        "phi3": (tf.Phi3Config(num_hidden_layers=2, num_key_value_heads=2, sliding_window=None, pad_token_id=0,
                               **common), "bos"),
        "gpt2": (tf.GPT2Config(vocab_size=VOCAB, n_embd=64, n_head=4, n_layer=2, n_positions=1024,
                               scale_attn_by_inverse_layer_idx=True, initializer_range=0.3), "plain"),
        "gpt_neox": (tf.GPTNeoXConfig(num_hidden_layers=2, rotary_pct=0.25, rotary_emb_base=10000,
                                      **common), "plain"),
        "bert": (tf.BertConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                               num_hidden_layers=2, max_position_embeddings=1100, initializer_range=0.3), "bert"),
    }


def build(family, folder, seed=0):
    """Saves a tiny random `family` model (with its LM head where the family has one) and its
    tokenizer into folder; returns the folder."""
    import torch
    import transformers as tf

    cfg, kind = configs()[family]
    torch.manual_seed(seed)
    cls = {"bert": tf.BertForMaskedLM}.get(family, tf.AutoModelForCausalLM)
    model = cls.from_config(cfg) if cls is tf.AutoModelForCausalLM else cls(cfg)
    model.eval()
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    _tokenizer(kind).save_pretrained(folder)
    return folder


def text(n_words, seed=0):
    import random

    r = random.Random(seed)
    return " ".join(r.choice(WORDS) for _ in range(n_words))


def token_ids(n, seed=0):
    """n ids of ordinary words (no special tokens)."""
    import random

    r = random.Random(seed)
    return [6 + r.randrange(len(WORDS)) for _ in range(n)]
