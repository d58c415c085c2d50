#!/bin/sh
# A long-running worker, the kind people keep alive with nohup and a watchdog script; in
# crontab.example it is a schedd service. It takes the files out/spool/*.item one at a time,
# "works" on each (sleeps WORK_SECONDS), appends a line to out/worker.log and moves the item to
# out/done. Paths are relative to its working directory.
#
#   SIGTERM, SIGINT  finish the item in hand, then exit 0 (at once when idle)
#   SIGHUP           re-read the config (WORKER_CONF, default jobs/worker.conf) before the next item
#   crash.item       exit 1 on purpose, to show a restart after a crash
#
# schedd sets SCHEDD_INSTANCE (0..N-1) for instances=N; the instances share the spool, and each
# claims an item by renaming it into its own out/work/INSTANCE, which only one rename can win.
set -u

conf=${WORKER_CONF:-jobs/worker.conf}
instance=${SCHEDD_INSTANCE:-}
case $instance in
  '') who=worker; slot=0 ;;
  *[!0-9]*) echo "worker: invalid SCHEDD_INSTANCE '$instance' (expected a number)" >&2; exit 2 ;;
  *) who="worker $instance"; slot=$instance ;;
esac
spool=out/spool
work=out/work/$slot
done_dir=out/done
log=out/worker.log

# The defaults, for a key the file does not set.
default_seconds=2
default_greeting=hello
WORK_SECONDS=$default_seconds
GREETING=$default_greeting
stop=
reload=
item=

# Reads KEY=value lines (# comments, blank lines; one pair of quotes around a value is dropped).
# The file is parsed, not sourced: a config is data, and a typo in it must not run as a command.
# A key the file leaves out gets its default; an invalid value keeps the one in use, and an
# unreadable file keeps them all; each problem is said on stderr.
read_conf() {
  if [ ! -r "$conf" ]; then
    echo "$who: cannot read $conf, WORK_SECONDS stays $WORK_SECONDS" >&2
    return 1
  fi
  new_seconds=$default_seconds
  new_greeting=$default_greeting
  lineno=0
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case $line in
      '' | '#'*) continue ;;
      *=*) ;;
      *) echo "$who: $conf:$lineno: expected KEY=value, ignored" >&2; continue ;;
    esac
    key=${line%%=*}
    value=${line#*=}
    case $value in
      \"*\" | \'*\') value=${value#?}; value=${value%?} ;;
    esac
    case $key in
      WORK_SECONDS)
        case $value in
          '' | *[!0-9]*)
            echo "$who: $conf:$lineno: invalid WORK_SECONDS '$value'" \
              "(expected whole seconds), keeping $WORK_SECONDS" >&2
            new_seconds=$WORK_SECONDS ;;
          *) new_seconds=$value ;;
        esac ;;
      GREETING) new_greeting=$value ;;
      *) echo "$who: $conf:$lineno: unknown key '$key', ignored" >&2 ;;
    esac
  done < "$conf"
  WORK_SECONDS=$new_seconds
  GREETING=$new_greeting
}

# The traps only set flags; the loop below acts on them between items.
trap 'stop=TERM' TERM
trap 'stop=INT' INT
trap 'reload=1' HUP

mkdir -p "$spool" "$work" "$done_dir" || exit 1
read_conf
# Items left in our work folder were cut short (SIGKILL after stop-timeout): queue them again.
for left in "$work"/*.item; do
  [ -e "$left" ] || continue
  mv "$left" "$spool/" && echo "$who: requeued ${left##*/}, left unfinished by the last run"
done
echo "$who: started (pid $$, WORK_SECONDS=$WORK_SECONDS): $GREETING"

while [ -z "$stop" ]; do
  if [ -n "$reload" ]; then
    reload=
    read_conf && echo "$who: reloaded $conf (WORK_SECONDS=$WORK_SECONDS): $GREETING"
  fi

  claimed=
  for next in "$spool"/*.item; do
    [ -e "$next" ] || break
    # Another instance may have claimed it since the glob: then the rename fails, try the next.
    if mv "$next" "$work/" 2>/dev/null; then
      claimed=${next##*/}
      break
    fi
  done

  if [ -z "$claimed" ]; then
    # A signal that came during the mv above has run its trap already: do not sleep on it.
    [ -z "$stop" ] || break
    # Idle: sleep in the background and wait, so that a signal ends the wait at once.
    sleep 1 &
    idle=$!
    # An interrupted wait leaves the sleep running: end it and reap it, so nothing outlives us.
    # (The shell reports a child killed by a signal, "Terminated", on stderr: not worth a line.)
    if ! wait "$idle" 2>/dev/null; then
      kill "$idle" 2>/dev/null
      wait "$idle" 2>/dev/null
    fi
    continue
  fi

  item=$claimed
  if [ "$item" = crash.item ]; then
    # Moved to done first, so the restarted worker does not crash on it again.
    mv "$work/$item" "$done_dir/"
    echo "$who: $item: crashing on purpose (exit 1)" >&2
    exit 1
  fi

  # The work ignores TERM, INT and HUP: schedd sends the stop signal to the whole process
  # group, and the work must not die with it; the shell's traps decide when to stop.
  (trap '' TERM INT HUP; exec sleep "$WORK_SECONDS") &
  pid=$!
  said=
  wait "$pid"
  # A trapped signal makes `wait` return early (status above 128) while the work goes on.
  while kill -0 "$pid" 2>/dev/null; do
    if [ -n "$stop" ] && [ -z "$said" ]; then
      echo "$who: got SIG$stop, finishing $item first"
      said=1
    fi
    wait "$pid"
  done

  printf '%s %s pid=%s item=%s seconds=%s greeting=%s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$who" "$$" "$item" "$WORK_SECONDS" "$GREETING" >> "$log"
  mv "$work/$item" "$done_dir/"
  echo "$who: did $item in ${WORK_SECONDS}s"
  item=
done

echo "$who: stopped by SIG$stop, exit 0"
exit 0
