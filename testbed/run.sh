#!/usr/bin/env bash
# Runs testbed scenarios; each ends with the checker's per-node report and
# exits non-zero when its expected figures are not met.
#   testbed/run.sh steady|graceful-restart|collector-kill|network-cut|kdc-down|disk-cap|packaged|systemd|rollout|all
# Environment: RATE (msg/s per node, default 200), DURATION (s of load, default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
NET=gsslog-testbed
SUBNET=172.30.77
OURS="node1 node2 node3"
STOCK="stock1"
NODES="node1 node2 node3 node4 capped1 stock1"
RATE=${RATE:-200}
DURATION=${DURATION:-40}
COUNT=$((RATE * DURATION))
CHECKER=target/release/checker
declare -A IP=([kdc]=2 [collector]=10 [node1]=21 [node2]=22 [node3]=23 [node4]=24 [capped1]=25 [stock1]=31)

cleanup() {
  docker rm -f $(docker ps -aq --filter label=gsslog-testbed) >/dev/null 2>&1 || true
  docker network rm $NET >/dev/null 2>&1 || true
}

start() { # name role [rate [count [docker run options...]]]
  local name=$1 role=$2 rate=${3:-$RATE} count=${4:-$COUNT}; shift $(( $# < 4 ? $# : 4 ))
  # A load node's count and address: what the checker holds its tree to.
  case $role in node|pkg-node|stock) mkdir -p "$RUN/expected" && echo "$count $SUBNET.${IP[$name]}" > "$RUN/expected/$name" ;; esac
  docker run -d --label gsslog-testbed --name "gt-$name" --hostname "$name.grid.test" \
    --network $NET --ip "$SUBNET.${IP[$name]}" --network-alias "$name.grid.test" \
    -v "$RUN/shared:/shared" -e NODES="$NODES" -e NODE="$name" -e RATE="$rate" -e COUNT="$count" \
    "$@" gsslog-testbed "/testbed/$role.sh" >/dev/null
}

up() { # [without-collector]
  cleanup
  RUN=$(mktemp -d /var/tmp/gsslog-testbed.XXXXXX)
  mkdir -p "$RUN/shared" "$RUN/tree"
  docker network create --subnet "$SUBNET.0/24" $NET >/dev/null
  start kdc kdc
  [ "${1:-}" = without-collector ] || start collector "${COLLECTOR_ROLE:-collector}" "" "" -v "$RUN/tree:/data"
  # Stock rsyslog discards what it takes while its first connection fails:
  # a collector that is slow to start (installing its package) is waited for.
  if [ -n "${WAIT_FOR_COLLECTOR:-}" ]; then
    local deadline=$((SECONDS + 120))
    until logged gt-collector "collector running" >/dev/null; do
      [ $SECONDS -lt $deadline ] || { echo "the collector did not start" >&2; docker logs gt-collector 2>&1 | tail -20 >&2; return 1; }
      sleep 1
    done
  fi
  for n in $OURS; do start "$n" "${NODE_ROLE:-node}"; done
  for n in $STOCK; do start "$n" stock; done
}

wait_loads() { # node... : until each load driver has sent its count
  local deadline=$((SECONDS + DURATION + 120))
  for n in "$@"; do
    local want; want=$(cut -d' ' -f1 "$RUN/expected/$n")
    while :; do
      local sent; sent=$(cat "$RUN/shared/reports/$n" 2>/dev/null || true)
      [ "${sent:-0}" -ge "$want" ] && break
      [ $SECONDS -lt $deadline ] || { echo "load driver of $n did not finish" >&2; docker logs "gt-$n" 2>&1 | tail -20 >&2; return 1; }
      sleep 1
    done
  done
}

settle() { # until the collector's tree has stopped growing for 8 s (at most 180 s)
  local last=-1 same=0 deadline=$((SECONDS + 180))
  while [ $SECONDS -lt $deadline ]; do
    local now; now=$(du -sb "$RUN/tree" | cut -f1)
    if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
    [ $same -ge 8 ] && return 0
    last=$now; sleep 1
  done
}

logged() { # container text : prints the first log line with text, fails if none
  # Read the whole log first: with pipefail, `docker logs | grep -m1` fails
  # whenever grep stops reading before docker logs has written everything.
  local log
  log=$(docker logs "$1" 2>&1)
  grep -m1 -- "$2" <<<"$log"
}

check() { # [--max-lost-ours N] [--max-dup-ours N] [--max-lost-stock N] (ours: 0 and 0 unless given)
  echo "== $SCENARIO: $RATE msg/s per node for $DURATION s; limits: ${*:-none lost or duplicated by our nodes}"
  "$CHECKER" "$RUN/tree" "$RUN/expected" "$RUN/shared/reports" "$@"
}

scenario() {
  SCENARIO=$1
  case $1 in
    steady)
      up; wait_loads $OURS $STOCK; settle; check --max-lost-stock 0 ;;
    graceful-restart)
      up; sleep $((DURATION / 3))
      docker stop -t 30 gt-collector >/dev/null; docker start gt-collector >/dev/null
      wait_loads $OURS $STOCK; settle; check ;;
    collector-kill)
      # Loss is bounded by what was in flight: no ack exists in the protocol.
      up; sleep $((DURATION / 3))
      docker kill -s KILL gt-collector >/dev/null; sleep 5; docker start gt-collector >/dev/null
      wait_loads $OURS $STOCK; settle; check --max-lost-ours $((RATE * 2)) --max-dup-ours $((RATE * 2)) ;;
    network-cut)
      up; sleep 5
      docker network disconnect $NET gt-node1; sleep 30
      docker network connect --ip "$SUBNET.${IP[node1]}" --alias node1.grid.test $NET gt-node1
      wait_loads $OURS $STOCK; settle
      # A session that dies unseen leaves records the collector may have
      # written but never acknowledged: they go again, at most as many as
      # node1 logs (`unacknowledged_total`, the bound docs/protocol.md states).
      resent=$(docker logs gt-node1 2>&1 | grep -o 'unacknowledged_total=[0-9]*' | tail -n 1 | cut -d= -f2 || true)
      echo "node1 logged unacknowledged_total=${resent:-none}"; check --max-dup-ours "${resent:-0}" ;;
    kdc-down)
      # Established sessions go on; a node starting while the KDC is down logs
      # why it cannot connect, then recovers.
      up; sleep 5
      docker stop gt-kdc >/dev/null
      start node4 node; sleep 10
      logged gt-node4 "KDC cannot be reached" || { echo "node4 did not log the KDC failure" >&2; return 1; }
      docker start gt-kdc >/dev/null
      wait_loads $OURS node4 $STOCK; settle; check ;;
    disk-cap)
      # The collector is down long enough for capped1's 1 MB disk cap to fill:
      # what it accepted arrives in order; the rest is discarded, counted, logged.
      up without-collector
      start capped1 node $((RATE * 10)) $((COUNT * 10)) -e CAP=1m
      wait_loads $OURS capped1
      logged gt-capped1 "queue full" || { echo "capped1 did not log a full queue" >&2; return 1; }
      start collector collector "" "" -v "$RUN/tree:/data"
      settle; check ;;
    packaged)
      # Our Debian packages in fresh containers: installed (and upgraded), the
      # daemons started from the installed units' ExecStart as their users,
      # the steady load, then each package removed and purged, leaving nothing.
      COLLECTOR_ROLE=pkg-collector NODE_ROLE=pkg-node WAIT_FOR_COLLECTOR=1 up
      wait_loads $OURS $STOCK; settle
      local delivered=0; check --max-lost-stock 0 || delivered=1
      for n in collector $OURS; do logged "gt-$n" "identity:" || delivered=1; done
      touch "$RUN/shared/uninstall"
      local deadline=$((SECONDS + 120)) removal=0
      for n in collector $OURS; do
        while [ ! -f "$RUN/shared/removal/$n" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
        local said; said=$(cat "$RUN/shared/removal/$n" 2>/dev/null || echo "no report (see its log below)")
        echo "removal on $n: $said"
        if [ "$said" != ok ]; then removal=1; docker logs "gt-$n" 2>&1 | tail -20 >&2; fi
      done
      [ $delivered -eq 0 ] && [ $removal -eq 0 ] ;;
    systemd)
      # The packages under a real systemd as PID 1, on one host that is KDC,
      # collector and node, with no network but its loopback: the rollout of
      # the admin guide, step by step (testbed/image/systemd-host.sh).
      cleanup
      docker run -d --label gsslog-testbed --name gt-systemd --hostname node1.grid.test \
        --network none --add-host node1.grid.test:127.0.0.1 \
        --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
        gsslog-testbed-systemd /lib/systemd/systemd >/dev/null
      echo "== systemd: the packages under systemd, through the rollout"
      timeout 300 docker exec gt-systemd /testbed/systemd-host.sh ;;
    rollout)
      # The admin's guide as the packages install it, on systemd as PID 1:
      # both routes, restarts, rollback with a backlog, upgrade, purges, with
      # numbered messages throughout (testbed/rollout.sh).
      bash testbed/rollout.sh ;;
    *) echo "unknown scenario $1" >&2; return 2 ;;
  esac
}

trap cleanup EXIT
if [ "${1:-}" = all ]; then set -- steady graceful-restart collector-kill network-cut kdc-down disk-cap packaged systemd rollout; fi
[ $# -gt 0 ] || { echo "usage: $0 steady|graceful-restart|collector-kill|network-cut|kdc-down|disk-cap|packaged|systemd|rollout|all" >&2; exit 2; }
status=0
for s in "$@"; do
  # `scenario "$s" || status=1` would switch `set -e` off inside the scenario
  # (a failed up, wait_loads or docker step would go unnoticed and only the
  # checker would count). A subshell outside any condition keeps it on.
  set +e
  ( set -e; scenario "$s" )
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then echo "== $s: FAILED (exit $rc)" >&2; status=1; else echo "== $s: passed"; fi
  cleanup
done
exit $status
