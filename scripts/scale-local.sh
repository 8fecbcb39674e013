#!/usr/bin/env bash
# The local three-process recipe of docs/scaling.md: a throwaway Postgres, one
# gateway (`studio bot`, when DISCORD_TOKEN is set) and two `studio worker`s, all on
# this machine, with their logs and pids in DIR (default .scale-local).
#   scripts/scale-local.sh start [DIR]   # prints the config path to use with `studio ...`
#   scripts/scale-local.sh stop [DIR]    # stops the processes, then Postgres, and deletes DIR
# The config is ./config.toml (if any) with [storage] database and [queue] backend set.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
dir=${2:-.scale-local}
studio=.venv/bin/studio

start_bg() {  # start_bg NAME COMMAND...: run in the background, log and pid in $dir
  local name=$1; shift
  nohup "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

case "$cmd" in
start)
  if [ -e "$dir" ]; then echo "$dir exists: run '$0 stop $dir' first" >&2; exit 1; fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  url=$(.venv/bin/python -m tests.pg start --dir "$dir/pg" | head -1)
  .venv/bin/python - "$dir" "$url" <<'PY'
import sys, tomllib
from pathlib import Path
folder, url = Path(sys.argv[1]), sys.argv[2]
cfg = tomllib.loads(Path("config.toml").read_text()) if Path("config.toml").is_file() else {}
cfg.setdefault("storage", {}).update(database=url, results_dir=str(folder / "results"))
cfg.setdefault("queue", {})["backend"] = "procrastinate"
def value(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, (int, float)): return repr(v)
    if isinstance(v, (list, tuple)): return "[" + ", ".join(value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
def section(name, keys, out):
    plain = {k: v for k, v in keys.items() if not isinstance(v, dict)}
    out.append(f"[{name}]")
    out += [f"{k} = {value(v)}" for k, v in plain.items()]
    out.append("")
    for k, v in keys.items():
        if isinstance(v, dict):
            section(f"{name}.{k}", v, out)
out = []
for name, keys in cfg.items():
    section(name, keys, out)
(folder / "config.toml").write_text("\n".join(out))
PY
  "$studio" db upgrade --config "$dir/config.toml" >/dev/null
  start_bg worker1 "$studio" worker --config "$dir/config.toml"
  start_bg worker2 "$studio" worker --config "$dir/config.toml"
  if [ -n "${DISCORD_TOKEN:-}" ]; then
    start_bg gateway "$studio" bot --config "$dir/config.toml"
    echo "gateway: studio bot (log $dir/gateway.log)"
  else
    echo "DISCORD_TOKEN is not set: no gateway; 'studio run ... --config $dir/config.toml' queues jobs too"
  fi
  echo "workers: 2 (logs $dir/worker1.log, $dir/worker2.log)"
  echo "config: $dir/config.toml"
  ;;
stop)
  [ -d "$dir" ] || { echo "no $dir" >&2; exit 1; }
  for name in gateway worker1 worker2; do
    [ -f "$dir/$name.pid" ] && kill -TERM "$(cat "$dir/$name.pid")" 2>/dev/null || true
  done
  for name in gateway worker1 worker2; do
    if [ -f "$dir/$name.pid" ]; then
      pid=$(cat "$dir/$name.pid")
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  .venv/bin/python -m tests.pg stop "$dir/pg"
  rm -rf "$dir"
  echo "stopped"
  ;;
*)
  echo "usage: $0 start|stop [DIR]" >&2
  exit 2
  ;;
esac
