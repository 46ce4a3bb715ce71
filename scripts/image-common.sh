# Sourced by scripts/build-image.sh and scripts/test-image.sh: the image's name, the host
# packages they install, and how podman runs a container on this machine.
#   RDMAGATE_IMAGE              the image (default rdmagate:latest, which podman stores as
#                               localhost/rdmagate:latest)
#   RDMAGATE_PODMAN_FLAGS       podman's global flags, instead of the ones found here (see podman_setup)
#   RDMAGATE_PODMAN_RUN_FLAGS   `podman run`'s extra flags, likewise

IMAGE=${RDMAGATE_IMAGE:-rdmagate:latest}

image_log() { echo "[image] $*" >&2; }
image_die() { image_log "ERROR: $*"; exit 1; }
image_now() { date +%s.%N; }
image_since() { awk -v a="$1" -v b="$(image_now)" 'BEGIN{printf "%.1f", b-a}'; }

# The Debian mirror this machine's apt already uses, as lab/lab.sh finds it.
apt_mirror() {
  { awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    [ -f /etc/apt/sources.list ] && awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; break}}' /etc/apt/sources.list
  } | grep -v -- '-security' | head -1 || true
}

# host_packages CMD:PACKAGE...: installs with apt the packages of the commands not found.
host_packages() {
  local need=() c
  for c in "$@"; do command -v "${c%%:*}" >/dev/null || need+=("${c#*:}"); done
  [ ${#need[@]} -eq 0 ] && return
  image_log "installing host packages: ${need[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# Sets PODMAN (the command and its global flags) and RUN_FLAGS (for `podman run`) from what
# this machine allows; installs podman, and runc where it is needed, when missing.
#  - cgroup v1 with controllers in the v2 hierarchy too ("hybrid"): crun (podman's default in
#    Debian 12) refuses to start a container there ("cgroups in hybrid mode not supported"),
#    runc starts it.
#  - no CAP_SYS_RESOURCE (a sandbox): podman asks for RLIMIT_NOFILE 1048576 and a large
#    RLIMIT_NPROC in every container, which only that capability may raise past this
#    process's hard limits; the container gets this process's RLIMIT_NOFILE instead, and an
#    RLIMIT_NPROC of 4096 (which binds no root process of the container: the kernel exempts
#    the host's root user).
podman_setup() {
  host_packages podman:podman
  PODMAN=(podman) RUN_FLAGS=()
  if [ -n "${RDMAGATE_PODMAN_FLAGS+x}" ]; then
    read -r -a PODMAN <<< "podman $RDMAGATE_PODMAN_FLAGS"
  elif [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] \
       && [ "$(podman info --format '{{.Host.OCIRuntime.Name}}')" = crun ]; then
    host_packages runc:runc
    PODMAN+=(--runtime runc)
  fi
  if [ -n "${RDMAGATE_PODMAN_RUN_FLAGS+x}" ]; then
    read -r -a RUN_FLAGS <<< "$RDMAGATE_PODMAN_RUN_FLAGS"
  elif ! (( (16#$(awk '/^CapEff:/{print $2}' /proc/self/status) >> 24) & 1 )); then
    local nofile; nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    RUN_FLAGS+=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  fi
  image_log "podman: ${PODMAN[*]} run ${RUN_FLAGS[*]}"
}
