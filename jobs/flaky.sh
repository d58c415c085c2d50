#!/bin/sh
# Fails about half the time, to show retries with backoff.
if [ $(( $(date +%s) % 2 )) -eq 0 ]; then
  echo "flaky: failed this time" >&2
  exit 1
fi
echo "flaky: ok"
