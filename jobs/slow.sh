#!/bin/sh
# Runs for $1 seconds (default 60) with a child process of its own: a timeout must stop both.
sleep "${1:-60}" &
wait
