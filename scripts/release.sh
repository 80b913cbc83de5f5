#!/usr/bin/env bash
# Builds the release of dbaas-proxy: static, stamped binaries for linux, darwin and windows on
# amd64 and arm64, an archive per target (tar.gz; zip for windows) holding the binary, README.md,
# SECURITY.md, config.example.yaml and the examples, a .deb per Linux architecture (the binary
# in /usr/bin, the systemd unit, the docs), and SHA256SUMS over all of them.
#
#   scripts/release.sh v1.2.3 [OUTDIR]       a release: the version must be a tag of HEAD
#   scripts/release.sh --snapshot [OUTDIR]   a snapshot of the work tree (CI runs this)
#
# OUTDIR defaults to dist/. Needs go, tar, gzip, zip and dpkg-deb (Debian: apt-get install zip;
# dpkg-deb is part of dpkg). Archives are reproducible: files are sorted, owned by root and
# dated from the commit (SOURCE_DATE_EPOCH).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 vX.Y.Z|--snapshot [OUTDIR]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
commit=$(git rev-parse --short=12 HEAD)
case $1 in
  --snapshot)
    version="0.0.0-snapshot-$commit"
    git diff --quiet HEAD 2>/dev/null || version="$version-dirty" ;;
  v[0-9]*)
    version=$1
    if [ "$(git tag --points-at HEAD | grep -cxF "$version")" != 1 ]; then
      echo "release: $version is not a tag of HEAD; tag it first (git tag -a $version) or use --snapshot" >&2
      exit 1
    fi
    if ! git diff --quiet HEAD; then
      echo "release: the work tree has changes; a release is built from a clean checkout" >&2
      exit 1
    fi ;;
  *) usage ;;
esac
out=${2:-dist}
for tool in go tar gzip zip dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || { echo "release: $tool is missing (Debian: apt-get install zip dpkg)" >&2; exit 1; }
done

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
stamp="@$SOURCE_DATE_EPOCH"
# The Debian version: no leading v, and a pre-release (1.2.0-rc1) sorts before the release
# (1.2.0~rc1 < 1.2.0).
deb_version=${version#v}
deb_version=${deb_version//-/\~}

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Files every archive carries besides the binary.
docs=(README.md SECURITY.md config.example.yaml examples)
[ -f LICENSE ] && docs+=(LICENSE)
[ -d docs ] && docs+=(docs)

build() { # build GOOS GOARCH OUTFILE
  CGO_ENABLED=0 GOOS=$1 GOARCH=$2 go build -trimpath \
    -ldflags "-s -w -buildid= -X main.version=$version" -o "$3" ./cmd/dbaas-proxy
}

# normalise DIR: fixed modes and dates, so the archives do not depend on the checkout.
normalise() {
  find "$1" -type d -exec chmod 0755 {} +
  find "$1" -type f ! -name 'dbaas-proxy' ! -name 'dbaas-proxy.exe' -exec chmod 0644 {} +
  find "$1" -exec touch -h -d "$stamp" {} +
}

deb() { # deb GOARCH BINARY
  local arch=$1 bin=$2 root="$work/deb-$1"
  install -D -m 0755 "$bin" "$root/usr/bin/dbaas-proxy"
  install -d -m 0755 "$root/lib/systemd/system" "$root/usr/share/doc/dbaas-proxy" "$root/DEBIAN"
  sed 's#/usr/local/bin/dbaas-proxy#/usr/bin/dbaas-proxy#g' examples/systemd/dbaas-proxy.service \
    > "$root/lib/systemd/system/dbaas-proxy.service"
  install -m 0644 README.md SECURITY.md config.example.yaml "$root/usr/share/doc/dbaas-proxy/"
  cat > "$root/DEBIAN/control" <<EOF
Package: dbaas-proxy
Version: $deb_version
Architecture: $arch
Maintainer: dbaas-proxy maintainers <dbaas-proxy@users.noreply.github.com>
Section: net
Priority: optional
Homepage: https://github.com/dbaas-proxy/dbaas-proxy
Description: local proxy for the IBM Cloud Hyper Protect DBaaS Manager API
 dbaas-proxy listens for plain HTTP on a local address and forwards each request over
 CA-pinned TLS to the DBaaS Manager API, with an access token it obtains from an IBM Cloud
 API key, caches and refreshes. The package installs the binary and a systemd unit; it does
 not enable the unit. Put the configuration, the CA file and the API key in /etc/dbaas-proxy
 (see /lib/systemd/system/dbaas-proxy.service), then: systemctl enable --now dbaas-proxy
EOF
  for script in postinst postrm; do
    printf '#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi\n' \
      > "$root/DEBIAN/$script"
  done
  normalise "$root"
  chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm" "$root/usr/bin/dbaas-proxy"
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/dbaas-proxy_${deb_version}_${arch}.deb" >/dev/null
}

artifacts=()
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
  goos=${target%/*} goarch=${target#*/}
  name="dbaas-proxy_${version}_${goos}_${goarch}"
  dir="$work/$name"
  exe=dbaas-proxy
  [ "$goos" = windows ] && exe=dbaas-proxy.exe
  mkdir -p "$dir"
  build "$goos" "$goarch" "$dir/$exe"
  # Tracked files only: a git-ignored key (examples/kubernetes/api-key) never lands in an archive.
  git ls-files -z -- "${docs[@]}" | xargs -0 cp --parents -t "$dir/"
  normalise "$dir"
  chmod 0755 "$dir/$exe"
  if [ "$goos" = windows ]; then
    rm -f "$out/$name.zip"
    (cd "$work" && find "$name" | LC_ALL=C sort | zip -q -X -D "$out/$name.zip" -@)
    artifacts+=("$name.zip")
  else
    tar -C "$work" --sort=name --mtime="$stamp" --owner=0 --group=0 --numeric-owner \
      -cf - "$name" | gzip -n -9 > "$out/$name.tar.gz"
    artifacts+=("$name.tar.gz")
  fi
  if [ "$goos" = linux ]; then
    deb "$goarch" "$dir/$exe"
    artifacts+=("dbaas-proxy_${deb_version}_${goarch}.deb")
  fi
done

(cd "$out" && sha256sum "${artifacts[@]}" > SHA256SUMS)
echo "release $version in $out:"
(cd "$out" && ls -l "${artifacts[@]}" SHA256SUMS)
