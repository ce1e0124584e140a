"""Records all-MiniLM-L6-v2's vectors for the labelled retrieval set once, so the hybrid recall
test needs no model: `python record_vectors.py RETRIEVAL_FOLDER`. Each line is a text and its
vector quantised to int8 (scaled by its largest component: cosine is unchanged), base64."""

import base64
import json
import sys
from pathlib import Path

import numpy as np

from minilm import MiniLM

folder = Path(sys.argv[1])
texts = [json.loads(l)["text"] for l in (folder / "memories.jsonl").read_text().splitlines() if l.strip()]
texts += [json.loads(l)["query"] for l in (folder / "queries.jsonl").read_text().splitlines() if l.strip()]
model = MiniLM()
with open(folder / "vectors-all-minilm-l6-v2.jsonl", "w") as out:
    for text, v in zip(texts, model.embed(texts)):
        v = np.array(v)
        q = np.round(v / np.abs(v).max() * 127).astype(np.int8)
        out.write(json.dumps({"text": text, "int8": base64.b64encode(q.tobytes()).decode()}) + "\n")
print(f"{len(texts)} vectors")
