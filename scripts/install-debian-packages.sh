#!/usr/bin/env bash
# Installs the Debian packages Nightshift needs, if they are missing: the README's set-up command
# and CI both run this, so the list lives in one place. As a normal user it uses sudo.
set -euo pipefail

need=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || need+=(libsqlite3-dev)   # GRDB links the system SQLite
command -v python3 >/dev/null 2>&1 || need+=(python3)               # the demo's sample project; some tests
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)            # tests run the CLI unprivileged; prlimit
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)              # the sandbox for tool commands and checks
command -v git >/dev/null 2>&1 || need+=(git)                       # worktrees, commits and the judge's diff
dpkg -s python3-venv >/dev/null 2>&1 || need+=(python3-venv)       # the test servers' virtual environment
command -v curl >/dev/null 2>&1 || need+=(curl)                     # the serve tests call the API as a client would
command -v chromium >/dev/null 2>&1 || need+=(chromium)             # the dashboard's browser test (headless)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)  # ... driven by selenium
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)  # the PostgreSQL store's tests
command -v wrk >/dev/null 2>&1 || need+=(wrk)                       # nightshift-bench serve: the API's requests per second
[ -x /usr/sbin/ip ] || need+=(iproute2)                              # the multi-host test's network namespaces (as root)

if ((${#need[@]} == 0)); then
  echo "install-debian-packages: nothing to install"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "install-debian-packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${need[@]}"
