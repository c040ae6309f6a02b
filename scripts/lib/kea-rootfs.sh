# Shared by scripts/kea3-rootfs and scripts/kea26-rootfs (source it, then call build_kea_rootfs).
#
# build_kea_rootfs NAME SUITE ROOT VERSION_PREFIX [--force]
#   Build (once) a throwaway Debian SUITE root filesystem at ROOT holding Debian's Kea
#   (kea-dhcp4-server, kea-dhcp6-server, kea-ctrl-agent, kea-admin) whose `kea-dhcp4 -v` starts
#   with VERSION_PREFIX. The tests run it with `chroot ROOT kea-dhcp4 ...` (it shares the host's
#   network, so HTTP on 127.0.0.1 works). Cached outside the repository, rebuilt only when
#   missing (or with --force); built under a temporary name and renamed into place, so an
#   interrupted build never leaves a half-made rootfs behind.

build_kea_rootfs() {
    local name="$1" suite="$2" root="$3" want="$4" force=0
    [[ "${5:-}" == "--force" ]] && force=1

    _have() {
        [[ -x "$1/usr/sbin/kea-dhcp4" ]] && chroot "$1" kea-dhcp4 -v 2>/dev/null | grep -q "^${want//./\\.}"
    }
    if [[ $force -eq 0 ]] && _have "$root"; then
        echo "$name: Kea $(chroot "$root" kea-dhcp4 -v) already at $root"
        return 0
    fi
    if [[ $EUID -ne 0 ]]; then
        echo "$name: must run as root (mmdebstrap + chroot) to build $root" >&2
        return 1
    fi
    if ! command -v mmdebstrap >/dev/null; then
        echo "$name: mmdebstrap missing; installing it" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap
    fi

    local parent tmp old
    parent="$(dirname "$root")"
    mkdir -p "$parent"
    tmp="$(mktemp -d "$parent/.$(basename "$root").build.XXXXXX")"
    # shellcheck disable=SC2064  # expand $tmp now: the trap must remove this very directory
    trap "rm -rf '$tmp'" EXIT
    rmdir "$tmp"    # mmdebstrap wants to create (or find empty) the target itself

    echo "$name: building Debian $suite rootfs with Kea $want in $tmp (under a minute, about 220 MB)"
    # With no mirror argument mmdebstrap uses the mirror named in the host's apt sources; that
    # mirror may serve an old Release file, hence Check-Valid-Until=false.
    mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
        --include=kea-dhcp4-server,kea-dhcp6-server,kea-ctrl-agent,kea-admin "$suite" "$tmp"
    # Kea 2.6.3+ and 3.x accept sockets and lease files only under these (mode 750) dirs.
    mkdir -p "$tmp/run/kea" "$tmp/var/lib/kea" "$tmp/var/log/kea"
    chmod 750 "$tmp/run/kea" "$tmp/var/lib/kea" "$tmp/var/log/kea"
    if ! _have "$tmp"; then
        echo "$name: the new rootfs has no Kea $want (kea-dhcp4 -v: $(chroot "$tmp" kea-dhcp4 -v 2>&1 || true))" >&2
        return 1
    fi

    if [[ -e "$root" ]]; then
        old="$parent/.$(basename "$root").old.$$"
        mv "$root" "$old"
        mv "$tmp" "$root"
        rm -rf "$old"
    else
        mv "$tmp" "$root"
    fi
    trap - EXIT
    echo "$name: Kea $(chroot "$root" kea-dhcp4 -v) ready at $root"
}
