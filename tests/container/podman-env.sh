# shellcheck shell=bash
# Sourced by scripts/container-check.sh: a private podman set-up under $CT_ROOT that works on
# the test machines (see the comments), with Debian 12 base images made locally.
# Needs: CT_ROOT (an empty directory on a file system with room for ~1.5 GB).

# runc, not crun: crun refuses this host's mixed cgroup v1/v2 ("hybrid") mode and tries to
# raise RLIMIT_NOFILE, which root here may not. The default ulimits are capped at the
# host's hard limits for the same reason; systemd is not PID 1, hence cgroupfs and a file
# for events.
ct_write_config() {
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] && nofile=1048576
  { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
  mkdir -p "$CT_ROOT/storage" "$CT_ROOT/run" "$CT_ROOT/tmp" "$CT_ROOT/net"
  cat >"$CT_ROOT/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CT_ROOT/events.log"
tmp_dir = "$CT_ROOT/tmp"
[network]
network_config_dir = "$CT_ROOT/net"
CONF
  cat >"$CT_ROOT/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CT_ROOT/storage"
runroot = "$CT_ROOT/run"
CONF
  export CONTAINERS_CONF=$CT_ROOT/containers.conf CONTAINERS_STORAGE_CONF=$CT_ROOT/storage.conf
}

# The Debian mirror apt already uses on this machine (never written into the repository).
ct_debian_mirror() {
  local m
  m=$(sed -nE 's/^URIs: *(\S+).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
  [ -n "$m" ] || m=$(sed -nE 's/^deb +(\[[^]]*\] +)?(\S+) +bookworm +.*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
  echo "${m:-http://deb.debian.org/debian}"
}

# apt inside a debootstrapped root set up as in the official images: the same mirror as the
# host, no recommends, no package cache kept, no lists.
ct_prepare_root() {
  local rootdir=$1 mirror security
  mirror=$(ct_debian_mirror)
  security=$(sed -nE 's/^URIs: *(\S+security\S*).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  {
    echo "Types: deb"; echo "URIs: $mirror"; echo "Suites: bookworm bookworm-updates"; echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    if [ -n "$security" ]; then
      echo; echo "Types: deb"; echo "URIs: $security"; echo "Suites: bookworm-security"; echo "Components: main"
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
  } >"$rootdir/etc/apt/sources.list.d/debian.sources"
  : >"$rootdir/etc/apt/sources.list"
  echo 'APT::Install-Recommends "false";' >"$rootdir/etc/apt/apt.conf.d/00-no-recommends"
  cat >"$rootdir/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  rm -rf "$rootdir"/var/cache/apt/archives/*.deb "$rootdir"/var/lib/apt/lists/*
}

# debian:12 from a debootstrapped Debian 12 (minbase). The root file system is kept as a
# tarball at $1: reused when it exists (one debootstrap per CI run, ~30 s), made otherwise.
# An image already in the store is kept, so a kept store keeps its build cache.
ct_import_base_image() {
  local cache=$1 rootdir=$CT_ROOT/debootstrap
  podman image exists docker.io/library/debian:12 && return 0
  if [ ! -s "$cache" ]; then
    debootstrap --variant=minbase bookworm "$rootdir" "$(ct_debian_mirror)" >"$CT_ROOT/debootstrap.log" 2>&1 || {
      tail -20 "$CT_ROOT/debootstrap.log"; return 1; }
    ct_prepare_root "$rootdir"
    mkdir -p "$(dirname "$cache")"
    tar --numeric-owner -C "$rootdir" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache" || return 1
    rm -rf "$rootdir"
  fi
  podman import --change 'CMD ["bash"]' "$cache" docker.io/library/debian:12 >/dev/null
}
