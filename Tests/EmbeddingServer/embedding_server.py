"""A loopback OpenAI-compatible embeddings server (POST /v1/embeddings) over the real
all-MiniLM-L6-v2 model (minilm.py), for the tests: `python embedding_server.py [PORT]` prints
`listening on PORT` once it accepts connections (PORT 0: any free one)."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from minilm import MiniLM

model = MiniLM()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            texts = request["input"]
            texts = [texts] if isinstance(texts, str) else texts
            assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)
        except Exception:
            return self._send(400, {"error": {"message": "input must be a string or a list of strings"}})
        vectors = model.embed(texts)
        tokens = sum(len(t.split()) for t in texts)
        self._send(200, {
            "object": "list",
            "model": request.get("model", model.name),
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
