#!/usr/bin/env bash
# Installs Kestrel's build and test dependencies from Debian bookworm packages. Safe to run twice:
# it only calls apt-get for packages that are missing.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git
  libxsimd-dev libcpuinfo-dev            # SIMD helpers, CPU feature detection
  libgtest-dev libgmock-dev googletest   # tests (googletest also ships the sources for the aarch64 build)
  libbenchmark-dev                       # microbenchmarks
  nlohmann-json3-dev                     # JSON values for chat templates (jinja/, model/chat.h, llm-template)
  python3-jinja2                         # test oracle: chat templates rendered as Hugging Face does
  tmux                                   # drives llm-cli -cnv in a real terminal in the chat tests
  clang libclang-rt-14-dev               # libFuzzer target
  g++-aarch64-linux-gnu qemu-user        # NEON kernels: cross-compiled, tested under qemu-aarch64
  python3 python3-matplotlib             # benchmark tables and plots
  libcpp-httplib-dev nlohmann-json3-dev  # llm-server: HTTP and JSON
  nginx curl                             # llm-server tests: replicas behind a load balancer, curl checks
  python3-dev python3-venv python3-pip pybind11-dev  # the kestrel Python module (pip install .)
  python3-numpy python3-pytest           # its tests (the test venv sees Debian's numpy and pytest)
  nodejs npm                             # ../shared/ref/setup.sh installs llama.cpp (the reference) from npm
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may already have node/npm from elsewhere; don't fight it.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all dependencies present"
