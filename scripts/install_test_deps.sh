#!/usr/bin/env bash
# System packages the test suite needs that pip cannot install: Debian's Chromium, driven by
# Playwright in tests/serving/test_ui_browser.py (browsers cannot be downloaded here, so the
# test uses the system browser). Called by `make test`; idempotent.
#
# Installs only when it may (root, or CI=true with sudo); otherwise it says what is missing and
# leaves it to you: outside CI the browser test then skips with that reason, in CI it fails.
set -euo pipefail

PACKAGES=(chromium fonts-dejavu-core)

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_test_deps: ${missing[*]} missing and no apt-get; install them by hand" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif [ "${CI:-}" = "true" ] && command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install_test_deps: missing ${missing[*]}; run as root: apt-get install -y ${PACKAGES[*]}" >&2
  echo "install_test_deps: (the browser test skips without it, except under CI=true)" >&2
  exit 0
fi
echo "install_test_deps: apt-get install ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
