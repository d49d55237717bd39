#!/usr/bin/env bash
# Installs ONNX Runtime's CUDA execution provider for onnxruntime-node 1.29.0.
#
# onnxruntime-node's own install script fetches the provider from NuGet (skipped here by .npmrc,
# and unreachable on many machines). The same ONNX Runtime 1.29.0 provider, built for CUDA 13 and
# cuDNN 9, is on the npm registry inside com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (the
# onnxruntime-unity project). This script `npm pack`s that package and copies its two provider
# libraries into onnxruntime-node's binary folder:
#
#   libonnxruntime_providers_cuda.so  libonnxruntime_providers_shared.so
#
#   bash tools/install-cuda-provider.sh            # in the project root, after npm install
#   bash tools/install-cuda-provider.sh --dest DIR # copy into DIR instead (for packaging)
#   bash tools/install-cuda-provider.sh --tgz FILE # use an already downloaded package tarball
#
# At run time the provider also needs an NVIDIA driver and the CUDA 13 (libcudart.so.13,
# libcublasLt.so.13, libcurand, libcufft) and cuDNN 9 libraries on LD_LIBRARY_PATH; the script
# reports which of them the dynamic loader cannot find.
set -euo pipefail

pkg="com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9"
files=(libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so)
dest=""; tgz=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest="$2"; shift 2 ;;
    --tgz) tgz="$(readlink -f "$2")"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install-cuda-provider: unknown argument '$1' (use --dest DIR, --tgz FILE)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ort_pkg="$root/node_modules/onnxruntime-node/package.json"
if [ -z "$dest" ]; then
  [ -f "$ort_pkg" ] || { echo "install-cuda-provider: node_modules/onnxruntime-node is missing; run npm install first" >&2; exit 1; }
  version=$(node -p "require('$ort_pkg').version")
  if [ "$version" != "1.29.0" ]; then
    echo "install-cuda-provider: $pkg carries ONNX Runtime 1.29.0's provider, but onnxruntime-node is $version; the versions must match exactly" >&2
    exit 1
  fi
  [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "install-cuda-provider: the CUDA provider exists only for Linux x86-64 (this is $(uname -s)-$(uname -m))" >&2; exit 1; }
  dest="$root/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
fi
mkdir -p "$dest"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$tgz" ]; then
  echo "install-cuda-provider: npm pack $pkg (a download of about 180 MB) ..." >&2
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null) || { echo "install-cuda-provider: npm pack $pkg failed; is the npm registry reachable? (or pass --tgz FILE)" >&2; exit 1; }
  tgz=$(ls "$tmp"/*.tgz)
fi
members=()
for f in "${files[@]}"; do members+=("package/Plugins/Linux/x64/$f"); done
tar -xzf "$tgz" -C "$tmp" "${members[@]}" || { echo "install-cuda-provider: $tgz does not contain ${members[*]}" >&2; exit 1; }
for f in "${files[@]}"; do
  cp "$tmp/package/Plugins/Linux/x64/$f" "$dest/$f.tmp"
  mv "$dest/$f.tmp" "$dest/$f"
  echo "installed $dest/$f" >&2
done

missing=$(ldd "$dest/libonnxruntime_providers_cuda.so" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  echo "install-cuda-provider: installed, but the dynamic loader cannot find: $missing" >&2
  echo "  install CUDA 13 and cuDNN 9 and add their lib folders to LD_LIBRARY_PATH before using --ep cuda" >&2
else
  echo "install-cuda-provider: installed; all libraries the provider links against resolve" >&2
fi
