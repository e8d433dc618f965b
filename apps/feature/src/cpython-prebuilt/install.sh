#!/bin/sh
# cpython-prebuilt: installs a CPython artifact made by cpy (`cpy build`, `cpy artifact pack`).
#
# The same contract as @cpy/install's installPython, for images that have no Node and no
# Python: every option checked against a strict pattern; the checksum verified before
# anything is extracted; the artifact's metadata (architecture, C library, glibc floor,
# system libraries) checked before anything is written; extracted beside the prefix,
# validated, then renamed into place (never half-installed); idempotent by the artifact's
# name or sha256; the same error codes, the same install marker, state and links, so
# `cpy list` and `cpy use` understand what it installed. apps/feature/test/conformance.spec.ts
# runs the same cases against this script and the library.
#
# Options arrive as environment variables (the Dev Container CLI upper-cases them):
#   VERSION ARTIFACTURL CHECKSUMURL SHA256 INSTALLPREFIX SKIPVALIDATION INSTALLSYSTEMDEPS
# Exit status: 0 installed or already installed, 1 refused or failed (nothing changed).
set -eu

me=cpython-prebuilt
STATE_DIR=/var/lib/cpy
BIN_DIR=/usr/local/bin
CRITICAL_IMPORTS='ssl sqlite3 uuid _uuid lzma bz2 ctypes zlib readline'
URL_RE='^(https?|file)://[A-Za-z0-9._~:/?#@&=+%,-]+$'
PATH_RE='^[A-Za-z0-9._/+@-]+$'
VERSION_RE='^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})((a|b|rc)(0|[1-9][0-9]{0,2}))?$'
NAME_RE='^cpython-([0-9][0-9a-z.]*)-([a-z][a-z]*)([0-9][0-9.]*)-build([1-9][0-9]{0,3})\.(tgz|tar\.zst)$'
OPTIONAL_EXTENSION_RE='^lib/python[0-9]+\.[0-9]+/lib-dynload/(_tkinter|_curses|_curses_panel|_dbm|_gdbm|nis|_crypt)\.[^/]+\.so$'

say() { printf '[%s] %s\n' "$me" "$*" >&2; }
# fail CODE WHAT HINT: the library's CpyError, as text.
fail() {
  printf '[%s] error %s: %s\n[%s] hint: %s\n' "$me" "$1" "$2" "$me" "$3" >&2
  exit 1
}
matches() {
  case $1 in *'
'*) return 1 ;; esac
  printf '%s\n' "$1" | grep -Eq "$2"
}

# --- options -------------------------------------------------------------------------------
VERSION=${VERSION:-}
ARTIFACTURL=${ARTIFACTURL:-}
CHECKSUMURL=${CHECKSUMURL:-}
SHA256=${SHA256:-}
INSTALLPREFIX=${INSTALLPREFIX:-}
SKIPVALIDATION=${SKIPVALIDATION:-false}
INSTALLSYSTEMDEPS=${INSTALLSYSTEMDEPS:-true}

bad_option() { fail CPY_INSTALL_BAD_OPTIONS "$1: $2" 'fix the option in devcontainer.json (see the Feature README); values may not contain spaces, quotes or shell metacharacters'; }

