#!/usr/bin/env bash
# Builds a released version of pinnacle_train (a git tag, e.g. v0.1.0) once, into a cached
# PostgreSQL installation of its own: a copy of PostgreSQL 15's bin, lib and share folders with
# that version's library, control file and scripts installed. The upgrade test
# (test/t/012_upgrade.pl) starts a server from it and then installs this version over it, as a
# package upgrade would. Prints the installation's root folder (its usr/ inside).
# The cache folder is keyed by the tag's commit, so the build runs only when that is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=$1
# A clone may come without tags: the released commits are named here too.
declare -A RELEASED=([v0.1.0]=88535064fb93287c36c9c9638d3005666c68d773)
commit=$(git rev-parse --verify -q "$tag^{commit}" || git rev-parse --verify -q "${RELEASED[$tag]:-none}^{commit}") \
  || { echo "build_release.sh: neither tag $tag nor its commit is in this clone (git fetch --tags)" >&2; exit 1; }
# outside the clone, so that a fresh clone finds it too; readable by the server's user
cache=${PINNACLE_RELEASE_CACHE:-/var/tmp/pinnacle_train-releases}/$tag-${commit:0:12}
pg_lib=$(pg_config --pkglibdir)       # /usr/lib/postgresql/15/lib
pg_root=$(dirname "$pg_lib")          # /usr/lib/postgresql/15
pg_share=$(pg_config --sharedir)      # /usr/share/postgresql/15

if [ ! -f "$cache/done" ]; then
  rm -rf "$cache"
  mkdir -p -m 755 "$(dirname "$cache")"
  mkdir -p "$cache/src" "$cache/tree$(dirname "$pg_root")" "$cache/tree$(dirname "$pg_share")"
  # PostgreSQL finds its lib and share folders relative to its binaries: keep their layout
  cp -a "$pg_root" "$cache/tree$(dirname "$pg_root")/"
  cp -a "$pg_share" "$cache/tree$(dirname "$pg_share")/"
  # whatever version the system has installed is not part of it (its bitcode included: the
  # release is built without, and JIT inlining must not find another version's)
  rm -rf "$cache/tree$pg_lib/pinnacle_train.so" "$cache/tree$pg_lib/pinnacle_train_torch.so" \
    "$cache/tree$pg_lib/bitcode/pinnacle_train"* \
    "$cache/tree$pg_share"/extension/pinnacle_train*
  git archive "$commit" | tar -x -C "$cache/src"
  start=$(date +%s)
  # The core's compile dominates: about 10 minutes on 2 cores, file by file, each parsing the
  # torch headers again. As one unity translation unit it took 77 s (measured); the Makefile's
  # own cmake call keeps these cached settings.
  cmake -S "$cache/src" -B "$cache/src/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON \
    -DPINNACLE_TESTS=OFF >"$cache/build.log" 2>&1 || { tail -n 30 "$cache/build.log" >&2; exit 1; }
  make -C "$cache/src" -j"$(nproc)" with_llvm=no >>"$cache/build.log" 2>&1 \
    || { tail -n 30 "$cache/build.log" >&2; exit 1; }
  make -C "$cache/src" install with_llvm=no DESTDIR="$cache/tree" >>"$cache/build.log" 2>&1
  echo "built $tag in $(( $(date +%s) - start )) s" >>"$cache/build.log"
  rm -rf "$cache/src"
  touch "$cache/done"
fi
echo "$cache/tree"
