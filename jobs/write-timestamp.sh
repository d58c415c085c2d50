#!/bin/sh
# Writes a new file named after the current time into $OUT_DIR (default: out/stamps), the job
# that people otherwise keep alive with `while true; do ...; sleep 30; done`.
set -eu
dir="${OUT_DIR:-out/stamps}"
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
printf 'written by %s (run %s, slot %s)\n' "${SCHEDD_JOB_ID:-?}" "${SCHEDD_RUN_ID:-?}" "${SCHEDD_SCHEDULED_AT:-?}" > "$dir/$stamp.txt"
echo "wrote $dir/$stamp.txt"
