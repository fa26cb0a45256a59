#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing (idempotent): the browser tests of the widget and
# of the evaluation report drive it headless (docs/toolchain.md). No browser is ever downloaded
# by a test tool.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    apt-get update
    apt-get install -y --no-install-recommends chromium
fi
