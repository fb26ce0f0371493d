#!/usr/bin/env bash
# Installs the Debian packages that provide the commands `make run` suggests
# trying (kubectl, dig), when they are missing. Best effort: without them
# egressgate runs all the same.
# Usage: hack/ensure-packages.sh command:package ...
set -u
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo ">> installing ${missing[*]} (for the commands printed below)"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1; then
  echo "   could not install ${missing[*]}; install them yourself to run the suggested commands"
fi
exit 0
