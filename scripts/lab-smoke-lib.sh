# shellcheck shell=bash
# What the kernel-to-kernel smoke tests (scripts/lab-dhchap-smoke.sh, scripts/lab-tls-smoke.sh)
# share, sourced by them: the nvme-cli host's controller and block device for $SUBNQN, a
# disconnect, a connect that must be refused, and the nvmet configfs teardown. The script that
# sources it sets SUBNQN, HOSTNQN, H S P (the host, subsystem and port in nvmet's configfs) and
# fail=0, and defines ok, new_logs (the log lines since its last call) and connect.
bad() { echo "FAIL - $*"; fail=1; }
now() { cut -d' ' -f1 /proc/uptime; }
ctrl() {        # the host controller(s) connected to $SUBNQN
  local c; for c in /sys/class/nvme/nvme*; do
    [ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$SUBNQN" ] && basename "$c"
  done
}
blockdev() {    # its namespace's block device
  local b; for b in /sys/block/nvme*; do
    [ -b "/dev/${b##*/}" ] && [ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "$SUBNQN" ] && { basename "$b"; return; }
  done
}
disconnect() { nvme disconnect -n $SUBNQN 2>&1 | sed 's/^/    nvme: /'; }
expect_fail() { # expect_fail DESC ARGS...: the connect must be refused and leave no controller
  local desc=$1; shift
  echo "### $desc"
  if connect "$@"; then bad "$desc: nvme connect succeeded"; disconnect
  elif [ -n "$(ctrl)" ]; then bad "$desc: connect failed, but a controller was left: $(ctrl)"; disconnect
  else ok "$desc: refused"; fi
  new_logs
}
nvmet_teardown() { # disconnect, then take the port's link, the namespace, the subsystem, the port and the host out of configfs
  [ -n "$(ctrl)" ] && disconnect >/dev/null
  rm -f "$P/subsystems/$SUBNQN" "$S/allowed_hosts/$HOSTNQN" 2>/dev/null
  [ -d "$S/namespaces/1" ] && { echo 0 > "$S/namespaces/1/enable"; rmdir "$S/namespaces/1"; }
  rmdir "$S" "$P" "$H" 2>/dev/null
}