# The CLI writes NAME="value" lines that sh sources, unescaped: by the time this script
# runs, $(...) and backticks have been expanded. The file as written still shows them.
check_raw_options() {
  [ -f ./devcontainer-features.env ] || return 0
  for name in VERSION ARTIFACTURL CHECKSUMURL SHA256 INSTALLPREFIX SKIPVALIDATION INSTALLSYSTEMDEPS; do
    grep -E "^$name=" ./devcontainer-features.env | while IFS= read -r line; do
      printf '%s\n' "$line" | grep -Eq "^$name=\"[A-Za-z0-9._~:/?#@&=+%,-]*\"\$" || exit 1
    done || bad_option "$(option_name "$name")" 'holds characters that are not allowed (quotes, $, backticks, spaces or other shell metacharacters); the value was expanded by the shell before this Feature ran'
  done
}
option_name() {
  case $1 in
    VERSION) echo version ;; ARTIFACTURL) echo artifactUrl ;; CHECKSUMURL) echo checksumUrl ;; SHA256) echo sha256 ;;
    INSTALLPREFIX) echo installPrefix ;; SKIPVALIDATION) echo skipValidation ;; INSTALLSYSTEMDEPS) echo installSystemDeps ;;
  esac
}
location_ok() { matches "$1" "$URL_RE" || { matches "$1" "$PATH_RE" && case $1 in /*) true ;; *) false ;; esac; }; }
check_options() {
  check_raw_options
  [ -z "$VERSION" ] || matches "$VERSION" "$VERSION_RE" || bad_option version "must be a CPython version like 3.13.5 or 3.14.0rc2 (got '$VERSION')"
  [ -z "$ARTIFACTURL" ] || location_ok "$ARTIFACTURL" || bad_option artifactUrl 'must be an http(s) or file URL, or an absolute path, without spaces, quotes or shell metacharacters'
  [ -z "$CHECKSUMURL" ] || location_ok "$CHECKSUMURL" || bad_option checksumUrl 'must be an http(s) or file URL, or an absolute path, without spaces, quotes or shell metacharacters'
  [ -z "$SHA256" ] || matches "$SHA256" '^[0-9a-fA-F]{64}$' || bad_option sha256 'must be 64 hex digits'
  SHA256=$(printf '%s' "$SHA256" | tr 'A-F' 'a-f')
  if [ -n "$INSTALLPREFIX" ]; then
    matches "$INSTALLPREFIX" "$PATH_RE" || bad_option installPrefix 'must be a path of letters, digits and . _ / + @ - only'
    case /$INSTALLPREFIX/ in *'/../'*) bad_option installPrefix 'must be an absolute path without ..' ;; esac
    case $INSTALLPREFIX in /?*) ;; *) bad_option installPrefix 'must be an absolute path without ..' ;; esac
    INSTALLPREFIX=${INSTALLPREFIX%/}
  fi
  for b in SKIPVALIDATION INSTALLSYSTEMDEPS; do
    eval "v=\$$b"
    case $v in true | false) ;; *) bad_option "$(option_name $b)" "must be true or false (got '$v')" ;; esac
  done
}

# --- JSON, without jq or python: flattened to "path<TAB>value" lines by awk ---------------------
json_flatten() {
  awk '
    function fail(m) { printf "not JSON: %s (at character %d)\n", m, pos > "/dev/stderr"; bad = 1; exit 2 }
    function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
    function str(   c, out) {
      pos++; out = ""
      while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
          pos++; c = substr(s, pos, 1)
          if (c == "u") { c = "?"; pos += 4 } else if (c == "n" || c == "t" || c == "r" || c == "b" || c == "f") c = " "
        }
        out = out c; pos++
      }
      fail("unterminated string")
    }
    function value(path,   c, k, i, tok) {
      ws(); c = substr(s, pos, 1)
      if (c == "{") {
        pos++; ws()
        if (substr(s, pos, 1) == "}") { pos++; return }
        while (1) {
          ws(); if (substr(s, pos, 1) != "\"") fail("a key was expected")
          k = str(); ws(); if (substr(s, pos, 1) != ":") fail(": was expected")
          pos++; value(path == "" ? k : path "/" k); ws()
          c = substr(s, pos, 1); pos++
          if (c == "}") return
          if (c != ",") fail(", or } was expected")
        }
      }
      if (c == "[") {
        pos++; ws(); i = 0
        if (substr(s, pos, 1) == "]") { pos++; return }
        while (1) {
          value(path "/" i); i++; ws()
          c = substr(s, pos, 1); pos++
          if (c == "]") return
          if (c != ",") fail(", or ] was expected")
        }
      }
      if (c == "\"") { print path "\t" str(); return }
      if (match(substr(s, pos, 40), /^(-?[0-9][0-9.eE+-]*|true|false|null)/) != 1) fail("a value was expected")
      print path "\t" substr(s, pos, RLENGTH); pos += RLENGTH
    }
    { s = s $0 "\n" }
    END { if (bad) exit 2; n = length(s); pos = 1; value(""); ws(); if (pos <= n) fail("trailing text") }
  ' "$1"
}
# jget FLAT PATH: the value at PATH (empty if absent).
jget() { awk -F '\t' -v k="$2" '$1 == k { print substr($0, length($1) + 2); exit }' "$1"; }
# jcount FLAT PATH: how many elements the array at PATH has.
jcount() { awk -F '\t' -v p="$2/" 'index($1, p) == 1 { split(substr($1, length(p) + 1), a, "/"); if (a[1] + 1 > n) n = a[1] + 1 } END { print n + 0 }' "$1"; }
jlist() { awk -F '\t' -v p="$2/" 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { print substr($0, length($1) + 2) }' "$1"; }

# --- fetching: file://, a path, or http(s) with curl or wget (installed when missing) -----------
path_of() { case $1 in file://*) printf '%s' "${1#file://}" | sed 's/%20/ /g' ;; *) printf '%s' "$1" ;; esac; }
display_url() { printf '%s' "$1" | sed -E 's#^([a-z]+://)[^/@]*@#\1#; s#[?].*$##'; }
# with_suffix URL SUFFIX: SUFFIX added to the URL's path (before any ?query or #fragment).
with_suffix() {
  case $1 in
    *'?'* | *'#'*) printf '%s' "$1" | sed -E "s@^([^?#]*)@\\1$2@" ;;
    *) printf '%s%s' "$1" "$2" ;;
  esac
}
package_manager() {
  for m in apt-get dnf apk; do command -v "$m" >/dev/null 2>&1 && { echo "$m"; return 0; }; done
  return 1
}
apt_updated=false
apt_clean_lists=false
install_packages() {
  manager=$(package_manager) || fail CPY_INSTALL_CANNOT_INSTALL_PACKAGES "cannot install $*: no apt-get, dnf or apk here" "install them yourself ($*), then run again"
  [ "$(id -u)" -eq 0 ] || fail CPY_INSTALL_CANNOT_INSTALL_PACKAGES "cannot install $*: not running as root" "install them yourself ($*), then run again"
  say "installing $* with $manager"
  case $manager in
    apt-get)
      if [ "$apt_updated" = false ]; then
        # An image without package lists (the usual case) gets none left behind either.
        [ -n "$(find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock 2>/dev/null)" ] || apt_clean_lists=true
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$work/apt.log" 2>&1 || { tail -n 3 "$work/apt.log" >&2; fail CPY_INSTALL_PACKAGES_FAILED "apt-get update failed" 'check the network to the distribution archive (proxy settings), then run again'; }
        apt_updated=true
      fi
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 ;;
    dnf) dnf install -y -q "$@" >"$work/apt.log" 2>&1 ;;
    apk) apk add --no-cache "$@" >"$work/apt.log" 2>&1 ;;
  esac || { tail -n 3 "$work/apt.log" >&2; fail CPY_INSTALL_PACKAGES_FAILED "$manager could not install $*" 'check the package names for this distribution and the network to its archive, or install them yourself'; }
}
# need_downloader URL: curl (or wget), and for https the CA certificates (ca-certificates takes
# about 5 s to install, so a plain-http or file URL does without).
need_downloader() {
  wanted=
  command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || wanted=curl
  case $1 in https://*) [ -s /etc/ssl/certs/ca-certificates.crt ] || wanted="$wanted ca-certificates" ;; esac
  # shellcheck disable=SC2086 # a list of package names
  [ -z "$wanted" ] || install_packages $wanted
}
# fetch URL DEST WHAT [optional]: 0 fetched; with "optional", 1 when it is not there.
fetch() {
  case $1 in
    http://* | https://*)
      need_downloader "$1"
      if command -v curl >/dev/null 2>&1; then
        status=$(curl -sSL --retry 3 --retry-delay 1 --connect-timeout 30 -o "$2" -w '%{http_code}' "$1" 2>"$work/curl.err") || status=000
        case $status in
          200) return 0 ;;
          404 | 410) [ "${4:-}" = optional ] && return 1; fail CPY_INSTALL_NOT_FOUND "cannot get the $3 $(display_url "$1"): HTTP $status" 'check the URL (and the release it belongs to)' ;;
          *) [ "${4:-}" = optional ] && return 1; fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1"): $( [ "$status" = 000 ] && head -c 300 "$work/curl.err" || echo "HTTP $status")" 'check the network (proxy settings) and run again: nothing was installed' ;;
        esac
      fi
      wget -q --tries=3 -O "$2" "$1" 2>"$work/curl.err" && return 0
      [ "${4:-}" = optional ] && return 1
      fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1") (wget failed)" 'check the URL and the network, then run again: nothing was installed' ;;
    *)
      src=$(path_of "$1")
      if [ -f "$src" ]; then cp "$src" "$2"; return 0; fi
      [ "${4:-}" = optional ] && return 1
      fail CPY_INSTALL_NOT_FOUND "cannot get the $3 $1: no such file" 'check the path (inside the container: mount or copy the artifact there)' ;;
  esac
}

# --- the host ---------------------------------------------------------------------------------
host_libc=unknown
host_glibc=
detect_host() {
  host_arch=$(uname -m)
  if v=$(getconf GNU_LIBC_VERSION 2>/dev/null); then
    host_libc=glibc
    host_glibc=${v#glibc }
  elif ls /lib/ld-musl-* >/dev/null 2>&1; then
    host_libc=musl
  fi
}
# version_lt A B: A < B for dotted numbers.
version_lt() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "$1" ]
}
check_compatibility() { # FLAT
  what="CPython $(jget "$1" version) build $(jget "$1" build) ($(jget "$1" platform/os) $(jget "$1" platform/osVersion), $(jget "$1" platform/arch))"
  [ "$(uname -s)" = Linux ] || fail CPY_INSTALL_UNSUPPORTED_OS "$what is a Linux build; this host runs $(uname -s)" 'install it on Linux (a container, a VM or a CI runner)'
  a=$(jget "$1" platform/arch)
  [ "$a" = "$host_arch" ] || fail CPY_INSTALL_WRONG_ARCH "$what is built for $a; this host is $host_arch" "use an artifact built for $host_arch"
  l=$(jget "$1" platform/libc)
  [ "$l" = "$host_libc" ] || fail CPY_INSTALL_WRONG_LIBC "$what needs $l; this host has $host_libc" "use an artifact built on a $host_libc system"
  floor=$(jget "$1" platform/glibcFloor)
  if [ -n "$floor" ] && [ "$floor" != null ] && [ -n "$host_glibc" ] && version_lt "$host_glibc" "$floor"; then
    fail CPY_INSTALL_GLIBC_TOO_OLD "$what needs glibc $floor; this host has glibc $host_glibc" "use an artifact built on a system with glibc $host_glibc or older (build it in a container of your oldest distro: cpy build --builder container --image ...)"
  fi
}
loadable_libraries() {
  for l in /sbin/ldconfig /usr/sbin/ldconfig; do
    [ -x "$l" ] && "$l" -p 2>/dev/null | awk '/ => / { print $1 }' && return 0
  done
  for d in /lib /usr/lib /lib64 /usr/lib64 /usr/local/lib "/lib/$host_arch-linux-gnu" "/usr/lib/$host_arch-linux-gnu"; do
    [ -d "$d" ] && ls "$d"
  done
  return 0
}
# missing_libraries FLAT OUT: writes "soname critical packages..." lines for what this host lacks.
missing_libraries() {
  loadable_libraries | sort -u >"$work/have"
  : >"$2"
  n=$(jcount "$1" runtime/needs)
  i=0
  while [ "$i" -lt "$n" ]; do
    so=$(jget "$1" "runtime/needs/$i/soname")
    if ! grep -qxF "$so" "$work/have"; then
      critical=false
      jlist "$1" "runtime/needs/$i/usedBy" >"$work/usedby"
      if grep -Evq "$OPTIONAL_EXTENSION_RE" "$work/usedby"; then critical=true; fi
      printf '%s %s %s\n' "$so" "$critical" "$(jlist "$1" "runtime/needs/$i/packages" | tr '\n' ' ')" >>"$2"
    fi
    i=$((i + 1))
  done
}
# Critical libraries (ssl, sqlite3, readline...) are installed with installSystemDeps, or
# refused; those only tkinter, curses or dbm need are reported (Tk would pull X11 into the image).
handle_system_libraries() { # FLAT
  missing_libraries "$1" "$work/missing"
  [ -s "$work/missing" ] || return 0
  packages=$(awk '$2 == "true" { for (i = 3; i <= NF; i++) print $i }' "$work/missing" | sort -u | tr '\n' ' ')
  lacking=$(awk '$2 == "true" { print $1 }' "$work/missing" | tr '\n' ' ')
  if [ -n "$lacking" ] && [ "$INSTALLSYSTEMDEPS" = true ] && [ -n "$packages" ]; then
    # shellcheck disable=SC2086 # a list of package names
    install_packages $packages
    missing_libraries "$1" "$work/missing"
    if grep -q '^[^ ]* true' "$work/missing"; then
      fail CPY_INSTALL_MISSING_LIBRARIES "still missing after installing ${packages% }: $(awk '$2 == "true" {print $1}' "$work/missing" | tr '\n' ' ')" "this host's packages differ from the builder's ($(jget "$1" platform/os) $(jget "$1" platform/osVersion)); use an artifact built for this distribution"
    fi
  elif [ -n "$lacking" ] && [ -n "$packages" ]; then
    fail CPY_INSTALL_MISSING_LIBRARIES "this host lacks libraries the artifact needs: ${lacking% }" "install them (apt-get install ${packages% }) or set installSystemDeps to true"
  elif [ -n "$lacking" ]; then
    fail CPY_INSTALL_MISSING_LIBRARIES "this host lacks libraries the artifact needs: ${lacking% }" "install the packages that provide ${lacking% } (the artifact does not name them)"
  fi
  awk '{ p = ""; for (i = 3; i <= NF; i++) p = p (p == "" ? "" : " ") $i; print "warning: " $1 " is missing (package " (p == "" ? "unknown" : p) "): the modules that need it will not import" }' "$work/missing" |
    while IFS= read -r w; do say "$w"; done
}

# --- the archive ------------------------------------------------------------------------------
# metadata_of ARCHIVE: the first entry, cpy-artifact.json (GNU tar stops reading there).
metadata_of() {
  if tar --version 2>/dev/null | grep -q 'GNU tar'; then untar "$1" -O --occurrence=1 cpy-artifact.json; else untar "$1" -O cpy-artifact.json; fi
}
# untar ARCHIVE TAR-ARGS...: tar on a gzip or zstd archive (by magic bytes).
untar() {
  archive=$1
  shift
  case $(od -An -tx1 -N4 "$archive" | tr -d ' \n') in
    1f8b*) tar -xz -f "$archive" "$@" ;;
    28b52ffd)
      command -v zstd >/dev/null 2>&1 || install_packages zstd
      zstd -dcq "$archive" | tar -x -f - "$@" ;;
    *) return 2 ;;
  esac
}
# listing ARCHIVE [-v]: the archive's entry names (or tar -tv lines).
listing() {
  case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
    1f8b*) tar -tz ${2:+"$2"} -f "$1" ;;
    28b52ffd) zstd -dcq "$1" | tar -t ${2:+"$2"} -f - ;;
  esac
}
# Entries outside the tree, links that leave it, devices: refused before and after extraction.
check_entries() { # ARCHIVE ROOT
  listing "$1" -v | awk '{ print substr($1, 1, 1) }' | grep -q '[hcbp]' &&
    fail CPY_ARTIFACT_UNSAFE_ENTRY 'the archive holds a hard link, a device or a fifo; nothing from this archive is trusted' 'use an artifact made by cpy'
  listing "$1" | while IFS= read -r name; do
    case /$name/ in *'/../'*) exit 3 ;; esac
    case $name in
      /*) exit 3 ;;
      cpy-artifact.json | "$2" | "$2"/*) ;;
      # The directories above the tree (opt/).
      *) case $2/ in "${name%/}"/*) ;; *) exit 3 ;; esac ;;
    esac
  done || fail CPY_ARTIFACT_UNSAFE_ENTRY 'the archive holds an entry outside its prefix (an absolute path or ..); nothing from this archive is trusted' 'use an artifact made by cpy'
}
# normalize PATH: . and .. resolved lexically.
normalize() {
  printf '%s\n' "$1" | awk -F/ '{ n = 0; for (i = 1; i <= NF; i++) { if ($i == "" || $i == ".") continue; if ($i == "..") { if (n > 0) n--; else { print "/.."; exit } } else p[++n] = $i } out = ""; for (i = 1; i <= n; i++) out = out "/" p[i]; print (out == "" ? "/" : out) }'
}
check_links() { # TREE
  find "$1" ! -type f ! -type d ! -type l | grep -q . &&
    fail CPY_ARTIFACT_UNSAFE_ENTRY 'the archive made a device, fifo or socket' 'use an artifact made by cpy'
  find "$1" -type l | while IFS= read -r link; do
    target=$(readlink "$link")
    case $target in /*) echo "$link -> $target"; exit 3 ;; esac
    dir=$(dirname "$link")
    case $(normalize "$dir/$target")/ in "$1"/*) ;; *) echo "$link -> $target"; exit 3 ;; esac
  done >"$work/badlink" || fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive holds a symlink that points out of the tree ($(sed "s#^$1/##" "$work/badlink"))" 'use an artifact made by cpy'
}
# The artifact's own post-install script (share/cpy/postinstall.py, put there by cpy's packer),
# run by its own python3: the same code @cpy/install runs, so relocation and the checks exist once.
POSTINSTALL=share/cpy/postinstall.py
tree_python() { # TREE ARGS...
  t=$1
  shift
  env -i PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C.UTF-8 "$t/bin/python3" "$@"
}
relocate_tree() { # TREE BUILT_FOR PREFIX
  [ -f "$1/$POSTINSTALL" ] || fail CPY_INSTALL_RELOCATION_FAILED "cannot relocate $file_name from $2 to $3: the artifact has no $POSTINSTALL (it was packed by an older cpy)" "nothing was changed; install it at $2 (set installPrefix to it), or use an artifact packed by this version of cpy"
  tree_python "$1" -I -S "$1/$POSTINSTALL" relocate --from "$2" --to "$3" >"$work/relocate.json" 2>"$work/relocate.err" ||
    fail CPY_INSTALL_RELOCATION_FAILED "cannot relocate $file_name from $2 to $3: $(tail -n 2 "$work/relocate.err" | tr '\n' ' ')" "nothing was changed; install it at $2 (set installPrefix to it), or use an artifact packed by this version of cpy"
  json_flatten "$work/relocate.json" >"$work/relocate.flat" 2>/dev/null || true
  for name in $(jlist "$work/relocate.flat" tooLong); do
    say "warning: bin/$name: its #! line is longer than Linux allows; run it as python3 -m instead"
  done
}
validate_tree() { # TREE VERSION PREFIX
  [ -f "$1/$POSTINSTALL" ] || fail CPY_INSTALL_VALIDATION_FAILED "the unpacked python3 does not work: postinstall: the artifact has no $POSTINSTALL (it was packed by an older cpy)" 'nothing was changed; use an artifact packed by this version of cpy, or set skipValidation'
  # shellcheck disable=SC2086 # the module names
  tree_python "$1" -I "$1/$POSTINSTALL" check --version "$2" --installed-at "$3" --work "$work/checks" --modules "$(printf '%s' "$CRITICAL_IMPORTS" | tr ' ' ,)" --compile >"$work/check.json" 2>"$work/check.err" && return 0
  if tail -n 1 "$work/check.json" >"$work/check.last" && json_flatten "$work/check.last" >"$work/check.flat" 2>/dev/null; then
    problems=$(awk -F '\t' '$1 ~ /^checks\/[0-9]+\/id$/ { split($1, p, "/"); id[p[2]] = $2 } $1 ~ /^checks\/[0-9]+\/ok$/ { split($1, p, "/"); ok[p[2]] = $2 } $1 ~ /^checks\/[0-9]+\/detail$/ { split($1, p, "/"); d[p[2]] = $2; if (p[2] + 1 > n) n = p[2] + 1 } END { for (i = 0; i < n; i++) if (ok[i] == "false") printf "%s: %s; ", id[i], d[i] }' "$work/check.flat")
  else
    problems="python3 does not run: $(tail -n 2 "$work/check.err" | tr '\n' ' ')"
  fi
  fail CPY_INSTALL_VALIDATION_FAILED "the unpacked python3 does not work: ${problems%; }" 'nothing was changed; the artifact does not run on this host: check its runtime needs (cpy artifact validate) or use an artifact built for this distribution'
}

# --- state, links (the library's layout for root: /var/lib/cpy, /usr/local/bin) ---------------
swap_link() { # LINK TARGET
  mkdir -p "$(dirname "$1")"
  ln -s "$2" "$1.tmp-$$"
  mv -f -T "$1.tmp-$$" "$1"
}
bin_entry_kind() { # PATH
  [ -L "$1" ] || { [ -e "$1" ] && echo foreign || echo absent; return 0; }
  t=$(readlink "$1")
  case $t in /*) ;; *) t=$(normalize "$(dirname "$1")/$t") ;; esac
  if [ -e "$(dirname "$(dirname "$t")")/.cpy-install.json" ]; then echo cpy
  elif [ -e "$t" ]; then echo foreign
  else echo dangling; fi
}
LINKS='python3:python3 python:python3 pip3:pip3 pip:pip3 pydoc3:pydoc3 python3-config:python3-config'
check_bin_links() { # PREFIX
  for pair in $LINKS; do
    name=${pair%%:*} runs=${pair#*:}
    [ -e "$1/bin/$runs" ] || [ "$name" = python3 ] || continue
    [ "$(bin_entry_kind "$BIN_DIR/$name")" = foreign ] &&
      fail CPY_INSTALL_BIN_CONFLICT "$BIN_DIR/$name exists and is not a cpy link" "remove $BIN_DIR/$name (it is not cpy's), then run again"
  done
  return 0
}
record_install() { # VERSION PREFIX
  mkdir -p "$STATE_DIR"
  state=$STATE_DIR/state.json
  : >"$work/state.flat"
  if [ -f "$state" ]; then
    json_flatten "$state" >"$work/state.flat" 2>/dev/null || fail CPY_INSTALL_BROKEN "$state is not a cpy state file" "move it aside, then run again"
  fi
  now=$(readlink "$STATE_DIR/current" 2>/dev/null || true)
  previous=$(jget "$work/state.flat" previous)
  if [ -n "$now" ] && [ "$now" != "$2" ]; then
    leaving=$(awk -F '\t' -v p="$now" '$2 == p && $1 ~ /^installs\/.*\/prefix$/ { sub(/^installs\//, "", $1); sub(/\/prefix$/, "", $1); print $1; exit }' "$work/state.flat")
    [ -n "$leaving" ] && [ "$leaving" != "$1" ] && previous=$leaving
  fi
  {
    printf '{\n  "schemaVersion": 1,\n  "installs": {'
    awk -F '\t' -v v="$1" '$1 ~ /^installs\/.*\/prefix$/ { k = $1; sub(/^installs\//, "", k); sub(/\/prefix$/, "", k); if (k != v) printf "%s\n    \"%s\": {\n      \"prefix\": \"%s\"\n    }", (n++ ? "," : ""), k, $2 } END { if (n) printf "," }' "$work/state.flat"
    printf '\n    "%s": {\n      "prefix": "%s"\n    }\n  },\n' "$1" "$2"
    if [ -n "$previous" ] && [ "$previous" != null ]; then printf '  "previous": "%s"\n}\n' "$previous"; else printf '  "previous": null\n}\n'; fi
  } >"$state.tmp-$$"
  mv -f "$state.tmp-$$" "$state"
  swap_link "$STATE_DIR/current" "$2"
  for pair in $LINKS; do
    name=${pair%%:*} runs=${pair#*:}
    if [ -e "$2/bin/$runs" ]; then
      [ "$(readlink "$BIN_DIR/$name" 2>/dev/null || true)" = "$2/bin/$runs" ] || swap_link "$BIN_DIR/$name" "$2/bin/$runs"
    elif [ "$(bin_entry_kind "$BIN_DIR/$name")" = cpy ]; then
      rm -f "$BIN_DIR/$name"
    fi
  done
}

# What a killed run left beside PREFIX: a replacement stopped between its two renames is
# rolled back to the old tree; staging trees are removed.
recover_prefix() {
  parent=$(dirname "$1")
  base=${1##*/}
  if [ ! -e "$1" ]; then
    for old in "$parent"/.cpy-old-"$base"-*; do
      if [ -d "$old" ]; then mv "$old" "$1"; break; fi
    done
  fi
  rm -rf "$parent"/.cpy-staging-"$base"-* "$parent"/.cpy-old-"$base"-*
}

