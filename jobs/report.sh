#!/bin/sh
# Prints a little on stdout and stderr: every line lands in schedd's log with its stream.
echo "disk: $(df -h . | awk 'NR==2 {print $4 " free on " $6}')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
echo "a warning on stderr" >&2