# --- the install ------------------------------------------------------------------------------
work=
stage=
cleanup() {
  [ -z "$stage" ] || rm -rf "$stage"
  [ -z "$work" ] || rm -rf "$work"
  # What apt-get downloaded would only make the image layer bigger.
  if [ "$apt_updated" = true ]; then
    apt-get clean >/dev/null 2>&1 || true
    if [ "$apt_clean_lists" = true ]; then rm -rf /var/lib/apt/lists/*; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
  [ "$(id -u)" -eq 0 ] || fail CPY_INSTALL_NOT_ROOT 'install.sh installs for the whole image and must run as root' 'run it as root (Dev Container Features always are); as a user, use cpy install'
  for tool in tar sha256sum awk od find; do
    command -v "$tool" >/dev/null 2>&1 || fail CPY_INSTALL_MISSING_TOOL "this image has no $tool" "install $tool (coreutils, tar, findutils, awk) in the base image"
  done
  check_options
  work=$(mktemp -d /tmp/cpy-feature.XXXXXXXX)

  [ -n "$ARTIFACTURL" ] || fail CPY_INSTALL_NO_SOURCE 'no artifactUrl given' 'set artifactUrl to the cpython-<version>-<os><osversion>-build<N>.tgz made by cpy build (its .sha256 is read from beside it)'
  base=$(printf '%s' "$ARTIFACTURL" | sed -E 's#[?#].*$##')
  file_name=${base##*/}
  named_version=
  if matches "$file_name" "$NAME_RE"; then named_version=$(printf '%s' "$file_name" | sed -E "s/$NAME_RE/\\1/"); fi
  version=${VERSION:-$named_version}
  [ -n "$version" ] || fail CPY_INSTALL_NO_VERSION "which version? The artifact name ($file_name) does not say (cpython-<version>-<os><osversion>-build<N>.tgz)" 'set the version option'
  [ -z "$named_version" ] || [ "$named_version" = "$version" ] || fail CPY_INSTALL_VERSION_MISMATCH "asked for $version, but the artifact is $named_version" 'fix the version or the artifact URL'
  prefix=${INSTALLPREFIX:-/opt/python-$version}

  recover_prefix "$prefix"
  # Already there: nothing is fetched.
  if [ -f "$prefix/.cpy-install.json" ] && json_flatten "$prefix/.cpy-install.json" >"$work/marker.flat" 2>/dev/null; then
    if [ "$(jget "$work/marker.flat" version)" = "$version" ] &&
      { { [ -n "$SHA256" ] && [ "$(jget "$work/marker.flat" sha256)" = "$SHA256" ]; } ||
        { [ -z "$SHA256" ] && [ "$(jget "$work/marker.flat" artifact)" = "$file_name" ]; }; }; then
      record_install "$version" "$prefix"
      say "CPython $version is already installed in $prefix (artifact $(jget "$work/marker.flat" artifact)); nothing to do"
      return 0
    fi
  fi
  if [ -d "$prefix" ] && [ ! -e "$prefix/.cpy-install.json" ] && [ -n "$(find "$prefix" -mindepth 1 -maxdepth 1)" ]; then
    fail CPY_INSTALL_PREFIX_NOT_EMPTY "$prefix already holds files that cpy did not install ($(find "$prefix" -mindepth 1 -maxdepth 1 -exec basename {} \; | head -n 3 | tr '\n' ' '))" 'choose another installPrefix (each version gets its own), or empty that directory yourself'
  fi
  detect_host

  # The checksum first; the metadata published beside the artifact lets an incompatible host refuse before the download.
  if [ -n "$SHA256" ]; then
    expected=$SHA256
  else
    sums=${CHECKSUMURL:-$(with_suffix "$ARTIFACTURL" .sha256)}
    fetch "$sums" "$work/sha256" 'checksum file'
    line=$(head -n 1 "$work/sha256" | tr -d '\r')
    matches "$line" '^[0-9a-fA-F]{64}([ ][ *]?[^ ].*)?$' || fail CPY_INSTALL_BAD_CHECKSUM_FILE "$(display_url "$sums") is not a sha256sum line" 'point checksumUrl at the .sha256 file published with the artifact, or set sha256'
    expected=$(printf '%s' "$line" | cut -c1-64 | tr 'A-F' 'a-f')
    listed=$(printf '%s' "$line" | cut -c66- | sed 's/^[ *]//')
    [ -z "$listed" ] || [ "$listed" = "$file_name" ] || fail CPY_INSTALL_BAD_CHECKSUM_FILE "$(display_url "$sums") is the checksum of $listed, not of $file_name" 'use the .sha256 file published beside this artifact'
  fi
  if fetch "$(with_suffix "$ARTIFACTURL" .json)" "$work/side.json" metadata optional && json_flatten "$work/side.json" >"$work/side.flat" 2>/dev/null &&
    [ "$(jget "$work/side.flat" schemaVersion)" = 1 ]; then
    check_compatibility "$work/side.flat"
  fi

  say "downloading $file_name from $(display_url "$ARTIFACTURL")"
  archive=$work/artifact
  fetch "$ARTIFACTURL" "$archive" artifact
  got=$(sha256sum "$archive" | cut -c1-64)
  [ "$got" = "$expected" ] || fail CPY_INSTALL_CHECKSUM_MISMATCH "$file_name has sha256 $got, but $expected was expected" 'the download is corrupt or the checksum belongs to another file: nothing was installed; download again or fix checksumUrl/sha256'
  say "sha256 $got verified"

  if ! metadata_of "$archive" >"$work/metadata.json" 2>"$work/tar.err" || ! json_flatten "$work/metadata.json" >"$work/meta.flat" 2>>"$work/tar.err"; then
    fail CPY_INSTALL_NOT_AN_ARTIFACT "$file_name does not start with cpy-artifact.json: $(head -c 200 "$work/tar.err")" 'install a .tgz made by cpy build or cpy artifact pack'
  fi
  if [ "$(jget "$work/meta.flat" schemaVersion)" != 1 ] || [ "$(jget "$work/meta.flat" name)" != cpython ]; then
    fail CPY_INSTALL_NOT_AN_ARTIFACT "the metadata of $file_name is not valid: schemaVersion $(jget "$work/meta.flat" schemaVersion)" 'this Feature may be older than the artifact: update it, or install an artifact made by this version'
  fi
  meta_version=$(jget "$work/meta.flat" version)
  built_for=$(jget "$work/meta.flat" prefix)
  bytes=$(jget "$work/meta.flat" contents/bytes)
  if ! matches "$built_for" '^/[A-Za-z0-9._/+@-]+$' || ! matches "$bytes" '^[0-9]+$'; then
    fail CPY_INSTALL_NOT_AN_ARTIFACT "the metadata of $file_name is not valid: prefix '$built_for'" 'install an artifact made by cpy'
  fi
  [ "$meta_version" = "$version" ] || fail CPY_INSTALL_VERSION_MISMATCH "asked for $version, but $file_name holds CPython $meta_version" 'fix the version or the artifact'
  check_compatibility "$work/meta.flat"

  if [ -f "$prefix/.cpy-install.json" ] && [ "$(jget "$work/marker.flat" sha256 2>/dev/null)" = "$got" ]; then
    record_install "$version" "$prefix"
    say "CPython $version is already installed in $prefix; nothing to do"
    return 0
  fi
  check_bin_links "$prefix"
  handle_system_libraries "$work/meta.flat"

  parent=$(dirname "$prefix")
  mkdir -p "$parent"
  free_kb=$(df -Pk "$parent" | awk 'NR == 2 { print $4 }')
  need_kb=$((bytes * 105 / 102400 + 16384))
  [ "$free_kb" -ge "$need_kb" ] || fail CPY_INSTALL_DISK_FULL "$parent has $((free_kb / 1024)) MiB free; the install needs $((need_kb / 1024)) MiB" 'free some space (or choose another installPrefix), then run again: nothing was changed'

  root=${built_for#/}
  check_entries "$archive" "$root"
  stage=$(mktemp -d "$parent/.cpy-staging-${prefix##*/}-XXXXXXXX")
  say "extracting into $parent"
  untar "$archive" -C "$stage" --no-same-owner "$root" 2>"$work/tar.err" ||
    fail CPY_ARTIFACT_CORRUPT "cannot extract $file_name: $(head -c 300 "$work/tar.err")" 'download it again; if it persists, the artifact is damaged'
  tree=$stage/$root
  check_links "$tree"
  [ "$prefix" = "$built_for" ] || relocate_tree "$tree" "$built_for" "$prefix"
  if [ "$SKIPVALIDATION" = true ]; then
    say 'skipValidation: the installed python3 is not checked'
  else
    validate_tree "$tree" "$version" "$prefix"
    say "python3 $version runs; $CRITICAL_IMPORTS import; sysconfig, a venv through a link and a C extension (with a compiler) work"
  fi
  printf '{\n  "schemaVersion": 1,\n  "version": "%s",\n  "build": %s,\n  "sha256": "%s",\n  "artifact": "%s",\n  "source": "%s",\n  "builtFor": "%s",\n  "installedAt": "%s"\n}\n' \
    "$version" "$(jget "$work/meta.flat" build)" "$got" "$file_name" "$(display_url "$ARTIFACTURL")" "$built_for" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" >"$tree/.cpy-install.json"
  if [ -e "$prefix" ]; then
    # A broken install or another build: replaced by two renames.
    aside=$parent/.cpy-old-${prefix##*/}-$$
    mv "$prefix" "$aside"
    mv "$tree" "$prefix"
    rm -rf "$aside"
    placed=replaced
  else
    mv "$tree" "$prefix"
    placed=installed
  fi
  rm -rf "$stage"
  stage=
  record_install "$version" "$prefix"
  say "$placed CPython $version in $prefix ($BIN_DIR/python3 -> $prefix/bin/python3)"
}

main "$@"
