#!/bin/sh
# cpython-prebuilt: installs a CPython artifact made by cpy (`cpy build`, `cpy artifact pack`).
#
# The same contract as @cpy/install's installPython, for images that have no Node and no
# Python: every option checked against a strict pattern; a version request (3.13, latest)
# resolved with the cpy index to the build that fits this image, by the library's rules
# and with its messages; the checksum verified before anything is extracted; the
# artifact's metadata (architecture, C library, glibc floor, system libraries) checked
# before anything is written; extracted beside the prefix, validated, then renamed into
# place (never half-installed); idempotent by the artifact's name or sha256; the same error
# codes, the same install marker, state and links, so `cpy list` and `cpy use` understand
# what it installed. apps/feature/test/conformance.spec.ts runs the same cases against
# this script and the library.
#
# Options arrive as environment variables (the Dev Container CLI upper-cases them):
#   VERSION INDEXURL ARTIFACTURL CHECKSUMURL SHA256 SIGNERFINGERPRINTS TRUSTEDKEYSURL
#   INSTALLPREFIX SKIPVALIDATION INSTALLSYSTEMDEPS INSTALLTK (and, as the library, CPY_INDEX_URL,
#   CPY_SIGNER_FINGERPRINTS and CPY_TRUSTED_KEYS_URL when the option is empty).
# With signers pinned, the index (or, without one, the artifact) must carry a detached OpenPGP
# signature (.asc) by a pinned key, checked with gpgv before anything is extracted.
# An artifact or index under /workspaces/ is not there while the image is built (Features
# run before the workspace is mounted): the install is saved to $DEFERRED_ENV with a copy
# of this script, and the Feature's onCreateCommand runs `install.sh --deferred` in the
# created container, which installs from the mounted workspace.
# Like the library, it holds the prefix's lock (/var/lib/cpy/locks/<sha256(prefix)[:16]>.lock,
# the same file `cpy install` takes, so the two exclude each other) while it installs, waits
# for a live holder (CPY_LOCK_TIMEOUT_MS, default 600000: then CPY_INSTALL_LOCKED), and takes
# over the lock of a process that is gone, or whose pid a process started since has (the lock
# line says when its process started); a replacement writes the library's journal
# (.cpy-journal-<name>.json beside the prefix) before its two renames, and the next run rolls
# a killed one forward.
# Exit status: 0 installed, already installed or deferred; 1 refused or failed (nothing changed).
set -eu

me=cpython-prebuilt
STATE_DIR=/var/lib/cpy
BIN_DIR=/usr/local/bin
SHARE_DIR=/usr/local/share/cpy-feature
DEFERRED_ENV=$SHARE_DIR/deferred.env
CRITICAL_IMPORTS='ssl sqlite3 uuid _uuid lzma bz2 ctypes zlib readline'
URL_RE='^(https?|file)://[A-Za-z0-9._~:/?#@&=+%,-]+$'
PATH_RE='^[A-Za-z0-9._/+@-]+$'
VERSION_RE='^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})((a|b|rc)(0|[1-9][0-9]{0,2}))?$'
REQUEST_RE='^(latest|(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})((a|b|rc)(0|[1-9][0-9]{0,2}))?)?)?)$'
SIGNERS_RE='^[0-9A-Fa-f,]*$'
FINGERPRINT_RE='^[0-9A-F]{40}$'
# A package name (the library's PACKAGE_RE, without its anchors): names are given to apt unquoted.
PACKAGE_NAME='[A-Za-z0-9][A-Za-z0-9._+-]*'
NAME_RE='^cpython-([0-9][0-9a-z.]*)-([a-z][a-z]*)([0-9][0-9.]*)(-[a-z][a-z0-9_]*)?-build([1-9][0-9]{0,3})\.(tgz|tar\.zst)$'
INDEX_SCHEMA_VERSION=2
TAB=$(printf '\t')
CR=$(printf '\r')
case $0 in /*) SELF=$0 ;; *) SELF=$(pwd)/$0 ;; esac

say() { printf '[%s] %s\n' "$me" "$*" >&2; }
# fail CODE WHAT HINT: the library's CpyError, as text.
fail() {
  printf '[%s] error %s: %s\n[%s] hint: %s\n' "$me" "$1" "$2" "$me" "$3" >&2
  exit 1
}
matches() {
  case $1 in *'
'*) return 1 ;; esac
  # The commonest patterns, as case patterns: no process (each grep costs a millisecond or two).
  case $2 in
    "$PATH_RE") case $1 in '' | *[!A-Za-z0-9._/+@-]*) return 1 ;; *) return 0 ;; esac ;;
    '^[0-9]+$') case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac ;;
  esac
  printf '%s\n' "$1" | grep -Eq "$2"
}

# --- options -------------------------------------------------------------------------------
VERSION=${VERSION:-}
INDEXURL=${INDEXURL:-}
ARTIFACTURL=${ARTIFACTURL:-}
CHECKSUMURL=${CHECKSUMURL:-}
SHA256=${SHA256:-}
SIGNERFINGERPRINTS=${SIGNERFINGERPRINTS:-}
TRUSTEDKEYSURL=${TRUSTEDKEYSURL:-}
INSTALLPREFIX=${INSTALLPREFIX:-}
SKIPVALIDATION=${SKIPVALIDATION:-false}
INSTALLSYSTEMDEPS=${INSTALLSYSTEMDEPS:-true}
INSTALLTK=${INSTALLTK:-false}
OPTION_VARS='VERSION INDEXURL ARTIFACTURL CHECKSUMURL SHA256 SIGNERFINGERPRINTS TRUSTEDKEYSURL INSTALLPREFIX SKIPVALIDATION INSTALLSYSTEMDEPS INSTALLTK'

bad_option() { fail CPY_INSTALL_BAD_OPTIONS "$1: $2" "${3:-fix the option in devcontainer.json (see the Feature README)}"; }

# The CLI writes NAME="value" lines that sh sources, unescaped: by the time this script
# runs, $(...) and backticks have been expanded. The file as written still shows them.
check_raw_options() {
  [ -f ./devcontainer-features.env ] || return 0
  for name in $OPTION_VARS; do
    grep -E "^$name=" ./devcontainer-features.env | while IFS= read -r line; do
      printf '%s\n' "$line" | grep -Eq "^$name=\"[A-Za-z0-9._~:/?#@&=+%,-]*\"\$" || exit 1
    done || bad_option "$(option_name "$name")" 'holds characters that are not allowed (quotes, $, backticks, spaces or other shell metacharacters); the value was expanded by the shell before this Feature ran' \
      'fix the option in devcontainer.json: values may hold letters, digits and . _ ~ : / ? # @ & = + % , - only (a space in a URL is %20)'
  done
  # An option this Feature does not have: a misspelled signerFingerprints pinned nothing, and
  # the install went on unsigned without a word. The CLI writes each option upper-cased.
  # (The CLI ends the file without a newline: its last line is read too.)
  name=$({ cat ./devcontainer-features.env && echo; } | sed -nE 's/^([A-Za-z0-9_]+)=.*/\1/p' | while IFS= read -r n; do
    case " $OPTION_VARS " in *" $n "*) ;; *) printf '%s\n' "$n" && break ;; esac
  done)
  [ -n "$name" ] || return 0
  like=
  for known in $OPTION_VARS; do
    case $known in "$name"* | *"$name") like=$known ;; esac
    case $name in "$known"* | *"$known") like=$known ;; esac
  done
  fail CPY_INSTALL_BAD_OPTIONS "devcontainer.json sets an option this Feature does not have: $name (as the Dev Containers CLI passes it, upper-cased)${like:+; did you mean $(option_name "$like")?}" \
    "fix its name in devcontainer.json; the options are $(for known in $OPTION_VARS; do printf '%s ' "$(option_name "$known")"; done | sed 's/ $//; s/ /, /g') (see the Feature README)"
}
option_name() {
  case $1 in
    VERSION) echo version ;; INDEXURL) echo indexUrl ;; ARTIFACTURL) echo artifactUrl ;; CHECKSUMURL) echo checksumUrl ;; SHA256) echo sha256 ;;
    SIGNERFINGERPRINTS) echo signerFingerprints ;; TRUSTEDKEYSURL) echo trustedKeysUrl ;;
    INSTALLPREFIX) echo installPrefix ;; SKIPVALIDATION) echo skipValidation ;; INSTALLSYSTEMDEPS) echo installSystemDeps ;; INSTALLTK) echo installTk ;;
  esac
}
location_ok() { case $1 in /*) matches "$1" "$PATH_RE" ;; *) matches "$1" "$URL_RE" && url_read_alike "$1" ;; esac; }
# url_read_alike URL: the library's urlReadAlike: each %-escape a printable ASCII character other
# than / (%20 to %7E, not %2F), and a file URL on this machine. Both installers then read a file
# URL's path and an artifact's file name alike, decoded.
URL_RULE='its %-escapes must each stand for a printable ASCII character other than / (%20 to %7E), and a file URL must be on this machine (file:///path)'
url_read_alike() {
  case $1 in file://[!/]*) case $1 in file://localhost/*) ;; *) return 1 ;; esac ;; esac
  case $1 in *%*) ! printf '%s\n' "$1" | grep -Eq -e '%([^2-7]|[2-7][^0-9A-Fa-f]|[2-7]?$)' -e '%(2[Ff]|7[Ff])' ;; esac
}
check_options() {
  [ "$deferred" = true ] || check_raw_options
  # The library reads CPY_INDEX_URL (and the signing ones) when the option is empty.
  [ -n "$INDEXURL" ] || INDEXURL=${CPY_INDEX_URL:-}
  # (The variable may be written as gpg prints a fingerprint, in groups: its blanks go, as the library drops them.)
  signers_from=option
  [ -n "$SIGNERFINGERPRINTS" ] || { SIGNERFINGERPRINTS=$(printf '%s' "${CPY_SIGNER_FINGERPRINTS:-}" | tr -d ' \t\n') && signers_from=environment; }
  [ -n "$TRUSTEDKEYSURL" ] || TRUSTEDKEYSURL=${CPY_TRUSTED_KEYS_URL:-}
  [ -z "$VERSION" ] || matches "$VERSION" "$REQUEST_RE" || bad_option version "must be a CPython version (3.13.5, 3.14.0rc2), a release line (3.13, 3), or latest (got '$VERSION')"
  for name in INDEXURL ARTIFACTURL CHECKSUMURL TRUSTEDKEYSURL; do
    eval "v=\$$name"
    [ -z "$v" ] || location_ok "$v" || {
      case $v in /*) ;; *) ! matches "$v" "$URL_RE" || bad_option "$(option_name "$name")" "$URL_RULE" ;; esac
      bad_option "$(option_name "$name")" 'must be an http(s) or file URL, or an absolute path, without spaces, quotes or shell metacharacters'
    }
  done
  [ -z "$SHA256" ] || matches "$SHA256" '^[0-9a-fA-F]{64}$' || bad_option sha256 'must be 64 hex digits'
  case $SHA256 in *[A-F]*) SHA256=$(printf '%s' "$SHA256" | tr 'A-F' 'a-f') ;; esac
  [ -z "$SIGNERFINGERPRINTS" ] || check_signers
  if [ -n "$INSTALLPREFIX" ]; then
    matches "$INSTALLPREFIX" "$PATH_RE" || bad_option installPrefix 'must be a path of letters, digits and . _ / + @ - only'
    case /$INSTALLPREFIX/ in *'/../'*) bad_option installPrefix 'must not go up a directory with ..' ;; esac
    case $INSTALLPREFIX in /?*) ;; *) bad_option installPrefix 'must be an absolute path, from /' ;; esac
    # As the library's resolve(): // and /./ collapsed, no trailing / (the lock and the state
    # name the prefix by this spelling, the same for both installers).
    case $INSTALLPREFIX in *//* | */./* | */. | ?*/) INSTALLPREFIX=$(normalize "$INSTALLPREFIX") ;; esac
  fi
  # How long to wait for another install of the prefix (the library's lockTimeoutMs).
  [ -z "${CPY_LOCK_TIMEOUT_MS:-}" ] || matches "$CPY_LOCK_TIMEOUT_MS" '^[1-9][0-9]{0,8}$' ||
    fail CPY_INSTALL_BAD_OPTIONS "CPY_LOCK_TIMEOUT_MS: must be a number of milliseconds (got '$CPY_LOCK_TIMEOUT_MS')" 'set it to a whole number of milliseconds, or unset it (600000, ten minutes)'
  for b in SKIPVALIDATION INSTALLSYSTEMDEPS INSTALLTK; do
    eval "v=\$$b"
    case $v in true | false) ;; *) bad_option "$(option_name $b)" "must be true or false (got '$v')" ;; esac
  done
}

# --- JSON, without jq or python: flattened to "path<TAB>value" lines by awk ---------------------
# (an empty array or object is the line "path<TAB>[]" or "path<TAB>{}", so that it is seen)
# json_flatten FILE
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
        if (substr(s, pos, 1) == "}") { pos++; print path "\t{}"; return }
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
        if (substr(s, pos, 1) == "]") { pos++; print path "\t[]"; return }
        while (1) {
          value(path "/" i); i++; ws()
          c = substr(s, pos, 1); pos++
          if (c == "]") return
          if (c != ",") fail(", or ] was expected")
        }
      }
      if (c == "\"") { print path "\t" str(); return }
      if (match(substr(s, pos, 40), /^(-?[0-9][0-9.eE+-]*|true|false|null)/) != 1) fail("a value was expected")
      tok = substr(s, pos, RLENGTH)
      print path "\t" tok; pos += RLENGTH
    }
    { s = s $0 "\n" }
    END { if (bad) exit 2; n = length(s); pos = 1; value(""); ws(); if (pos <= n) fail("trailing text") }
  ' "$1"
}
# jget FLAT PATH: the value at PATH (empty if absent).
jget() { awk -F '\t' -v k="$2" '$1 == k { print substr($0, length($1) + 2); exit }' "$1"; }
# jvals FLAT PATH...: the values at up to seven PATHs in j1-j7 (empty if absent), from one awk
# where jget runs one each (a process costs a millisecond or more). Seven lines and a last one
# always come, so no read meets the end of its input.
jvals() {
  jfile=$1
  shift
  j1='' j2='' j3='' j4='' j5='' j6='' j7=''
  { IFS= read -r j1 && IFS= read -r j2 && IFS= read -r j3 && IFS= read -r j4 && IFS= read -r j5 &&
    IFS= read -r j6 && IFS= read -r j7; } <<EOF || true
$(awk -F '\t' -v keys="$*" 'BEGIN { n = split(keys, k, " ") } !($1 in v) { v[$1] = substr($0, length($1) + 2) } END { for (i = 1; i <= 7; i++) print (i <= n ? v[k[i]] : ""); print "." }' "$jfile")
EOF
}
# jcount FLAT PATH: how many elements the array at PATH has.
jcount() { awk -F '\t' -v p="$2/" 'index($1, p) == 1 { split(substr($1, length(p) + 1), a, "/"); if (a[1] + 1 > n) n = a[1] + 1 } END { print n + 0 }' "$1"; }
jlist() { awk -F '\t' -v p="$2/" 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { print substr($0, length($1) + 2) }' "$1"; }

# --- fetching: file://, a path, or http(s) with curl or wget (installed when missing) -----------
# url_parts URL: an http(s) or file URL as the library's URL reads it (WHATWG's rules, for what
# URL_RE and url_read_alike let through), in three variables:
# - url_shown, as displayUrl shows it: no credentials, query or fragment; the host in lower case,
#   without the scheme's default port; . and .. segments (also spelt %2e) resolved; a file URL
#   as its path;
# - url_path, the path with its %-escapes decoded (for a file URL, Node's fileURLToPath);
# - url_name, its last segment (the artifact's file name: the basename of the decoded path).
# shellcheck disable=SC2016 # awk's $0
URL_AWK='function decode(s,   out, i) {
  out = ""
  while ((i = index(s, "%")) > 0) {
    out = out substr(s, 1, i - 1) sprintf("%c", (index("0123456789abcdef", tolower(substr(s, i + 1, 1))) - 1) * 16 + index("0123456789abcdef", tolower(substr(s, i + 2, 1))) - 1)
    s = substr(s, i + 3)
  }
  return out s
}
{
  scheme = substr($0, 1, index($0, "://") - 1); rest = substr($0, length(scheme) + 4)
  n = match(rest, "[/?#]"); if (n) { auth = substr(rest, 1, n - 1); rest = substr(rest, n) } else { auth = rest; rest = "" }
  n = match(rest, "[?#]"); path = n ? substr(rest, 1, n - 1) : rest
  while ((i = index(auth, "@")) > 0) auth = substr(auth, i + 1)
  port = ""; if ((i = index(auth, ":")) > 0) { port = substr(auth, i + 1); auth = substr(auth, 1, i - 1) }
  host = tolower(decode(auth))
  if (port ~ /^0+$/) port = "0"; else sub(/^0+/, "", port)
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port = ""
  ns = split(substr(path, 2), seg, "/"); depth = 0
  for (k = 1; k <= ns; k++) {
    s = tolower(seg[k])
    if (s == "." || s == "%2e") { if (k == ns) top[++depth] = ""; continue }
    if (s == ".." || s == ".%2e" || s == "%2e." || s == "%2e%2e") { if (depth > 0) depth--; if (k == ns) top[++depth] = ""; continue }
    top[++depth] = seg[k]
  }
  path = ""; for (k = 1; k <= depth; k++) path = path "/" top[k]
  if (path == "") path = "/"
  decoded = decode(path)
  name = decoded; sub(/\/+$/, "", name); sub(/.*\//, "", name)
  if (scheme == "file") print decoded; else print scheme "://" host (port == "" ? "" : ":" port) path
  print decoded
  print name
}'
# (A URL whose path ends in / names no file: its last line is empty, and $(...) drops it.)
url_parts() {
  { read -r url_shown && read -r url_path && { read -r url_name || url_name=; }; } <<URL
$(printf '%s\n' "$1" | LC_ALL=C awk "$URL_AWK")
URL
}
path_of() {
  case $1 in
    file://*) url_parts "$1" && printf '%s' "$url_path" ;;
    *) printf '%s' "$1" ;;
  esac
}
# resolved_path PATH: in $resolved_path, PATH with // . and .. resolved (the library's resolve()).
resolved_path() {
  case $1 in
    *//* | */./* | */../* | */. | */.. | ?*/) resolved_path=$(normalize "$1") ;;
    *) resolved_path=$1 ;;
  esac
}
# display_url LOCATION: as the library shows it (displayUrl of the URL, or of the path's file URL).
display_url() {
  case $1 in
    /*) resolved_path "$1" && printf '%s' "$resolved_path" ;;
    *) url_parts "$1" && printf '%s' "$url_shown" ;;
  esac
}
# name_of LOCATION: the artifact's file name, in file_name (the library's basename of the decoded path).
name_of() {
  case $1 in
    /*) resolved_path "$1" && file_name=${resolved_path##*/} ;;
    *) url_parts "$1" && file_name=$url_name ;;
  esac
}
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
# apt_ran: apt-get fetched lists or packages this run (the cleanup removes what it downloaded).
apt_ran=false
apt_clean_lists=false
# dnf_ran: dnf installed packages this run (its cache is cleaned as apt's is).
dnf_ran=false
# What a failed apt-get update said (its first E: line): it is not tried again in this run.
apt_update_failed=
# apt_update: the package lists, fetched once per run (an image that had none gets none left behind).
apt_update() {
  [ "$apt_updated" = false ] || return 0
  [ -z "$apt_update_failed" ] || return 1
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock 2>/dev/null)" ] || apt_clean_lists=true
  apt_ran=true
  # (Kept apart: it exits 0 when it cannot reach the archive, and only its warnings say so.)
  if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$work/apt-update.log" 2>&1 </dev/null; then
    cp "$work/apt-update.log" "$work/apt.log"
    apt_update_failed=$({ grep -E -m 1 '^E: ' "$work/apt-update.log" || tail -n 1 "$work/apt-update.log"; } | head -c 300)
    [ -n "$apt_update_failed" ] || apt_update_failed='it failed'
    return 1
  fi
  apt_updated=true
}
# archive_unreachable: what the package manager said of an archive it could not reach (its first
# such line, in $work/apt-update.log or $work/apt.log); fails when it said none (the library's
# archiveUnreachable).
archive_unreachable() {
  cat "$work/apt-update.log" "$work/apt.log" 2>/dev/null |
    grep -E -m 1 "Failed to fetch|Temporary failure resolving|Could not resolve|Unable to connect|Network is unreachable|Cannot find a valid baseurl|Curl error|temporary error \(try again later\)" |
    tr -s ' \t' '  ' | sed 's/^ //; s/ $//' | head -c 300 | grep .
}
apt_install() {
  apt_ran=true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 </dev/null
}
# try_install_packages PACKAGES...: 0 installed, 1 the package manager failed (its log in $work/apt.log).
# With package lists present, apt installs at once, and fetches them only when that fails (the
# library's installPackages). An update that fails (one broken source of the image's: an expired
# key, a signed-by file gone) is not the end: the install is tried with the lists it did fetch, and
# its failure is the caller's to judge (optional libraries are a warning).
try_install_packages() {
  manager=$(package_manager) || fail CPY_INSTALL_CANNOT_INSTALL_PACKAGES "cannot install $*: no apt-get, dnf or apk here" "install them yourself ($*), then run again"
  [ "$(id -u)" -eq 0 ] || fail CPY_INSTALL_CANNOT_INSTALL_PACKAGES "cannot install $*: not running as root" "install them yourself ($*), then run again"
  say "installing $* with $manager"
  case $manager in
    apt-get)
      if [ -n "$(find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock 2>/dev/null)" ] && apt_install "$@"; then return 0; fi
      # (What the update said stays in $work/apt-update.log: an archive it could not reach is named from it.)
      apt_update || true
      apt_install "$@" ;;
    dnf)
      dnf_ran=true
      dnf install -y -q --setopt=install_weak_deps=False "$@" >"$work/apt.log" 2>&1 </dev/null ;;
    apk) apk add --no-cache "$@" >"$work/apt.log" 2>&1 </dev/null ;;
  esac
}
install_packages() {
  try_install_packages "$@" || packages_failed "$*"
}
# packages_failed PACKAGES: fails for packages the package manager could not install, naming an
# archive it could not reach as the cause when it said so.
packages_failed() {
  if unreachable=$(archive_unreachable); then
    fail CPY_INSTALL_PACKAGES_FAILED "$manager could not install $1: the package archive could not be reached ($unreachable)" 'check the network to the distribution archive (a proxy: http_proxy, https_proxy), then run again; or install them in the base image'
  fi
  tail -n 3 "$work/apt.log" >&2
  # A failed update is the likelier cause ("Unable to locate package" after it): said first.
  if [ -n "$apt_update_failed" ]; then
    fail CPY_INSTALL_PACKAGES_FAILED "$manager could not install $1, after apt-get update failed: $apt_update_failed" "check the image's package sources (/etc/apt/sources.list, /etc/apt/sources.list.d: a key expired or missing, a clock behind) and the network to them, then run again; or install them in the base image"
  fi
  fail CPY_INSTALL_PACKAGES_FAILED "$manager could not install $1" 'check the package names for this distribution and the network to its archive, or install them yourself'
}
# need_downloader URL: curl (or wget), and for https the CA certificates (ca-certificates takes
# about 5 s to install, so a plain-http or file URL does without).
need_downloader() {
  wanted=
  command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || wanted=curl
  # Debian's and Ubuntu's bundle, Fedora's and RHEL's, openSUSE's, the one other distributions
  # keep, or one the environment names for curl (a company's CA; wget does not read it).
  nd_env=
  if [ -z "$wanted" ] && command -v curl >/dev/null 2>&1; then nd_env="${CURL_CA_BUNDLE:-} ${SSL_CERT_FILE:-}"; fi
  case $1 in
    https://*)
      # shellcheck disable=SC2086 # two paths, or none
      for ca in $nd_env /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem ''; do
        [ -z "$ca" ] || [ ! -s "$ca" ] || break
      done
      [ -n "$ca" ] || wanted="$wanted ca-certificates" ;;
  esac
  # shellcheck disable=SC2086 # a list of package names
  [ -z "$wanted" ] || install_packages $wanted
}
# Where a missing path is explained: at build time, only /workspaces/ is waited for.
not_found_hint() {
  if [ "$deferred" = true ]; then
    echo 'check the path: the workspace is mounted now, and it holds no such file'
  else
    echo 'check the path. A Feature runs while the image is built, before the workspace is mounted: a path under /workspaces/ is installed later, by the Feature'"'"'s onCreateCommand, from the mounted workspace; any other path must be in the image (or use an https:// URL)'
  fi
}
# refuse_missing_artifact LOCATION: a path (or file URL) with nothing there fails here, naming the
# artifact: otherwise what is read of it first would be named (its checksum file), or its version
# asked for. The library's refuseMissingLocal (which asks after a checksum file is found missing:
# it has a cache, where a build may be that a checksum from elsewhere names).
refuse_missing_artifact() {
  case $1 in http://* | https://*) return 0 ;; esac
  src=$(path_of "$1")
  [ -e "$src" ] || fail CPY_INSTALL_NOT_FOUND "the artifact $src does not exist" "$(not_found_hint)"
}
# refuse_directory_artifact LOCATION: a path (or file URL) that is a directory (dist/artifacts) is
# said so, before its name is read for a version or its checksum looked for beside it.
refuse_directory_artifact() {
  case $1 in http://* | https://*) return 0 ;; esac
  rd_src=$(path_of "$1")
  [ ! -d "$rd_src" ] || fail CPY_INSTALL_NOT_FOUND "the artifact $rd_src is a directory, not an artifact file" 'give the .tgz in it (cpython-<version>-<os><osversion>-build<N>.tgz), or a version to install from the index: nothing was installed'
}
# fetch URL DEST WHAT [optional]: 0 fetched; with "optional", 1 when it cannot be had, with
# fetch_failure set to not-found (HTTP 404/410, no such file) or unavailable, and fetch_detail.
fetch_failure=
fetch_detail=
# What to do about an HTTP 401 or 403 (the library's ACCESS_DENIED_HINT).
access_denied_hint='check the URL and who may read it: a private repository'"'"'s assets need a token, which cpy and the Feature do not send (publish them where they can be read, or copy them into the image), a signed URL may have expired, and some storage answers 403 for a file that is not there: nothing was installed'
fetch() {
  case $1 in
    http://* | https://*)
      need_downloader "$1"
      if command -v curl >/dev/null 2>&1; then
        curl_rc=0
        status=$(curl -sSL --retry 3 --retry-delay 1 --connect-timeout 30 -o "$2" -w '%{http_code}' "$1" 2>"$work/curl.err") || { curl_rc=$?; status=000; }
        # Its copy could not be written (exit 23) on a full scratch disk: that, not the network
        # (its words were lost with it: curl.err is on that disk too).
        [ "$curl_rc" != 23 ] || scratch_full "$2"
        case $status in
          200) return 0 ;;
          404 | 410)
            fetch_failure=not-found fetch_detail="HTTP $status"
            [ "${4:-}" = optional ] && return 1
            fail CPY_INSTALL_NOT_FOUND "cannot get the $3 $(display_url "$1"): HTTP $status" "$(url_not_found_hint "$3")" ;;
          *)
            # (curl says it once per try: the last.)
            fetch_failure=unavailable fetch_detail=$( [ "$status" = 000 ] && grep -v '^ *$' "$work/curl.err" | tail -n 1 | head -c 300 || echo "HTTP $status")
            [ "${4:-}" = optional ] && return 1
            case $status in
              401 | 403) fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1"): HTTP $status, access denied" "$access_denied_hint" ;;
            esac
            fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1"): $fetch_detail" 'check the network (proxy settings) and run again: nothing was installed' ;;
        esac
      fi
      # -T 30: a network that drops packets is given up on as curl's --connect-timeout does (wget waits 900 s a try).
      wget_rc=0
      wget -nv -T 30 --tries=3 -O "$2" "$1" 2>"$work/curl.err" || wget_rc=$?
      [ "$wget_rc" != 0 ] || return 0
      # (3: wget could not write its file.)
      [ "$wget_rc" != 3 ] || scratch_full "$2"
      if grep -Eq '(ERROR|HTTP/[0-9.]+) (404|410)' "$work/curl.err"; then
        fetch_failure=not-found fetch_detail='HTTP 404'
      elif wd_status=$(grep -Eo '(ERROR|HTTP/[0-9.]+) 40[13]' "$work/curl.err" | head -n 1 | grep -Eo '40[13]$'); then
        fetch_failure=unavailable fetch_detail="HTTP $wd_status"
        [ "${4:-}" = optional ] && return 1
        fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1"): HTTP $wd_status, access denied" "$access_denied_hint"
      else
        # What wget said (its last line: "Connection refused", "unable to resolve host address").
        fetch_failure=unavailable fetch_detail="wget failed: $(grep -v '^ *$' "$work/curl.err" | tail -n 1 | head -c 300)"
      fi
      [ "${4:-}" = optional ] && return 1
      [ "$fetch_failure" = not-found ] && fail CPY_INSTALL_NOT_FOUND "cannot get the $3 $(display_url "$1"): $fetch_detail" "$(url_not_found_hint "$3")"
      fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $(display_url "$1") ($fetch_detail)" 'check the URL and the network, then run again: nothing was installed' ;;
    *)
      src=$(path_of "$1")
      # (A full /tmp was cp's own words and exit 1: no code.)
      if [ -f "$src" ]; then
        cp_said=$(LC_ALL=C cp "$src" "$2" 2>&1) && return 0
        case $cp_said in *'for reading'* | *'error reading'*) fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the $3 $src: ${cp_said#cp: }" 'make the file readable by this user, or give another path' ;; esac
        refused_write "$2" "$cp_said"
      fi
      fetch_failure=not-found fetch_detail='no such file'
      [ "${4:-}" = optional ] && return 1
      fail CPY_INSTALL_NOT_FOUND "cannot get the $3 $src: no such file" "$(not_found_hint)" ;;
  esac
}

# scratch_full FILE: fails when the disk FILE is written to (the scratch directory's, /tmp) has no
# room left; returns otherwise.
scratch_full() {
  ! df -P "$work" 2>/dev/null | awk 'NR == 2 { full = ($4 == 0) } END { exit !full }' || refused_write "$1" 'No space left on device'
}

# url_not_found_hint WHAT: what to do about an http(s) location that is not there. An artifact
# the index chose is the index's fault (the library's listedButGoneHint).
url_not_found_hint() {
  if [ "$1" = artifact ] && [ "$resolved" = true ] && [ -n "${index_source:-}" ]; then
    echo "the index $index_source lists it, but it is not there (its release was deleted, or the index is stale): tell its publisher, or ask for another version (cpy list --available)"
  else
    echo 'check the URL (and the release it belongs to)'
  fi
}
# http_missing URL: prints HTTP 404 (or 410) when a HEAD request (after redirects) finds nothing
# there; fails when something is there or that cannot be told (the library's httpMissing).
http_missing() {
  if command -v curl >/dev/null 2>&1; then
    hm_code=$(curl -sSIL --connect-timeout 30 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) || return 1
  else
    hm_code=$(wget --spider -S -T 30 --tries=3 "$1" 2>&1 | sed -nE 's/^ *HTTP\/[0-9.]+ ([0-9]+).*/\1/p' | tail -n 1)
  fi
  case $hm_code in 404 | 410) echo "HTTP $hm_code" ;; *) return 1 ;; esac
}
# checksum_unavailable LOCATION: fails for a checksum file fetch could not get (fetch_failure). One
# that is not there is said as the library says it: the artifact is installed only against its
# sha256, and where that can come from. When the artifact itself is not there either (a URL typed
# wrong), that is what is said (the library's refuseMissingArtifact).
checksum_unavailable() {
  if [ "$fetch_failure" = not-found ] && [ -z "$CHECKSUMURL" ]; then
    case $ARTIFACTURL in
      http://* | https://*)
        ! why=$(http_missing "$ARTIFACTURL") ||
          fail CPY_INSTALL_NOT_FOUND "cannot get the artifact $(display_url "$ARTIFACTURL"): $why" 'check the URL or path (and the release it belongs to): nothing was installed' ;;
    esac
  fi
  case $1 in http://* | https://*) from=$(display_url "$1") ;; *) from=$(path_of "$1") ;; esac
  # Refused (401, 403): a private asset, an expired signed URL, not the network.
  case $fetch_detail in 'HTTP 401' | 'HTTP 403') fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the checksum file $from: $fetch_detail, access denied" "$access_denied_hint" ;; esac
  [ "$fetch_failure" != not-found ] || fail CPY_INSTALL_NOT_FOUND "cannot get the checksum file $from: $fetch_detail" 'an artifact is installed only against its sha256: put the .sha256 published with it beside it (or point checksumUrl at it), or set sha256 from a source you trust'
  fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the checksum file $from: $fetch_detail" 'check the network (proxy settings) and run again: nothing was installed'
}

# fetch_to_read LOCATION DEST WHAT [optional]: fetch, but a local file is read where it is (no
# copy): $fetched names the file to read.
fetched=
fetch_to_read() {
  case $1 in
    http://* | https://*) ;;
    *)
      case $1 in file://*) fetched=$(path_of "$1") ;; *) fetched=$1 ;; esac
      [ ! -f "$fetched" ] || return 0
      ;;
  esac
  fetched=$2
  fetch "$@"
}

# --- signatures: pinned signers, their keys, gpgv (the library's @cpy/signing verifyPinned) ------
# signers: the pinned fingerprints (upper case, space-separated; empty: nothing is checked).
signers=
# shellcheck disable=SC2016 # the backquotes are text, as the library's hint has them
signer_hint='pin the signer with the 40 hex digits `cpy keys export` prints (a short key ID is not enough)'
check_signers() {
  if ! matches "$SIGNERFINGERPRINTS" "$SIGNERS_RE"; then
    # From CPY_SIGNER_FINGERPRINTS (the option empty): the value that is no fingerprint is named,
    # as the library names it (it was said to be the signerFingerprints option, which was not set).
    # Found by awk, not split by the shell: a * in it would be a glob.
    if [ "$signers_from" = environment ]; then
      cs_bad=$(printf '%s\n' "$SIGNERFINGERPRINTS" | awk -F, '{ for (i = 1; i <= NF; i++) if ($i != "" && (length($i) != 40 || $i ~ /[^0-9A-Fa-f]/)) { print $i; exit } }')
      fail CPY_SIGNER_INVALID "'$cs_bad' is not a key fingerprint" "$signer_hint"
    fi
    bad_option signerFingerprints 'must be 40-hex key fingerprints separated by commas, without spaces'
  fi
  signers=
  for raw in $(printf '%s' "$SIGNERFINGERPRINTS" | tr ',' ' '); do
    fpr=$(printf '%s' "$raw" | tr 'a-f' 'A-F')
    matches "$fpr" "$FINGERPRINT_RE" || fail CPY_SIGNER_INVALID "'$raw' is not a key fingerprint" "$signer_hint"
    case " $signers " in *" $fpr "*) ;; *) signers=${signers:+$signers }$fpr ;; esac
  done
  # Only commas pinned nobody, and nothing was checked.
  [ -n "$signers" ] || fail CPY_SIGNER_INVALID "the pinned signers '$SIGNERFINGERPRINTS' name no key fingerprint" 'pin the signers with the 40 hex digits that cpy keys export prints, separated by commas; leave the setting empty to check no signature'
}
# sibling LOCATION NAME: NAME in LOCATION's directory (its last path segment replaced).
sibling() { printf '%s' "$1" | sed -E "s@^([^?#]*/)[^/?#]*@\\1$2@"; }
keys_loaded=false
# load_trusted_keys: $work/keys/NNNN.gpg, a keyring for each key block of the keys file
# (trustedKeysUrl, else cpy-keys.asc beside the index), once. gpgv reads binary keys and there is no
# gpg to dearmor them: each armored public key block is decoded with base64 (armor headers, the
# blank line and the =CRC line skipped). One keyring each: gpgv reads only the first block of a key
# in a keyring, so a later copy of it (renewed, or revoked) would go unseen.
load_trusted_keys() {
  [ "$keys_loaded" = false ] || return 0
  keys_url=$TRUSTEDKEYSURL
  [ -n "$keys_url" ] || [ -z "$INDEXURL" ] || keys_url=$(sibling "$INDEXURL" cpy-keys.asc)
  [ -n "$keys_url" ] || fail CPY_INSTALL_NO_TRUSTED_KEYS "signers are pinned ($signers), but where are their public keys?" 'set trustedKeysUrl to the keys file (cpy keys export writes it), or install through the index (cpy-keys.asc is read beside it)'
  keys_source=$(display_url "$keys_url")
  if ! fetch "$keys_url" "$work/keys.asc" 'trusted keys' optional; then
    [ "$fetch_failure" = not-found ] && fail CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE "the trusted keys $keys_source do not exist" 'cpy publish --signing-key keeps cpy-keys.asc beside the index; or set trustedKeysUrl to the keys file'
    case $fetch_detail in 'HTTP 401' | 'HTTP 403') fail CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE "cannot get the trusted keys $keys_source: $fetch_detail, access denied" "$access_denied_hint" ;; esac
    fail CPY_INSTALL_TRUSTED_KEYS_UNAVAILABLE "cannot get the trusted keys $keys_source: $fetch_detail" 'check the network (proxy settings) and run again: nothing was installed'
  fi
  ! grep -q '^-----BEGIN PGP PRIVATE KEY BLOCK-----' "$work/keys.asc" ||
    fail CPY_KEYS_INVALID "$keys_source holds a private key" 'trusted keys are public keys only: make the file with cpy keys export (and replace that private key, it has been exposed)'
  mkdir -p "$work/keys"
  awk -v out="$work/keys/" '
    { sub(/\r$/, "") }
    /^-----BEGIN PGP PUBLIC KEY BLOCK-----$/ { n++; f = out sprintf("%04d", n) ".b64"; printf "" >f; part = "headers"; next }
    /^-----END PGP PUBLIC KEY BLOCK-----$/ { close(f); part = ""; next }
    part == "headers" { if ($0 == "") part = "body"; else if ($0 !~ /^[A-Za-z0-9-]+: /) { part = "body"; print >f } next }
    part == "body" { if (substr($0, 1, 1) == "=") part = "crc"; else print >f }
  ' "$work/keys.asc"
  for block in "$work"/keys/*.b64; do
    [ -f "$block" ] || fail CPY_KEYS_INVALID "$keys_source holds no OpenPGP public key" 'use the file cpy keys export writes (ASCII-armored public keys)'
    base64 -d "$block" >"${block%.b64}.gpg" 2>/dev/null ||
      fail CPY_KEYS_INVALID "$keys_source is not a readable OpenPGP public key file: a key block is not base64" 'use the file cpy keys export writes (ASCII-armored public keys)'
  done
  mkdir -m 700 "$work/gnupg"
  keys_loaded=true
}
# fetch_signature SIGNATURE-URL LABEL: $work/signature.asc from SIGNATURE-URL; 1 with sig_code,
# sig_message and sig_hint when there is none (a network failure fails here and now).
# sig_ready: the URL fetched ahead (before an artifact's download), which the next
# check_signature of that URL reads instead of fetching it again.
sig_ready=
fetch_signature() {
  sig_source=$(display_url "$1")
  if ! fetch "$1" "$work/signature.asc" signature optional; then
    # Refused (401, 403): a private asset, an expired signed URL, not the network.
    case $fetch_detail in 'HTTP 401' | 'HTTP 403') fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the signature $sig_source: $fetch_detail, access denied" "$access_denied_hint" ;; esac
    [ "$fetch_failure" = not-found ] || fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the signature $sig_source: $fetch_detail" 'check the network (proxy settings) and run again: nothing was installed'
    sig_code=CPY_SIGNATURE_MISSING sig_message="$2 has no signature ($sig_source)"
    sig_hint='a signer is pinned, so unsigned files are refused: the publisher must sign it (cpy publish --signing-key, or cpy artifact sign); nothing was installed'
    return 1
  fi
}
# check_signature FILE SIGNATURE-URL LABEL: 0 when gpgv finds a good signature over FILE by a key
# whose primary fingerprint is pinned, made while that key was valid (signed_by, signed_at set); else
# 1 with sig_code, sig_message and sig_hint (the keys and the network fail here and now).
signed_by=
check_signature() {
  load_trusted_keys
  if [ "$sig_ready" = "$2" ]; then sig_ready=; else fetch_signature "$2" "$3" || return 1; fi
  # gpgv with each key block's keyring in turn: a revocation in any copy of a key refuses it; else a
  # copy under which it is good (a renewed one after a stale one) accepts it; else the first verdict
  # that is not "unknown" (this block does not hold the signer's key), else the first one. The
  # library's checkDetached weighs copies so.
  verdict=
  for keyring in "$work"/keys/*.gpg; do
    v=$(gpgv_verdict "$1" "$keyring")
    case $v in
      revoked*) verdict=$v; break ;;
      good*) [ "${verdict%% *}" = good ] || verdict=$v ;;
      unknown*) [ -n "$verdict" ] || verdict=$v ;;
      *) case ${verdict%% *} in '' | unknown) verdict=$v ;; esac ;;
    esac
  done
  # shellcheck disable=SC2086 # the verdict's words (hex, digits)
  set -- "$1" "$2" "$3" $verdict
  sig_hint='the file is not the one the publisher signed (altered or damaged): do not use it; nothing was installed'
  case $4 in
    good)
      signed_by=$5 signed_at=$(day_of "$6")
      [ -z "${7:-}" ] || say "warning: the signing key $5 expired on $(day_of "$7"); $3 was signed while it was valid ($signed_at)"
      return 0 ;;
    mismatch) sig_code=CPY_SIGNATURE_INVALID sig_message="the signature by $5 does not match $3" ;;
    future)
      sig_code=CPY_SIGNATURE_INVALID sig_message="the signature of $3 claims to be made in the future ($(day_of "$6" T%H:%M:%S.000Z))"
      sig_hint="check this machine's clock; if it is right, the signature is not trustworthy" ;;
    unreadable)
      sig_code=CPY_SIGNATURE_INVALID sig_message="the signature of $3 ($sig_source) cannot be read: $(grep -v -e 'using ' -e radix64 "$work/gpgv.err" | head -n 1 | sed 's/^gpgv: //')"
      sig_hint='it is damaged or not a detached OpenPGP signature: do not use the file; ask the publisher to sign it again (cpy artifact sign)' ;;
    unknown | foreign)
      sig_code=CPY_SIGNATURE_UNTRUSTED sig_message="$3 is signed by $5, which is not a pinned signer ($signers)"
      [ "$4" = foreign ] || sig_message="$3 is signed by key $5, whose public key is not in $keys_source; only the keys of the pinned signers ($signers) are trusted"
      sig_hint='it was not signed by the publisher you pinned, or the keys file is not theirs: do not use it. If the publisher rotated keys, pin the new fingerprint after checking it with them' ;;
    revoked)
      # (gpgv says neither when nor why: any revocation counts, as the library counts it.)
      sig_code=CPY_SIGNATURE_KEY_NOT_VALID sig_message="$3 is signed by $5, whose key has been revoked"
      sig_hint='a revoked key vouches for nothing, whenever it signed: do not use the file; the publisher must sign it again with a current key' ;;
    expired)
      sig_code=CPY_SIGNATURE_KEY_NOT_VALID sig_message="$3 is signed by $5, but that key was not valid when the signature was made ($(day_of "$6" T%H:%M:%S.000Z)): it expired on $(day_of "$7")"
      sig_hint='a signature made after the key expired or was revoked proves nothing: do not use the file; the publisher must sign with a current key' ;;
  esac
  return 1
}
# gpgv_verdict FILE KEYRING: gpgv's word on $work/signature.asc over FILE with KEYRING alone.
gpgv_verdict() {
  rc=0
  LC_ALL=C gpgv --homedir "$work/gnupg" --status-fd 1 --keyring "$2" "$work/signature.asc" "$1" >"$work/gpgv.status" 2>"$work/gpgv.err" </dev/null || rc=$?
  # One verdict from gpgv's status lines: "good FPR SIGNED-AT [EXPIRED-AT]", or "why DETAIL...".
  # Only a pinned primary fingerprint counts (VALIDSIG's last field; KEY_CONSIDERED names the key
  # behind a BADSIG), so a key in the file that is not pinned is refused as the library refuses it.
  # KEYEXPIRED counts only with EXPKEYSIG (the signing key has expired), the earliest one then.
  # Each signature (NEWSIG) is judged on its own: a file signed by a pinned key and another
  # (gpg -u OLD -u NEW, a rotation) is good by the pinned one's, as the library reads it; with
  # none good, the first one's verdict is said. A signature more than five minutes ahead of this
  # clock is from the future (gpgv takes it), as the library says it.
  LC_ALL=C awk -v pins=" $signers " -v rc="$rc" -v now="$(date +%s)" '
    function reset() { considered = bad = foreign = unknown = expkey = expired = revoked = n = fpr = at = "" }
    function judge(  v) {
      if (!expkey) expired = ""
      if (unknown != "") v = "unknown " unknown
      else if (foreign != "") v = "foreign " foreign
      else if (bad != "") v = "mismatch " bad
      else if (n == 0) v = "unreadable"
      else if (revoked) v = "revoked " fpr " " at
      else if (expired != "" && at + 0 >= expired + 0) v = "expired " fpr " " at " " expired
      else if (at + 0 > now + 300) v = "future " fpr " " at
      else if (rc != 0 && groups == 1) v = "unreadable"
      else v = "good " fpr " " at " " expired
      if (v ~ /^good / && good == "") good = v
      if (first == "") first = v
    }
    BEGIN { reset() }
    $1 != "[GNUPG:]" { next }
    $2 == "NEWSIG" { if (groups++ > 0) judge(); reset(); next }
    $2 == "KEY_CONSIDERED" { considered = $3 }
    $2 == "BADSIG" { bad = considered != "" ? considered : $3; if (index(pins, " " considered " ") == 0) foreign = considered }
    $2 == "ERRSIG" || $2 == "NO_PUBKEY" { unknown = $3 }
    $2 == "EXPKEYSIG" { expkey = 1 }
    $2 == "KEYEXPIRED" && (expired == "" || $3 + 0 < expired + 0) { expired = $3 }
    $2 == "KEYREVOKED" || $2 == "REVKEYSIG" { revoked = 1 }
    $2 == "VALIDSIG" { n++; fpr = $NF; at = $5; if (index(pins, " " fpr " ") == 0) foreign = fpr }
    END {
      if (groups == 0) groups = 1
      judge()
      print (good != "" ? good : first)
    }' "$work/gpgv.status"
}
# day_of EPOCH [TIME-FORMAT]: its UTC date (2025-06-11), and time when asked.
day_of() { date -u -d "@$1" "+%Y-%m-%d${2:-}" 2>/dev/null || printf '%s' "$1"; }

# --- the host ---------------------------------------------------------------------------------
host_libc=unknown
host_glibc=
host_detected=false
distro_known=false
distro_id=
distro_version=
detect_host() {
  [ "$host_detected" = false ] || return 0
  host_detected=true
  # One uname for both (a name with a space would shift them; none has one).
  host_kernel=$(uname -s -m)
  host_arch=${host_kernel##* } host_kernel=${host_kernel% *}
  # As artifacts name them (the library's hostArch): Debian's armhf and i386.
  case $host_arch in armv7l | armv8l) host_arch=armhf ;; i[3-6]86) host_arch=i386 ;; esac
  case $host_kernel in Linux) host_os=linux ;; *) host_os=$(printf '%s' "$host_kernel" | tr '[:upper:]' '[:lower:]') ;; esac
  if v=$(getconf GNU_LIBC_VERSION 2>/dev/null); then
    host_libc=glibc
    host_glibc=${v#glibc }
  elif ls /lib/ld-musl-* >/dev/null 2>&1; then
    host_libc=musl
  fi
  # The distribution as the index names builds: os-release ID and VERSION_ID.
  for f in /etc/os-release /usr/lib/os-release; do
    [ -f "$f" ] || continue
    distro_known=true
    # ID (lower case), VERSION_ID and ID capitalised, each on a line (a value may be empty).
    os_release "$f" >"$work/os-release"
    { IFS= read -r distro_id && IFS= read -r distro_version && IFS= read -r host_label; } <"$work/os-release" || true
    break
  done
  if [ "$distro_known" = true ]; then
    # `Debian 12`, as the library's messages name it.
    host_label=$host_label${distro_version:+ $distro_version}
    host_summary=$distro_id
    [ -z "$distro_version" ] || host_summary=${host_summary:+$host_summary }$distro_version
    [ -z "$host_summary" ] || host_summary="$host_summary, "
  else
    host_label='this system'
    host_summary=
  fi
  host_summary="$host_summary$host_arch, $( [ -n "$host_glibc" ] && echo "glibc $host_glibc" || echo "$host_libc")"
}
# os_release FILE: its ID in lower case, its VERSION_ID, and the ID with a capital, one a line:
# each value without the double quotes around it (a value with other quotes is not read).
os_release() {
  awk 'function field(k) { return (k in v) ? v[k] : "" }
    { i = index($0, "="); if (i < 2) next; k = substr($0, 1, i - 1); if (k in v) next; x = substr($0, i + 1)
      if (x ~ /^"[^"]*"$/) x = substr(x, 2, length(x) - 2); else if (x ~ /"/) next; v[k] = x }
    END { id = tolower(field("ID")); print id; print field("VERSION_ID"); print toupper(substr(id, 1, 1)) substr(id, 2) }' "$1"
}
# version_lt A B: A < B for dotted numbers (a missing part is 0). Plain ones (2.36) are compared
# by the shell, part by part; anything else by awk.
version_lt() {
  case $1 in '' | *[!0-9.]* | .* | *. | *..*) vl_plain=false ;; *) vl_plain=true ;; esac
  case $2 in '' | *[!0-9.]* | .* | *. | *..*) vl_plain=false ;; esac
  case $vl_plain in
    false) ;;
    *)
      vl_a=$1 vl_b=$2 vl_long=false
      while [ -n "$vl_a$vl_b" ]; do
        vl_x=${vl_a%%.*} vl_y=${vl_b%%.*}
        case $vl_a in *.*) vl_a=${vl_a#*.} ;; *) vl_a= ;; esac
        case $vl_b in *.*) vl_b=${vl_b#*.} ;; *) vl_b= ;; esac
        # Leading zeros off (a shell reads 08 as octal), and no number too long for it.
        vl_x=${vl_x#"${vl_x%%[!0]*}"} vl_y=${vl_y#"${vl_y%%[!0]*}"}
        if [ ${#vl_x} -gt 9 ] || [ ${#vl_y} -gt 9 ]; then
          vl_long=true
          break
        fi
        [ "${vl_x:-0}" -eq "${vl_y:-0}" ] || { [ "${vl_x:-0}" -lt "${vl_y:-0}" ]; return; }
      done
      [ "$vl_long" = true ] || return 1
      ;;
  esac
  awk -v a="$1" -v b="$2" 'BEGIN { na = split(a, x, "."); nb = split(b, y, "."); n = na > nb ? na : nb; for (i = 1; i <= n; i++) { d = (x[i] + 0) - (y[i] + 0); if (d != 0) exit(d < 0 ? 0 : 1) } exit 1 }'
}
# check_compatibility FLAT: also leaves the metadata's version, build, os, osVersion, arch,
# libc and glibcFloor in j1-j7.
check_compatibility() { # FLAT
  detect_host
  jvals "$1" version build platform/os platform/osVersion platform/arch platform/libc platform/glibcFloor
  what="CPython $j1 build $j2 ($j3 $j4, $j5)"
  [ "$host_kernel" = Linux ] || fail CPY_INSTALL_UNSUPPORTED_OS "$what is a Linux build; this host runs $host_kernel" 'install it on Linux (a container, a VM or a CI runner)'
  a=$j5
  [ "$a" = "$host_arch" ] || fail CPY_INSTALL_WRONG_ARCH "$what is built for $a; this host is $host_arch" "use an artifact built for $host_arch"
  l=$j6
  [ "$l" = "$host_libc" ] || fail CPY_INSTALL_WRONG_LIBC "$what needs $l; this host has $host_libc" "use an artifact built on a $host_libc system"
  floor=$j7
  if [ -n "$floor" ] && [ "$floor" != null ] && [ -n "$host_glibc" ] && version_lt "$host_glibc" "$floor"; then
    fail CPY_INSTALL_GLIBC_TOO_OLD "$what needs glibc $floor; this host has glibc $host_glibc" "use an artifact built on a system with glibc $host_glibc or older (build it in a container of your oldest distro: cpy build --builder container --image ...)"
  fi
}
loadable_libraries() {
  for l in /sbin/ldconfig /usr/sbin/ldconfig; do
    [ -x "$l" ] || continue
    # What the first ldconfig that lists any says, else the names in the directories (without
    # /etc/ld.so.cache, ldconfig -p fails and lists none): the library's loadableLibraries. The
    # awk's status tells (one process fewer than keeping ldconfig's). Each name once (a set).
    "$l" -p 2>/dev/null | awk '/ => / && !($1 in seen) { seen[$1] = 1; n++; print $1 } END { exit !n }' && return 0
  done
  case $host_arch in armhf) triplet=arm-linux-gnueabihf ;; ppc64le) triplet=powerpc64le-linux-gnu ;; *) triplet=$host_arch-linux-gnu ;; esac
  for d in /lib /usr/lib /lib64 /usr/lib64 /usr/local/lib "/lib/$triplet" "/usr/lib/$triplet"; do
    [ ! -d "$d" ] || ls "$d"
  done | awk '!($0 in seen) { seen[$0] = 1; print }'
}
# What the dynamic loader finds now, in $work/have (again after packages were installed).
refresh_loadable() { loadable_libraries >"$work/have"; }

# needs_lines FLAT PREFIX: the system libraries listed at PREFIX/<n> (an index entry's needs, or
# an artifact's runtime/needs), one "soname<TAB>group<TAB>packages<TAB>modules" line each
# (packages space-separated, "-" for none). An artifact's groups come from the files that use
# each library, by @cpy/artifact's rule (needGroup): critical unless only curses, dbm, nis or
# crypt (optional) or only tkinter (tk) need it. Status 3 (every line written) when a soname has
# a space or a package is not a package name: package names are given to apt unquoted (letters,
# digits, + - . _ only).
needs_lines() {
  awk -F '\t' -v p="$2/" -v pkg="$PACKAGE_NAME" '
    function module(path) { return match(path, /lib-dynload\/[^.\/]+\./) ? substr(path, RSTART + 12, RLENGTH - 13) : path }
    index($1, p) == 1 {
      split(substr($1, length(p) + 1), a, "/")
      if (a[1] !~ /^[0-9]+$/) next
      j = a[1] + 0; if (j + 1 > n) n = j + 1
      v = substr($0, length($1) + 2)
      if (a[2] == "soname") so[j] = v
      else if (a[2] == "group") g[j] = v
      else if (a[2] == "packages" && a[3] != "") pk[j] = pk[j] (pk[j] == "" ? "" : " ") v
      else if (a[2] == "modules" && a[3] != "") md[j] = md[j] (md[j] == "" ? "" : ", ") v
      else if (a[2] == "usedBy" && a[3] != "") {
        md[j] = md[j] (md[j] == "" ? "" : ", ") module(v); used[j] = 1
        if (v ~ /^lib\/python[0-9]+\.[0-9]+\/lib-dynload\/_tkinter\.[^\/]+\.so$/) tk[j] = 1
        else if (v ~ /^lib\/python[0-9]+\.[0-9]+\/lib-dynload\/(_curses|_curses_panel|_dbm|_gdbm|nis|_crypt)\.[^\/]+\.so$/) opt[j] = 1
        else crit[j] = 1
      }
    }
    END {
      for (j = 0; j < n; j++) {
        if (!(j in g)) g[j] = (!used[j] || crit[j]) ? "critical" : opt[j] ? "optional" : "tk"
        print so[j] "\t" g[j] "\t" (pk[j] == "" ? "-" : pk[j]) "\t" md[j]
        if (so[j] !~ /^[^ \t]+$/ || (pk[j] != "" && pk[j] !~ ("^" pkg "( " pkg ")*$"))) bad = 1
      }
      exit bad ? 3 : 0
    }' "$1"
}
# needs_of FLAT PREFIX FILE: needs_lines into FILE; 1 when a name in it is not a package name or a
# soname. Any other failure (no room to write FILE) ends the script, as set -e would.
needs_of() {
  no_status=0
  needs_lines "$1" "$2" >"$3" || no_status=$?
  [ "$no_status" -ne 3 ] || return 1
  [ "$no_status" -eq 0 ] || exit "$no_status"
}

# --- the package archive: can this system provide these packages? (apt-cache policy) ---------
archive_asked=false
archive_update_failed=
# archive_available PACKAGES...: "name<TAB>true|false" lines; 1 when the archive cannot be asked
# (archive_why says why). Without package lists they are fetched first, once, as root.
archive_available() {
  if [ ! -e /usr/bin/apt-cache ] && [ ! -e /bin/apt-cache ]; then archive_why='no apt-get'; return 1; fi
  archive_why=${archive_update_failed:-'no package lists, and not root to fetch them'}
  touch "$work/policy"
  unknown=
  for p in "$@"; do
    awk -F '\t' -v p="$p" '$1 == p { found = 1 } END { exit !found }' "$work/policy" || unknown="$unknown $p"
  done
  if [ -n "$unknown" ]; then
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 \( -name '*_Packages' -o -name '*_Packages.lz4' -o -name '*.gz' -o -name '*.xz' \) 2>/dev/null | head -n 1)" ]; then
      if [ "$archive_asked" = true ] || [ "$(id -u)" -ne 0 ]; then return 1; fi
      archive_asked=true
      if ! apt_update; then
        archive_update_failed="apt-get update failed: $(tail -n 1 "$work/apt.log")"
        archive_why=$archive_update_failed
        return 1
      fi
    fi
    # shellcheck disable=SC2086 # package names (checked: letters, digits, + - . _)
    apt-cache policy $unknown 2>/dev/null </dev/null |
      awk '/^[^ \t].*:$/ { name = substr($0, 1, length($0) - 1); sub(/:[a-z0-9]+$/, "", name) } /^[ \t]+Candidate:/ && name != "" { print name "\t" ($2 != "(none)" ? "true" : "false"); name = "" }' >"$work/policy.new" || true
    for p in $unknown; do
      awk -F '\t' -v p="$p" '$1 == p { print; found = 1; exit } END { if (!found) print p "\tfalse" }' "$work/policy.new" >>"$work/policy"
    done
  fi
  for p in "$@"; do awk -F '\t' -v p="$p" '$1 == p { print; exit }' "$work/policy"; done
}

# fit_of OS OSVERSION ARCH LIBC FLOOR NEEDS GROUPS: whether a build runs here, as @cpy/install's
# fitOf decides it, with the same words. Sets fit (yes, no, unknown: the archive could not be
# asked) and why. NEEDS is a needs_lines file; GROUPS the need groups that count.
fit_of() {
  fit=no
  label="the $1$2 build"
  if [ "$host_os" != linux ]; then why="$label is a Linux build; this host runs $host_os"; return 0; fi
  if [ "$3" != "$host_arch" ]; then why="$label is built for $3; this host is $host_arch"; return 0; fi
  if [ "$4" != "$host_libc" ]; then why="$label needs $4; this host has $host_libc"; return 0; fi
  if [ -n "$5" ] && [ -n "$host_glibc" ] && version_lt "$host_glibc" "$5"; then why="$label needs glibc $5; this host has glibc $host_glibc"; return 0; fi
  if [ "$distro_known" = true ] && [ "$1" = "$distro_id" ] && [ "$2" = "$distro_version" ]; then
    fit=yes why="built for $host_label, like this host"
    return 0
  fi
  [ -f "$work/have" ] || refresh_loadable
  awk -F '\t' -v groups=" $7 " 'FILENAME == ARGV[1] { have[$1] = 1; next } index(groups, " " $2 " ") && !($1 in have)' "$work/have" "$6" >"$work/lacking"
  if [ -n "$5" ]; then floor_text="its glibc floor $5 fits glibc $host_glibc"; else floor_text='it needs no particular glibc'; fi
  if [ ! -s "$work/lacking" ]; then
    fit=yes why="no $host_label build; $floor_text and this host has every library it needs"
    return 0
  fi
  wanted=$(awk -F '\t' '$3 != "-" { n = split($3, a, " "); for (i = 1; i <= n; i++) if (!(a[i] in s)) { s[a[i]] = 1; printf "%s%s", (c++ ? " " : ""), a[i] } }' "$work/lacking")
  unnamed=$(awk -F '\t' '$3 == "-" { printf "%s%s", (c++ ? ", " : ""), $1 }' "$work/lacking")
  if [ -n "$unnamed" ]; then why="$label needs $unnamed, which this host lacks"; return 0; fi
  # shellcheck disable=SC2086 # package names (checked)
  if ! archive_available $wanted >"$work/available"; then
    fit=unknown why="$label needs $(printf '%s' "$wanted" | sed 's/ /, /g'), and cpy cannot ask this system's package archive ($archive_why)"
    return 0
  fi
  # A library is provided when one of the packages that provided it on the builder is in this archive.
  missing=$(awk -F '\t' 'FILENAME == ARGV[1] { ok[$1] = ($2 == "true"); next } { n = split($3, a, " "); any = 0; for (i = 1; i <= n; i++) if (ok[a[i]]) any = 1; if (!any) for (i = 1; i <= n; i++) if (!(a[i] in s)) { s[a[i]] = 1; printf "%s%s", (c++ ? ", " : ""), a[i] } }' "$work/available" "$work/lacking")
  if [ -n "$missing" ]; then why="$label needs $missing, which $host_label does not provide"; return 0; fi
  fit=yes why="no $host_label build; $floor_text and its packages ($wanted) are in this system's archive"
}

# An artifact given by URL, with its metadata beside it: refused before the download when it
# cannot run here (architecture, C library, glibc with their own codes; then its critical
# libraries must be loadable or in this system's archive), as the library's refuseUnfit.
refuse_unfit() { # FLAT
  check_compatibility "$1"
  u_version=$j1 u_build=$j2 u_os=$j3 u_os_version=$j4 u_arch=$j5 u_libc=$j6 f=$j7
  needs_of "$1" runtime/needs "$work/side.needs" || return 0
  [ "$f" != null ] || f=
  fit_of "$u_os" "$u_os_version" "$u_arch" "$u_libc" "$f" "$work/side.needs" critical
  [ "$fit" != no ] || fail CPY_INSTALL_PACKAGES_UNAVAILABLE "CPython $u_version build $u_build cannot run here: $why" "nothing was downloaded; use a build made for this distribution (cpy build $u_version --builder container --image <this image>)"
}

# wanted_by [GROUP]: the packages of the missing libraries that are to be installed (tkinter's
# with installTk, the others with installSystemDeps), of one group or all.
wanted_by() { awk -F '\t' -v tk="$INSTALLTK" -v deps="$INSTALLSYSTEMDEPS" -v only="$1" '$3 != "-" && ($2 == "tk" ? tk : deps) == "true" && (only == "" || $2 == only) { n = split($3, a, " "); for (i = 1; i <= n; i++) if (!(a[i] in s)) { s[a[i]] = 1; printf "%s%s", (c++ ? " " : ""), a[i] } }' "$work/missing"; }
# refuse_missing_critical FLAT: fails naming the critical libraries $work/missing lists (and the
# packages that provide them), if it lists any.
refuse_missing_critical() {
  grep -q "^[^$TAB]*${TAB}critical$TAB" "$work/missing" || return 0
  names=$(awk -F '\t' '$2 == "critical" { printf "%s%s (for %s%s)", (c++ ? "; " : ""), $1, $4, ($3 == "-" ? "" : "; package " $3) }' "$work/missing")
  needed=$(awk -F '\t' '$2 == "critical" && $3 != "-" { n = split($3, a, " "); for (i = 1; i <= n; i++) if (!(a[i] in s)) { s[a[i]] = 1; printf "%s%s", (c++ ? " " : ""), a[i] } }' "$work/missing")
  if [ -n "$needed" ]; then
    fail CPY_INSTALL_MISSING_LIBRARIES "this host lacks libraries the artifact needs: $names" "install them (apt-get install $needed) or set installSystemDeps to true"
  fi
  fail CPY_INSTALL_MISSING_LIBRARIES "this host lacks libraries the artifact needs: $names" "install the packages that provide $(awk -F '\t' '$2 == "critical" && $3 == "-" { printf "%s%s", (c++ ? ", " : ""), $1 }' "$work/missing")"
}
# System libraries, by group, as the library: with installSystemDeps the critical ones (ssl,
# sqlite3, readline...) and the small optional ones (curses, gdbm...) are installed; tkinter's
# only with installTk (Tk pulls X11 into the image). A critical library still missing refuses
# the install; any other is a warning naming its package.
handle_system_libraries() { # FLAT
  needs_of "$1" runtime/needs "$work/needs" || fail CPY_INSTALL_NOT_AN_ARTIFACT "the metadata of $file_name names packages that are not package names" 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack'
  refresh_loadable
  awk -F '\t' 'FILENAME == ARGV[1] { have[$1] = 1; next } !($1 in have)' "$work/have" "$work/needs" >"$work/missing"
  [ -s "$work/missing" ] || return 0
  # Nothing is installed (Tk's packages with installTk) for an install that is refused anyway.
  [ "$INSTALLSYSTEMDEPS" = true ] || refuse_missing_critical "$1"
  packages=$(wanted_by '')
  if [ -n "$packages" ]; then
    # shellcheck disable=SC2086 # package names (checked)
    if ! try_install_packages $packages; then
      # One that this archive lacks must not stop the others: the critical ones alone, then a warning.
      critical_packages=$(wanted_by critical)
      if [ -z "$critical_packages" ] || [ "$critical_packages" = "$packages" ]; then
        if [ -n "$critical_packages" ]; then packages_failed "$packages"; fi
        tail -n 3 "$work/apt.log" >&2
      else
        # shellcheck disable=SC2086 # package names (checked)
        install_packages $critical_packages
      fi
      say "warning: $manager could not install all of $packages; the modules that need what is missing will not import"
    fi
    refresh_loadable
    awk -F '\t' 'FILENAME == ARGV[1] { have[$1] = 1; next } !($1 in have)' "$work/have" "$work/needs" >"$work/missing"
  fi
  if grep -q "^[^$TAB]*${TAB}critical$TAB" "$work/missing"; then
    if [ "$INSTALLSYSTEMDEPS" = true ] && [ -n "$packages" ]; then
      fail CPY_INSTALL_MISSING_LIBRARIES "still missing after installing $packages: $(awk -F '\t' '$2 == "critical" { printf "%s%s", (c++ ? ", " : ""), $1 }' "$work/missing")" "this host's packages differ from the builder's ($(jget "$1" platform/os) $(jget "$1" platform/osVersion)); use an artifact built for this distribution"
    fi
    refuse_missing_critical "$1"
  fi
  awk -F '\t' '{ print "warning: " $1 " is missing (package " ($3 == "-" ? "unknown" : $3) "): " $4 " will not import" ($2 == "tk" ? " (set installTk to true to install it)" : "") }' "$work/missing" |
    while IFS= read -r w; do say "$w"; done
}

# --- the archive ------------------------------------------------------------------------------
# metadata_of ARCHIVE: the first entry, cpy-artifact.json (GNU tar stops reading there).
metadata_of() {
  if gnu_tar; then untar "$1" -O --occurrence=1 cpy-artifact.json; else untar "$1" -O cpy-artifact.json; fi
}
# untar ARCHIVE TAR-ARGS...: tar on a gzip or zstd archive (by magic bytes).
untar() {
  archive=$1
  shift
  case $(od -An -tx1 -N4 "$archive" | tr -d ' \n') in
    1f8b*) LC_ALL=C tar -xz -f "$archive" "$@" ;;
    28b52ffd) zstd -dcq "$archive" | LC_ALL=C tar -x -f - "$@" ;;
    *) return 2 ;;
  esac
}
# need_zstd ARCHIVE: a zstd archive needs the zstd program, installed here when it is not (as a
# downloader is). Asked before the archive is read: installed from inside a reader, whose errors
# go to a file, a failure ended install.sh with exit 1 and not a word.
need_zstd() {
  case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
    28b52ffd) command -v zstd >/dev/null 2>&1 || install_packages zstd ;;
  esac
}
# listing ARCHIVE [-v]: the archive's entry names (or tar -tv lines).
listing() {
  case $(od -An -tx1 -N4 "$1" | tr -d ' \n') in
    1f8b*) tar -tz ${2:+"$2"} -f "$1" ;;
    28b52ffd) zstd -dcq "$1" | tar -t ${2:+"$2"} -f - ;;
  esac
}
# one_pass SOURCE [STAGE]: a gzip artifact (a file, or - for standard input) read once (issue 20's one pass). tee hands the same
# bytes to sha256sum and to one decompression. Given a STAGE, that goes to a tar -x into it,
# which names each entry as tar -t would (-v, $work/scan.names); the kinds of the entries are
# then judged on the tree (check_links: hard links, devices, fifos), which spares a second tar
# reading the whole stream (about 50 ms). Without a STAGE, tee hands it to the `tar -tv` listing
# ($work/scan.types) and to a tar -t listing the names. Each reader drains its pipe, so the hash
# ($work/scan.sha256) always sees every byte. POSIX sh has no tee >(...): the readers are behind
# FIFOs. Nothing in STAGE is looked at before the checksum matched, and then check_entries and
# check_links judge it as they judge an extraction: STAGE is mode 700 (mktemp -d) and GNU tar
# refuses names with .. and defers links that leave the tree. 0 (and scan_ok=true) only if
# every reader succeeded; with a STAGE the caller otherwise goes the two-read way
# (scan_archive, then untar) from a fresh copy.
one_pass() {
  scan_ok=false
  # What a pass before this one said is not this one's (pass_failed reads it).
  : >"$work/tar.err"
  if [ -e "$work/hash.fifo" ] || [ -e "$work/types.fifo" ] || [ -e "$work/scan.types" ]; then rm -f "$work/hash.fifo" "$work/types.fifo" "$work/scan.types"; fi
  # Both FIFOs before any reader starts: a reader left waiting for a writer would never end.
  mkfifo "$work/hash.fifo" 2>/dev/null || return 1
  [ -n "${2:-}" ] || mkfifo "$work/types.fifo" 2>/dev/null || return 1
  sha256sum <"$work/hash.fifo" >"$work/scan.sha256" &
  hashing=$!
  if [ -n "${2:-}" ]; then
    if [ "$1" = - ]; then tee "$work/hash.fifo"; else tee "$work/hash.fifo" <"$1"; fi | gunzip_drained |
      { LC_ALL=C tar -xv -f - -C "$2" --no-same-owner >"$work/scan.names" 2>"$work/tar.err"; echo $? >"$work/extract.rc"; cat >/dev/null; }
    echo 0 >"$work/types.rc"
    wait "$hashing"
  else
    { tar -tv -f - >"$work/scan.types" 2>/dev/null; echo $? >"$work/types.rc"; cat >/dev/null; } <"$work/types.fifo" &
    typing=$!
    tee "$work/hash.fifo" <"$1" | gunzip_drained | tee "$work/types.fifo" |
      { tar -t -f - >"$work/scan.names" 2>/dev/null; echo $? >"$work/extract.rc"; cat >/dev/null; }
    wait "$hashing" "$typing"
  fi
  rcs=
  for f in gzip types extract; do
    rc=
    { IFS= read -r rc <"$work/$f.rc"; } 2>/dev/null || true
    rcs=$rcs$rc
  done
  [ "$rcs" = 000 ] || return 1
  scan_ok=true
}
# gunzip_drained: gzip -dc of standard input, its status in $work/gzip.rc, the rest drained.
gunzip_drained() { gzip -dc 2>/dev/null; echo $? >"$work/gzip.rc"; cat >/dev/null; }
# tar_refusal ERRFILE: 0 when tar's errors (ERRFILE) say a file system refused a write, with the
# first such line in $refusal and the entry it names in $refused, relative to where tar unpacked
# ("tar: NAME: Cannot open: No space left on device").
tar_refusal() {
  refusal=$(grep -E -m1 "^tar: .*: Cannot [^:]*: ($WRITE_FAULTS)\$" "$1" 2>/dev/null) || return 1
  refused=${refusal#tar: }
  refused=${refused%: Cannot *}
}
# What tar, mkdir and mktemp say (LC_ALL=C) when a file system refuses a write: the library's
# ENOSPC, EDQUOT, EROFS, EACCES and EPERM.
WRITE_FAULTS='No space left on device|Disk quota exceeded|Read-only file system|Permission denied|Operation not permitted'
# refused_write PATH SAID: fails, naming PATH, with the error for what its file system said
# (SAID: tar's, mkdir's or mktemp's words): no space (for bytes or for files), a quota, a
# read-only file system, no permission. The library's fileSystemFault. Words it does not know are
# printed as they are.
refused_write() {
  # The scratch directory in /tmp (a download, a copy of a local artifact): its own remedy, not
  # another installPrefix.
  case $1 in
    "$work" | "$work"/*) full_hint=$scratch_full_hint ro_hint=$scratch_hint denied_hint=$scratch_hint ;;
    *) full_hint=$disk_full_hint ro_hint=$read_only_hint denied_hint=$not_writable_hint ;;
  esac
  case $2 in
    *'No space left on device'*) fail CPY_INSTALL_DISK_FULL "cannot write $1: no space left on its disk" "$full_hint" ;;
    *'Disk quota exceeded'*) fail CPY_INSTALL_DISK_FULL "cannot write $1: the disk quota is used up" "$full_hint" ;;
    *'Read-only file system'*) fail CPY_INSTALL_NOT_WRITABLE "cannot write $1: its file system is read-only" "$ro_hint" ;;
    *'Permission denied'* | *'Operation not permitted'*) fail CPY_INSTALL_NOT_WRITABLE "cannot write $1: permission denied" "$denied_hint" ;;
  esac
  printf '%s\n' "$2" >&2
  exit 1
}
disk_full_hint='free some space there (df -h; and df -i, which counts files: a CPython tree holds about 2,500), or choose an installPrefix on another disk, then build again'
read_only_hint='choose an installPrefix on a file system mounted read-write'
not_writable_hint='choose an installPrefix on a file system this build can write'
scratch_full_hint='free some space in /tmp, where the download (or a copy of a local artifact) goes first (df -h /tmp), then build again: nothing was installed'
scratch_hint='the install needs /tmp writable, for the download (or a copy of a local artifact): nothing was installed'
# python_refused SAID WHERE [record]: fails when a python3's own words (SAID: what it printed)
# say a file system refused a write: [Errno 28] (no space), 122 (a quota) or 30 (read-only), not
# its permission errors, which it meets reading too. It names the path the python3 gave (of
# `'a' -> 'b'`, b: the one written), else WHERE. With `record`, the tree is in place and only its
# record failed, and the hint says so. The library's pythonFileSystemFault and
# recordFileSystemFault. Returns when SAID names no such refusal.
python_refused() {
  py_said=$(printf '%s\n' "$1" | awk -v q="'" 'BEGIN { re = "\\[Errno [0-9]+\\] [^:" q "]*(: " q "[^" q "]+" q "( -> " q "[^" q "]+" q ")?)?" } match($0, re) { print substr($0, RSTART, RLENGTH); exit }')
  case $py_said in
    '[Errno 28]'*) said_code=CPY_INSTALL_DISK_FULL said_why='no space left on its disk' ;;
    '[Errno 122]'*) said_code=CPY_INSTALL_DISK_FULL said_why='the disk quota is used up' ;;
    '[Errno 30]'*) said_code=CPY_INSTALL_NOT_WRITABLE said_why='its file system is read-only' ;;
    *) return 0 ;;
  esac
  said_at=$2
  case $py_said in
    *"' -> '"*) said_at=${py_said##*"' -> '"} && said_at=${said_at%"'"} ;;
    *": '"*) said_at=${py_said#*": '"} && said_at=${said_at%"'"} ;;
  esac
  if [ "${3:-}" = record ]; then
    said_dir=$2
    [ "$said_at" = "$2" ] || { up "$said_at" && said_dir=$up; }
    if [ "$said_code" = CPY_INSTALL_DISK_FULL ]; then said_do="free some space for $said_dir (df -h; df -i)"; else said_do="make $said_dir writable"; fi
    fail "$said_code" "cannot write $said_at: $said_why" "the install is in place, not fully recorded: $said_do, then build again to finish recording it"
  fi
  if [ "$said_code" = CPY_INSTALL_DISK_FULL ]; then fail "$said_code" "cannot write $said_at: $said_why" "$disk_full_hint"; fi
  fail "$said_code" "cannot write $said_at: $said_why" "$read_only_hint"
}
# pass_failed DIR: after a one pass into DIR that failed. One stopped by the disk is not tried
# again (a second read would meet the same disk): the bytes it hashed are judged first, as the
# library reports a download's own failure first, then the disk is named.
pass_failed() {
  tar_refusal "$work/tar.err" || return 0
  verify_sum
  # A disk without room for the tree's bytes is said as the library says it, from the metadata
  # (the first entry, read before the rest): how much room there was, and how much it needs.
  if [ -f "$1/cpy-artifact.json" ] && json_flatten "$1/cpy-artifact.json" >"$work/pass.flat" 2>/dev/null; then
    bytes=$(jget "$work/pass.flat" contents/bytes)
    case $bytes in '' | *[!0-9]*) ;; *) ensure_space ;; esac
  fi
  refused_write "$1/$refused" "$refusal"
}
# verify_sum: the sha256 the read computed ($work/scan.sha256) is the expected one, or the install stops.
verify_sum() {
  got=
  { read -r got _ <"$work/scan.sha256"; } 2>/dev/null || true
  [ "$got" = "$expected" ] || fail CPY_INSTALL_CHECKSUM_MISMATCH "$file_name has sha256 $got, but $expected was expected" 'the download is corrupt or the checksum belongs to another file: nothing was installed; download again or fix checksumUrl/sha256'
}
# scan_archive ARCHIVE: its sha256 and, when it can be decompressed here, its listings, all from
# one read (one_pass without extraction). scan_ok=false (a zstd archive, a damaged one, an image
# without mkfifo, tee or gzip, or one where they fail) makes check_entries list the archive itself,
# and the hash is sha256sum's.
scan_archive() {
  if is_gzip "$1" && have_tools mkfifo tee gzip && one_pass "$1"; then return 0; fi
  scan_ok=false
  sha256sum "$1" >"$work/scan.sha256"
}
have_tools() { for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || return 1; done; }
is_gzip() { case $(od -An -tx1 -N2 "$1" 2>/dev/null) in *1f\ 8b*) true ;; *) false ;; esac; }
# Whether one_pass can read this artifact: gzip, GNU tar (its safe extraction is what lets STAGE
# be written before the checks), mkfifo and tee; and no signature of its own to check first.
one_pass_possible() {
  one_pass_tools && is_gzip "$1"
}
one_pass_tools() {
  [ -z "$signers" ] || [ "$resolved" = true ] || return 1
  have_tools mkfifo tee gzip || return 1
  gnu_tar
}
# gnu_tar: whether tar is GNU tar (asked once).
gnu_tar_is=
gnu_tar() {
  if [ -z "$gnu_tar_is" ]; then
    case $(tar --version 2>/dev/null) in *'GNU tar'*) gnu_tar_is=true ;; *) gnu_tar_is=false ;; esac
  fi
  [ "$gnu_tar_is" = true ]
}
# download_pass URL ARCHIVE STAGE: the one pass over an http(s) download as it arrives (curl):
# the bytes are hashed and unpacked into STAGE while they come, and kept in ARCHIVE. 0 (and
# scan_ok=true) only when curl got the whole body and one_pass succeeded. Anything else (curl or
# gzip failed, an HTTP error, not gzip) returns 1, and the caller fetches the artifact again the
# usual way, which retries and names the failure. No --retry here: curl cannot take back what it
# wrote to a pipe, and a retried body would follow the first part.
download_pass() {
  echo 1 >"$work/curl.rc"
  if { curl -fsSL --connect-timeout 30 "$1" 2>"$work/curl.err"; echo $? >"$work/curl.rc"; } | tee "$2" | one_pass - "$3" && [ "$(cat "$work/curl.rc")" = 0 ]; then
    scan_ok=true
    return 0
  fi
  scan_ok=false
  return 1
}
# parent_blocker DIR: what stands where DIR or a directory above it should be, in $blocked: the
# first of them that is there, when it is a file or a link to nothing; else nothing. The library's
# blockerOf.
parent_blocker() {
  blocked=
  pb_at=$1
  while [ ! -e "$pb_at" ] && [ ! -L "$pb_at" ]; do
    [ "$pb_at" != / ] || return 0
    up "$pb_at"
    pb_at=$up
  done
  if [ -L "$pb_at" ] && [ ! -e "$pb_at" ]; then blocked="$pb_at is a link to $(readlink "$pb_at"), which is not there"
  elif [ ! -d "$pb_at" ]; then blocked="$pb_at is a file"; fi
}
# new_stage: a staging directory (mode 700) beside the prefix, in $stage; $room is what its file
# system had free before it (df: KiB), for ensure_space.
new_stage() {
  if [ ! -d "$parent" ] && ! made=$(LC_ALL=C mkdir -p "$parent" 2>&1); then
    parent_blocker "$parent"
    [ -z "$blocked" ] || fail CPY_INSTALL_NOT_WRITABLE "cannot make $parent for the prefix $prefix: $blocked" 'choose another installPrefix, or make that directory yourself'
    refused_write "$parent" "$made"
  fi
  room=
  # The second line's fourth field (Available); the first is the header.
  if df -Pk "$parent" >"$work/df" 2>/dev/null; then { read -r _ && read -r _ _ _ room _; } <"$work/df" || room=; fi
  case $room in *[!0-9]*) room= ;; esac
  made=$(LC_ALL=C mktemp -d "$parent/.cpy-staging-${prefix##*/}-XXXXXXXX" 2>&1) || refused_write "$parent" "$made"
  stage=$made
}
# ensure_space: the library's ensureSpace. The tree's bytes (the metadata's contents.bytes) x 1.05
# + 16 MiB must fit in $room. A one pass checks it after unpacking (the bytes come with the tree),
# against the room there was before: it refuses where the library refuses before unpacking.
ensure_space() {
  need=$(((bytes * 105 + 99) / 100 + 16777216))
  [ -z "$room" ] || [ $((room * 1024)) -ge "$need" ] ||
    fail CPY_INSTALL_DISK_FULL "$parent has $(((room + 512) / 1024)) MiB free; the install needs $(((need + 524288) / 1048576)) MiB" 'free some space (or choose another installPrefix), then run again: nothing was changed'
}
# Entries outside the tree, links that leave it, devices: refused before and after extraction
# (after it only, for an artifact unpacked in the one pass: check_links).
# fail_damaged ERRORS: the archive matched its sha256, but tar (gzip, zstd) cannot read it (ERRORS,
# a file of what they said): it was published so, and a new download is the same bytes.
fail_damaged() {
  fd_said=$(head -c 300 "$1" | awk 'NF { printf "%s%s", (n++ ? "; " : ""), $0 }')
  fail CPY_ARTIFACT_CORRUPT "$file_name matches its sha256, but cannot be unpacked: ${fd_said:-tar failed}" 'it was packed or published damaged (its checksum was made of the damaged file), so a new download is the same: install another build, or pack and publish it again (cpy artifact validate checks one)'
}
# What to do about an entry no artifact has (the library's, for CPY_ARTIFACT_UNSAFE_ENTRY).
unsafe_hint='the artifact is damaged or malicious: do not install it; use an artifact published by your build pipeline'
# unsafe_kind NAME: fails for an entry that is a hard link, a device or a fifo, naming it.
unsafe_kind() {
  fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive entry '$1' is a hard link, a device or a fifo, which artifacts never contain; nothing from this archive is trusted" "$unsafe_hint"
}
check_entries() { # ARCHIVE ROOT BYTES (what the metadata says the tree holds)
  if [ "${scan_ok:-false}" != true ]; then
    { listing "$1" -v >"$work/scan.types" && listing "$1" >"$work/scan.names"; } 2>"$work/scan.err" || fail_damaged "$work/scan.err"
  fi
  # The first such entry's name: the fields after the time (tar -tv, GNU's and BusyBox's), less
  # a hard link's " link to ...".
  if [ -f "$work/scan.types" ] && ! awk 'substr($1, 1, 1) ~ /[hcbp]/ { name = $6; for (i = 7; i <= NF; i++) name = name " " $i; sub(/ link to .*$/, "", name); sub(/ -> .*$/, "", name); print name; bad = 1; exit } END { exit bad }' "$work/scan.types" >"$work/unsafe"; then
    unsafe_kind "$(head -c 300 "$work/unsafe")"
  fi
  # No more than the metadata says, 1% and 1 MiB more (the library's extractLimit, which stops
  # unpacking there): from the listing (the size is the third field of tar -tv, GNU's and
  # BusyBox's alike), or once unpacked as it downloaded, from the staged files.
  held=0
  if [ -f "$work/scan.types" ]; then
    held=$(awk '$1 ~ /^-/ && $NF != "cpy-artifact.json" { n += $3 } END { printf "%.0f", n }' "$work/scan.types")
  elif [ -d "$stage/$2" ]; then
    walk_tree "$stage/$2"
    held=$walked_bytes
  fi
  limit=$(awk -v b="$3" 'BEGIN { x = b * 1.01; printf "%.0f", (x == int(x) ? x : int(x) + 1) + 1048576 }')
  [ "$held" -le "$limit" ] ||
    fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive unpacks to $held bytes, more than the $limit its metadata allows; nothing from this archive is trusted" "$unsafe_hint"
  # Each name: no .. component, not absolute, and the metadata, the tree or a directory above it
  # (opt/). One awk over the listing (a sh read loop took 120 ms for 2,759 names).
  awk -v root="$2" '
    index("/" $0 "/", "/../") || substr($0, 1, 1) == "/" { print; bad = 1; exit }
    $0 == "cpy-artifact.json" || $0 == root || index($0, root "/") == 1 { next }
    { above = $0; sub(/\/$/, "", above); if (index(root "/", above "/") != 1) { print; bad = 1; exit } }
    END { exit bad }' "$work/scan.names" >"$work/unsafe" ||
    fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive entry '$(head -c 300 "$work/unsafe")' is outside $2/ (an absolute path, a .., or another tree); nothing from this archive is trusted" "$unsafe_hint"
}
# An awk function: PATH with . and .. resolved lexically ("/.." when it climbs above /).
RESOLVED_AWK='function resolved(path,   n, i, k, p, q, out) {
  n = split(path, p, "/"); k = 0
  for (i = 1; i <= n; i++) {
    if (p[i] == "" || p[i] == ".") continue
    if (p[i] == "..") { if (k == 0) return "/.."; k--; continue }
    q[++k] = p[i]
  }
  out = ""; for (i = 1; i <= k; i++) out = out "/" q[i]
  return out == "" ? "/" : out
}'
# An awk function: whether a link target has a .. after a name (leading ones do not count).
CLIMBS_AWK='
function climbs(target,   n, i, p, named) {
  n = split(target, p, "/"); named = 0
  for (i = 1; i <= n; i++) {
    if (p[i] == "" || p[i] == ".") continue
    if (p[i] != "..") named = 1
    else if (named) return 1
  }
  return 0
}'
# normalize PATH: . and .. resolved lexically.
normalize() { printf '%s\n' "$1" | awk "$RESOLVED_AWK"' { print resolved($0) }'; }
# find_special TREE [EXPRESSION...]: find over TREE, matching what is neither a file nor a
# directory and files with more than one name (a hard link unpacked), then EXPRESSION (none:
# print their names).
find_special() { fs_tree=$1 && shift && find "$fs_tree" \( \( ! -type f ! -type d \) -o \( -type f -links +1 \) \) "$@"; }
# walk_tree TREE: one walk of TREE for check_entries and check_links: find_special's names in
# $work/special, the bytes its files hold in $walked_bytes. GNU find writes both in the one walk
# (-fprint, -fprintf: the sizes in a file of their own, which no name can add a line to);
# another find takes two (about 50 ms more for CPython's 2,500 files).
walked=
walk_tree() {
  if find_special "$1" -fprint "$work/special" -o -type f -fprintf "$work/sizes" '%s\n' 2>/dev/null; then
    walked_bytes=$(awk '{ n += $1 } END { printf "%.0f", n }' "$work/sizes")
  else
    find_special "$1" >"$work/special"
    walked_bytes=$(find "$1" -type f -exec stat -c %s {} + | awk '{ n += $1 } END { printf "%.0f", n }')
  fi
  walked=$1
}
check_links() { # TREE
  cl_tree=$1
  # One walk (walk_tree's, when it just walked this tree): what is neither a file nor a directory,
  # and files with more than one name; then one readlink names every link's target, and one awk
  # resolves them.
  if [ "$walked" = "$cl_tree" ]; then walked=; else find_special "$cl_tree" >"$work/special"; fi
  set --
  while IFS= read -r entry; do
    [ -L "$entry" ] || unsafe_kind "${entry#"$cl_tree"/}"
    set -- "$@" "$entry"
  done <"$work/special"
  [ $# -gt 0 ] || return 0
  # A line a target: a name may hold any character but a newline, and a target that holds one
  # makes more lines than links (it would shift the pairs the awk below reads). (read counts the
  # lines without a process.)
  n=0
  if readlink -- "$@" >"$work/targets" 2>/dev/null; then
    while IFS= read -r _; do n=$((n + 1)); done <"$work/targets"
  fi
  if [ "$n" -ne $# ]; then
    # A readlink that takes one link at a time (BusyBox), or a target that holds a newline: each
    # link read on its own, whole, with a sentinel, to name the one.
    : >"$work/targets"
    for entry in "$@"; do
      target=$(readlink -- "$entry" && echo .) || fail CPY_ARTIFACT_UNSAFE_ENTRY "cannot read the symlink ${entry#"$cl_tree"/} the archive holds" "$unsafe_hint"
      target=${target%?.}
      case $target in *"
"*) fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive holds a symlink whose target holds a newline (${entry#"$cl_tree"/})" "$unsafe_hint" ;; esac
      printf '%s\n' "$target" >>"$work/targets"
    done
  fi
  # A target with .. after a name (s/..) is refused too: once s is a link, made before or after
  # this one, the kernel follows it first, and the reading on paper is wrong (the library's
  # climbsAfterName). CPython's own links are plain names.
  awk -v tree="$cl_tree" "$RESOLVED_AWK$CLIMBS_AWK"'
    FNR == NR { link[FNR] = $0; next }
    { dir = link[FNR]; sub(/\/[^\/]*$/, "", dir) }
    substr($0, 1, 1) == "/" || index(resolved(dir "/" $0) "/", tree "/") != 1 || climbs($0) { print link[FNR] " -> " $0; exit 3 }' "$work/special" "$work/targets" >"$work/badlink" ||
    fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive holds a symlink that points out of the tree ($(sed "s#^$cl_tree/##" "$work/badlink"))" "$unsafe_hint"
}
# The artifact's own post-install script (share/cpy/postinstall.py, put there by cpy's packer),
# run by its own python3, relocates the tree: the same code @cpy/install runs, so relocation
# exists once. The checks are this Feature's (check_script), as the library's are its own.
POSTINSTALL=share/cpy/postinstall.py
tree_python() { # TREE ARGS...
  t=$1
  shift
  # (Not holding the state session's FIFOs: its end is when this script closes them.)
  env -i PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C.UTF-8 "$t/bin/python3" "$@" 7>&- 8<&-
}
relocate_tree() { # TREE BUILT_FOR PREFIX
  [ -f "$1/$POSTINSTALL" ] || fail CPY_INSTALL_RELOCATION_FAILED "cannot relocate $file_name from $2 to $3: the artifact has no $POSTINSTALL (it was packed by an older cpy)" "nothing was changed; install it at $2 (set installPrefix to it), or use an artifact packed by this version of cpy"
  if ! tree_python "$1" -I -S "$1/$POSTINSTALL" relocate --from "$2" --to "$3" >"$work/relocate.json" 2>"$work/relocate.err"; then
    said=$(tail -n 2 "$work/relocate.err" | tr '\n' ' ')
    # A disk that filled up meanwhile (another writer: the room was checked) is the disk's.
    python_refused "$said" "$stage"
    fail CPY_INSTALL_RELOCATION_FAILED "cannot relocate $file_name from $2 to $3: $said" "nothing was changed; install it at $2 (set installPrefix to it), or use an artifact packed by this version of cpy"
  fi
  # Its one line ends with "tooLong": [] when every #! line fits (no awk to read it then).
  IFS= read -r relocated <"$work/relocate.json" || true
  case $relocated in *'"tooLong": []}') return 0 ;; esac
  json_flatten "$work/relocate.json" >"$work/relocate.flat" 2>/dev/null || true
  for name in $(jlist "$work/relocate.flat" tooLong); do
    say "warning: bin/$name: its #! line is longer than Linux allows; run it as python3 -m instead"
  done
}
validate_tree() { # TREE VERSION PREFIX
  [ -f "$1/$POSTINSTALL" ] || fail CPY_INSTALL_VALIDATION_FAILED "the unpacked python3 does not work: postinstall: the artifact has no $POSTINSTALL (it was packed by an older cpy)" 'nothing was changed; use an artifact packed by this version of cpy, or set skipValidation'
  check_script
  # shellcheck disable=SC2086 # the module names
  tree_python "$1" -I "$work/cpy-checks.py" check --version "$2" --installed-at "$3" --work "$work/checks" --modules "$(printf '%s' "$CRITICAL_IMPORTS" | tr ' ' ,)" --compile >"$work/check.json" 2>"$work/check.err" && return 0
  if tail -n 1 "$work/check.json" >"$work/check.last" && json_flatten "$work/check.last" >"$work/check.flat" 2>/dev/null; then
    problems=$(awk -F '\t' '$1 ~ /^checks\/[0-9]+\/id$/ { split($1, p, "/"); id[p[2]] = $2 } $1 ~ /^checks\/[0-9]+\/ok$/ { split($1, p, "/"); ok[p[2]] = $2 } $1 ~ /^checks\/[0-9]+\/detail$/ { split($1, p, "/"); d[p[2]] = $2; if (p[2] + 1 > n) n = p[2] + 1 } END { for (i = 0; i < n; i++) if (ok[i] == "false") printf "%s: %s; ", id[i], d[i] }' "$work/check.flat")
  else
    problems="python3 does not run: $(tail -n 2 "$work/check.err" | tr '\n' ' ')"
  fi
  fail CPY_INSTALL_VALIDATION_FAILED "the unpacked python3 does not work: ${problems%; }" 'nothing was changed; the artifact does not run on this host: check its runtime needs (cpy artifact validate) or use an artifact built for this distribution'
}
# check_script: the checks validate_tree runs, written into $work once: a copy of @cpy/artifact's
# postinstall.py (libs/artifact/python), between the cpy_checks_py lines, which
# apps/feature/src/__tests__/manifest.spec.ts keeps identical (`nx run feature:generate` writes
# it). Never the artifact's own copy: one packed by an older cpy would be judged by its older
# checks, and a tampered one by whatever it says.
check_script() {
  [ ! -s "$work/cpy-checks.py" ] || return 0
  cat >"$work/cpy-checks.py" <<'cpy_checks_py' || fail CPY_INSTALL_VALIDATION_FAILED "cannot write $work/cpy-checks.py" 'nothing was changed; check that /tmp is writable and has room'
"""cpy's post-install step, shipped inside every artifact as share/cpy/postinstall.py.

Both installers (@cpy/install and the Dev Container Feature's install.sh) and artifact
validation run this one file with the unpacked interpreter, so the logic exists once:

  python3 -I -S share/cpy/postinstall.py relocate --from OLD --to NEW
      Rewrites what names the prefix the tree was built for, so the tree works at NEW:
      the sysconfig data (and its bytecode), config-X.Y/Makefile, build-details.json and
      _sysconfig_vars_*.json (3.14+), pkgconfig/*.pc, bin/pythonX.Y-config, the #!
      line of every script in bin/, and the prefix compiled into bin/pythonX.Y and
      libpython (when cpy's build left room for it). Prints one JSON object: what it rewrote.

  python3 -I share/cpy/postinstall.py check --version V --installed-at PREFIX --work DIR
      [--modules a,b,...] [--compile]
      Checks what users rely on, in this (possibly still staged) tree whose files say PREFIX:
      the version, the critical imports, that sysconfig's directories are under PREFIX and
      exist, a venv made through a link outside the prefix (symlinks and --copies), nothing
      of the build machine in the flags users build with, and with --compile (when a C
      compiler is there) a C extension built with sysconfig's own flags that imports and
      carries no RPATH/RUNPATH. Prints one JSON object; exit 0 when every check passed.

Runs on every CPython cpy packs (3.8 and newer), with the standard library only.
"""

import marshal
import os
import sys

# relocate runs on every install, so it imports only the above (no re, json or py_compile:
# with enum, which re and py_compile pull in, they were 20 ms of a 45 ms relocation); what
# check needs (argparse, importlib, json, platform, shutil, struct, subprocess, sysconfig:
# about 30 ms more) is imported there.

# --- relocate ---------------------------------------------------------------------------

# What may follow the prefix for it to be the whole path component: /opt/py matches /opt/py/bin,
# not /opt/py2.
_PREFIX_ENDS = frozenset(b"/'\"\t\n\r\x0b\x0c :;,)]}=")


def _replace_prefix(data, old, new):
    """DATA with each OLD (bytes) that ends a path component replaced by NEW (bytes)."""
    out, at = [], 0
    i = data.find(old)
    while i >= 0:
        end = i + len(old)
        if end == len(data) or data[end] in _PREFIX_ENDS:
            out.append(data[at:i])
            out.append(new)
            at = end
            i = data.find(old, end)
        else:
            i = data.find(old, i + 1)
    if not out:
        return data
    out.append(data[at:])
    return b"".join(out)


def _versioned(name, stem):
    """NAME starts with STEM, digits, a dot and digits (python3.13, python3.13t-config)."""
    if not name.startswith(stem):
        return False
    major, dot, rest = name[len(stem):].partition(".")
    return bool(dot) and major.isdigit() and major.isascii() and rest[:1].isdigit() and rest[:1].isascii()


def _json_text(value):
    """VALUE (str, list, dict) as json.dumps writes it (ASCII, escaped), without importing json."""
    if isinstance(value, dict):
        return "{" + ", ".join(_json_text(k) + ": " + _json_text(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    out = []
    for ch in value:
        code = ord(ch)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
        else:
            out.append("\\u%04x" % code)
    return '"' + "".join(out) + '"'


def _rewrite(path, old, new, first_line_only=False):
    with open(path, "rb") as f:
        data = f.read()
    if first_line_only:
        end = data.find(b"\n")
        head, rest = (data, b"") if end < 0 else (data[:end], data[end:])
        updated = _replace_prefix(head, old, new) + rest
    else:
        updated = _replace_prefix(data, old, new)
    if updated == data:
        return False
    _replace_file(path, updated)
    return True


def _replace_file(path, data):
    """PATH holds DATA, its mode kept: written beside it, then renamed over it."""
    mode = os.stat(path).st_mode
    tmp = path + ".cpy-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode & 0o7777)
    os.replace(tmp, path)


def _recompile(path):
    """The bytecode beside PATH compiled again, as py_compile writes it (a timestamp .pyc: PEP
    552's header, then the marshalled code), when the tree has one."""
    head, name = os.path.split(path)
    tag = sys.implementation.cache_tag
    cached = os.path.join(head, "__pycache__", name[:-3] + "." + tag + ".pyc")
    if not tag or not os.path.exists(cached):
        return
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    st = os.stat(path)
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    header = magic + (0).to_bytes(4, "little") + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    tmp = cached + ".cpy-tmp"
    with open(tmp, "wb") as f:
        f.write(header + marshal.dumps(code))
    os.chmod(tmp, os.stat(cached).st_mode & 0o7777)
    os.replace(tmp, cached)


def _config_files(root):
    """The files that record the prefix for people and tools that build against Python."""
    lib = os.path.join(root, "lib")
    for name in sorted(os.listdir(lib)) if os.path.isdir(lib) else []:
        stdlib = os.path.join(lib, name)
        if not _versioned(name, "python") or not os.path.isdir(stdlib):
            continue
        for entry in sorted(os.listdir(stdlib)):
            full = os.path.join(stdlib, entry)
            if (entry.startswith("_sysconfigdata_") and entry.endswith(".py")) or (entry.startswith("_sysconfig_vars_") and entry.endswith(".json")) or entry == "build-details.json":
                yield full
            elif entry.startswith("config-") and os.path.isdir(full):
                for inner in ("Makefile", "python-config.py"):
                    if os.path.isfile(os.path.join(full, inner)):
                        yield os.path.join(full, inner)
    pc = os.path.join(lib, "pkgconfig")
    if os.path.isdir(pc):
        for entry in sorted(os.listdir(pc)):
            if entry.endswith(".pc") and not os.path.islink(os.path.join(pc, entry)):
                yield os.path.join(pc, entry)
    binary = os.path.join(root, "bin")
    for entry in sorted(os.listdir(binary)) if os.path.isdir(binary) else []:
        full = os.path.join(binary, entry)
        if _versioned(entry, "python") and entry.endswith("-config") and os.path.isfile(full) and not os.path.islink(full):
            yield full


def _scripts(root):
    """Regular files in bin/ that start with #!."""
    binary = os.path.join(root, "bin")
    for entry in sorted(os.listdir(binary)) if os.path.isdir(binary) else []:
        full = os.path.join(binary, entry)
        if os.path.islink(full) or not os.path.isfile(full):
            continue
        with open(full, "rb") as f:
            if f.read(2) == b"#!":
                yield full


# Linux's #! limits: a path with a space is cut at it (the kernel splits the line at the first
# blank), and kernels before 5.1 read 127 bytes of the line (255 since). pip's own scripts then
# start from /bin/sh (distlib's rule), and so do ours.
_SHEBANG_READ = 127


def _trampoline(path, new):
    """The #! line of the Python script PATH, whose interpreter is under NEW, as distlib writes it
    when the interpreter's path has a space or the line is too long: /bin/sh, which runs the
    interpreter on the script (the second line is a string to Python). True when it was written."""
    with open(path, "rb") as f:
        data = f.read()
    end = data.find(b"\n")
    line, rest = (data, b"") if end < 0 else (data[:end], data[end:])
    if not line.startswith(b"#!" + new + b"/bin/python"):
        return False
    if b" " not in new and len(line) <= _SHEBANG_READ:
        return False
    interpreter, _, args = line[2 + len(new):].partition(b" ")
    interpreter = new + interpreter
    if b"'" in interpreter or b"'" in args:
        return False
    quote = b"'" * 3
    exec_line = quote + b"exec' '" + interpreter + b"'" + (b" " + args if args else b"") + b' "$0" "$@"'
    _replace_file(path, b"#!/bin/sh\n" + exec_line + b"\n' " + quote + rest)
    return True


# The prefix compiled into the interpreter and libpython (getpath's PREFIX and EXEC_PREFIX): where
# Python looks for its standard library when it finds none beside the program that runs it (a
# program that embeds libpython, a copy of python3.X elsewhere, a venv made with -S). A build
# configured at the prefix has it right; cpy's build pads each with NULs up to this marker
# (libs/build's prefix slot), so that the prefix can be rewritten in place, as conda does.
# (Searched for without the NUL before it: a pattern that starts with a byte so common in
# binaries makes the search many times slower.)
_PREFIX_SLOT_MARKER = b"cpy-prefix-slot\0"


def _patch_compiled_prefix(path, old, new):
    """Writes NEW over each prefix slot of PATH that holds OLD: in place, or, for the interpreter
    running this (which cannot be written to), in a copy renamed over it. False when PATH has no
    such slot, or NEW (with its NUL) does not fit in one: then nothing is written."""
    import mmap

    # Found in a read-only map: reading the 6 MB file into memory cost more than the search.
    spots = []
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            i = m.find(_PREFIX_SLOT_MARKER)
            while i >= 0:
                # The slot is the prefix, then NULs up to the marker; what is before it is not ours to read.
                end = i
                while end > 0 and m[end - 1] == 0:
                    end -= 1
                start = end - len(old)
                if end < i and start >= 0 and m[start:end] == old:
                    if len(new) >= i - start:
                        return False
                    spots.append((start, i - start))
                i = m.find(_PREFIX_SLOT_MARKER, i + 1)
    if not spots:
        return False
    running = os.path.realpath(sys.executable) == os.path.realpath(path)
    target = path + ".cpy-tmp" if running else path
    if running:
        with open(path, "rb") as src, open(target, "wb") as dst:
            size, done = os.fstat(src.fileno()).st_size, 0
            while done < size:
                done += os.sendfile(dst.fileno(), src.fileno(), done, size - done)
        os.chmod(target, os.stat(path).st_mode & 0o7777)
    fd = os.open(target, os.O_WRONLY)
    try:
        for start, size in spots:
            os.pwrite(fd, new + b"\0" * (size - len(new)), start)
    finally:
        os.close(fd)
    if running:
        os.replace(target, path)
    return True


def _compiled_prefix_files(root):
    """The interpreter and libpython: the ELF files that carry getpath's compiled-in prefix."""
    seen = set()
    for folder, stem in (("bin", "python"), ("lib", "libpython")):
        full_folder = os.path.join(root, folder)
        for entry in sorted(os.listdir(full_folder)) if os.path.isdir(full_folder) else []:
            full = os.path.join(full_folder, entry)
            if not entry.startswith(stem) or entry.endswith(("-config", ".a", ".py")) or os.path.islink(full) or not os.path.isfile(full):
                continue
            with open(full, "rb") as f:
                if f.read(4) != b"\x7fELF":
                    continue
            st = os.stat(full)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                yield full


def relocate(root, old, new):
    old = old.rstrip("/") or "/"
    new = new.rstrip("/") or "/"
    rewritten, too_long = [], []
    if old == new:
        return {"rewritten": rewritten, "tooLong": too_long}
    old_bytes, new_bytes = os.fsencode(old), os.fsencode(new)
    config = set()
    for path in _config_files(root):
        config.add(path)
        if _rewrite(path, old_bytes, new_bytes):
            rewritten.append(os.path.relpath(path, root))
            if path.endswith(".py"):
                _recompile(path)
    for path in _compiled_prefix_files(root):
        if _patch_compiled_prefix(path, old_bytes, new_bytes):
            rewritten.append(os.path.relpath(path, root))
    for path in _scripts(root):
        if path in config:
            continue
        if _rewrite(path, old_bytes, new_bytes, first_line_only=True):
            rewritten.append(os.path.relpath(path, root))
            if _trampoline(path, new_bytes):
                continue
            with open(path, "rb") as f:
                # Linux reads at most 255 bytes of a #! line (BINPRM_BUF_SIZE 256).
                if len(f.readline().rstrip(b"\n")) > 255:
                    too_long.append(os.path.basename(path))
    return {"rewritten": rewritten, "tooLong": too_long}


# --- check -------------------------------------------------------------------------------

BUILD_LDFLAGS = ("LDSHARED", "BLDSHARED", "LDFLAGS", "CONFIGURE_LDFLAGS", "PY_LDFLAGS", "LDFLAGS_NODIST", "PY_CORE_LDFLAGS")
BUILD_CFLAGS = ("CFLAGS", "CONFIGURE_CFLAGS", "PY_CFLAGS", "CPPFLAGS", "CONFIGURE_CPPFLAGS", "PY_CPPFLAGS", "CC", "LDSHARED", "BLDSHARED")
COMPILER_VARS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED", "BLDSHARED", "LINKCC")
COMPILER_LAUNCHERS = ("ccache", "sccache", "distcc", "icecc")

EXTENSION_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cpyprobe", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cpyprobe(void) { return PyModule_Create(&module); }
"""


class Report:
    def __init__(self):
        self.checks = []

    def add(self, id, ok, detail):
        self.checks.append({"id": id, "ok": bool(ok), "detail": detail})


def _run(argv, extra_env=None, timeout=300, **kwargs):
    import subprocess

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    env.update(extra_env or {})
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env, timeout=timeout, **kwargs)


def _tail(text, lines=3):
    return " ".join(text.strip().splitlines()[-lines:])


def _under(path, prefix):
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def check_modules(report, modules):
    import importlib

    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - any failure to import is the finding
            failed[name] = "%s: %s" % (type(e).__name__, e)
    missing = ["%s (%s)" % item for item in sorted(failed.items())]
    report.add("critical-modules", not failed, "cannot import " + "; ".join(missing) if failed else " ".join(modules))
    return failed


def check_sysconfig(report, installed_at, here):
    """sysconfig's directories must name the install prefix and exist (here is where the tree is now).

    The scheme paths (get_path) follow where the interpreter runs, so in a staged tree they
    name `here`; so may `prefix` and `exec_prefix`, which sysconfig takes from sys.prefix on
    releases where it sets them after reading the sysconfig data (CPython's "FIXME: this gets
    overwritten by _init_posix" is resolved one way or the other, depending on the release). The
    other configuration variables come from the relocated sysconfig data and must name the
    install prefix.
    """
    import sysconfig

    base = installed_at.rstrip("/")

    def now(path):
        return here + path[len(base):] if base else here + path

    def final(path):
        """PATH, where it will be once the staged tree is in place."""
        return installed_at + path[len(here):] if _under(path, here) and here != installed_at else path

    wanted = {}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include", "scripts", "data"):
        wanted["paths." + key] = final(os.path.realpath(sysconfig.get_path(key)))
    for var in ("prefix", "exec_prefix", "BINDIR", "LIBDIR", "LIBPL", "INCLUDEPY", "CONFINCLUDEPY", "LIBDEST"):
        value = sysconfig.get_config_var(var)
        if value:
            wanted[var] = final(os.path.normpath(value)) if var in ("prefix", "exec_prefix") else value
    wrong, missing = [], []
    for key, value in sorted(wanted.items()):
        if not _under(value, installed_at):
            wrong.append("%s=%s" % (key, value))
        elif key != "paths.data" and not os.path.isdir(now(value)):
            missing.append("%s=%s" % (key, value))
    include = sysconfig.get_config_var("INCLUDEPY")
    if include and _under(include, installed_at) and not os.path.isfile(now(include) + "/Python.h"):
        missing.append("Python.h in INCLUDEPY")
    problems = (["not under %s: %s" % (installed_at, ", ".join(wrong))] if wrong else []) + (["missing: " + ", ".join(missing)] if missing else [])
    report.add("sysconfig", not problems, "; ".join(problems) if problems else "directories under %s exist (include, lib, stdlib, scripts)" % installed_at)


def check_build_leaks(report):
    """Nothing of the build machine in the flags extensions are built with."""
    import sysconfig

    leaks = []
    for var in BUILD_LDFLAGS:
        value = sysconfig.get_config_var(var) or ""
        if "ORIGIN" in value or "-rpath" in value or "-R/" in value:
            leaks.append("%s has an rpath (%s)" % (var, value))
    build_dirs = {d for d in (sysconfig.get_config_var("abs_builddir"), sysconfig.get_config_var("abs_srcdir")) if d and len(d) > 1}
    for var in BUILD_CFLAGS:
        value = sysconfig.get_config_var(var) or ""
        for d in build_dirs:
            if d in value:
                leaks.append("%s names the build directory %s" % (var, d))
        # Built for the build machine's processor: the interpreter, and every extension built with these flags.
        for flag in ("-march=native", "-mcpu=native"):
            if flag in value.split():
                leaks.append("%s has %s" % (var, flag))
    # A compiler launcher of the build machine (CC="ccache gcc"): pip fails where it is not installed.
    for var in COMPILER_VARS:
        words = (sysconfig.get_config_var(var) or "").split()
        # ccache gcc, or /usr/lib/ccache/gcc (a link in ccache's directory of compiler names)
        if words and ((len(words) > 1 and os.path.basename(words[0]) in COMPILER_LAUNCHERS) or os.path.basename(os.path.dirname(words[0])) == "ccache"):
            leaks.append("%s starts with %s, a compiler launcher of the build machine" % (var, words[0]))
    report.add("build-leaks", not leaks, "; ".join(leaks) if leaks else "no rpath in LDSHARED/LDFLAGS, no build directory or -march=native in CFLAGS, no compiler launcher in CC")


def check_venvs(report, work, here):
    """A venv made through a link outside the prefix, the way users reach python3; and --copies."""
    import json
    import shutil

    link_dir = os.path.join(work, "link-bin")
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, "python3")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(here, "bin", "python3"), link)
    for kind, extra in (("venv", []), ("venv-copies", ["--copies"])):
        target = os.path.join(work, kind)
        shutil.rmtree(target, ignore_errors=True)
        made = _run([link, "-m", "venv", "--without-pip"] + extra + [target])
        if made.returncode != 0:
            report.add(kind, False, "%s -m venv %s failed (exit %d): %s" % (link, " ".join(extra), made.returncode, _tail(made.stdout)))
            continue
        probe = _run([os.path.join(target, "bin", "python"), "-c", "import encodings, json, sys; print(json.dumps([sys.prefix, sys.base_prefix]))"])
        if probe.returncode != 0:
            report.add(kind, False, "the venv's python does not start (exit %d): %s" % (probe.returncode, _tail(probe.stdout)))
            continue
        prefix, base = json.loads(probe.stdout.strip().splitlines()[-1])
        ok = os.path.realpath(prefix) == os.path.realpath(target) and os.path.realpath(base) == os.path.realpath(here)
        how = "through a link outside the prefix" + (", --copies" if extra else "")
        report.add(kind, ok, "python3 -m venv %s works (base %s)" % (how, base) if ok else "the venv's base is %s, not %s" % (base, here))


def _elf_rpaths(path):
    """DT_RPATH/DT_RUNPATH of a 64- or 32-bit ELF file (little or big endian)."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        return []
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            _, stype, _, _, off, size, link = struct.unpack_from(end + "IIQQQQI", data, base)
        else:
            _, stype, _, _, off, size, link = struct.unpack_from(end + "IIIIIII", data, base)
        sections.append((stype, off, size, link))
    found = []
    for stype, off, size, link in sections:
        if stype != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][1]
        step = 16 if is64 else 8
        for pos in range(off, off + size, step):
            tag, val = struct.unpack_from(end + ("qQ" if is64 else "iI"), data, pos)
            if tag == 0:
                break
            if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                stop = data.index(b"\0", strtab + val)
                found.append(data[strtab + val:stop].decode("latin-1"))
    return found


def check_extension(report, work, installed_at, here, in_process=False):
    """Builds a C extension the way setuptools does, with sysconfig's own compiler and flags.

    It is imported by a new python3, or (in_process: under a user-mode emulator, where python3
    cannot start python3) by this one. A cross build's compiler is a program of the build
    machine, which an emulated python3 starts natively."""
    import shutil
    import sysconfig

    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if not shutil.which(cc[0]):
        report.add("c-extension", True, "skipped: no C compiler (%s) on this host" % cc[0])
        return
    build = os.path.join(work, "ext")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    # A compiler that cannot build plain C here (gcc without libc6-dev) says nothing about Python.
    plain = os.path.join(build, "plain.c")
    with open(plain, "w") as f:
        f.write("int main(void) { return 0; }\n")
    if _run(cc + [plain, "-o", os.path.join(build, "plain")]).returncode != 0:
        report.add("c-extension", True, "skipped: %s cannot build a plain C program on this host (no C library headers?)" % cc[0])
        return
    source = os.path.join(build, "cpyprobe.c")
    with open(source, "w") as f:
        f.write(EXTENSION_SOURCE)

    def var(name):
        value = sysconfig.get_config_var(name) or ""
        return value.replace(installed_at.rstrip("/") + "/", here + "/") if installed_at != here else value

    include = var("INCLUDEPY")
    obj = os.path.join(build, "cpyprobe.o")
    ext = os.path.join(build, "cpyprobe" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    compile_cmd = cc + var("CFLAGS").split() + var("CCSHARED").split() + ["-I" + include, "-c", source, "-o", obj]
    link_cmd = var("LDSHARED").split() + [obj, "-o", ext]
    for what, argv in (("compiling", compile_cmd), ("linking", link_cmd)):
        r = _run(argv)
        if r.returncode != 0:
            report.add("c-extension", False, "%s a C extension with sysconfig's flags failed: %s" % (what, _tail(r.stdout)))
            return
    rpaths = _elf_rpaths(ext)
    if in_process:
        failure = _import_probe(build)
    else:
        probe = _run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import cpyprobe; assert cpyprobe.answer() == 42" % build])
        failure = _tail(probe.stdout) if probe.returncode != 0 else None
    if failure is not None:
        report.add("c-extension", False, "the built extension does not import: %s" % failure)
    elif rpaths:
        report.add("c-extension", False, "the built extension carries RPATH/RUNPATH %s" % ", ".join(rpaths))
    else:
        report.add("c-extension", True, "built with %s and sysconfig's flags, imports%s, no RPATH/RUNPATH" % (cc[0], " (in this python3)" if in_process else ""))


EMBED_SOURCE = r"""
#include <Python.h>
int main(void) {
    Py_Initialize();
    int failed = PyRun_SimpleString("import encodings, sys; print(sys.prefix)");
    return Py_FinalizeEx() < 0 || failed ? 1 : 0;
}
"""


def check_compiled_prefix(report, work, installed_at, here, compile=False):
    """Where the tree is installed (not a staged copy): what finds the standard library by the
    prefix compiled into the interpreter and libpython, as a build configured there does, not
    by the tree around it: a copy of python3.X elsewhere, and (with compile) a program that
    embeds libpython."""
    import shutil
    import sysconfig

    if os.path.realpath(installed_at) != here:
        return
    folder = os.path.join(work, "elsewhere")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    real = os.path.realpath(os.path.join(here, "bin", "python3"))
    copy = os.path.join(folder, os.path.basename(real))
    shutil.copy2(real, copy)
    probes = [("interpreter-copy", "a copy of bin/%s outside the prefix" % os.path.basename(real), [copy, "-c", "import encodings, sys; print(sys.prefix)"], None)]
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    library = sysconfig.get_config_var("LDLIBRARY") or ""
    if compile and shutil.which(cc[0]) and library.endswith(".so") and os.path.isfile(os.path.join(libdir, library)):
        source = os.path.join(folder, "embed.c")
        with open(source, "w") as f:
            f.write(EMBED_SOURCE)
        program = os.path.join(folder, "embed")
        name = library[3:-3]
        built = _run(cc + ["-I" + (sysconfig.get_config_var("INCLUDEPY") or ""), source, "-o", program, "-L" + libdir, "-l" + name] + (sysconfig.get_config_var("LIBS") or "").split())
        if built.returncode != 0:
            report.add("embedding", False, "a program embedding %s does not build: %s" % (library, _tail(built.stdout)))
        else:
            probes.append(("embedding", "a program embedding %s (found through LD_LIBRARY_PATH)" % library, [program], libdir))
    slotless = None
    for id, what, argv, library_path in probes:
        r = _run(argv, {"LD_LIBRARY_PATH": library_path} if library_path else None, timeout=120)
        found = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
        if found is not None and os.path.realpath(found) == here:
            report.add(id, True, "%s finds the standard library at %s (the prefix compiled in)" % (what, here))
        else:
            if slotless is None:
                slotless = not any(_has_prefix_slot(p) for p in (real, os.path.join(libdir, library)) if os.path.isfile(p))
            # A tree built without the slot can hold only the prefix it was built for: its build is to blame, not the packing.
            why = "; its interpreter and libpython have no prefix slot (built by a cpy before it wrote one, or from a Makefile.pre.in cpy does not know): build it again" if slotless else ""
            report.add(id, False, "%s does not find the standard library at %s: %s%s" % (what, here, found or _tail(r.stdout), why))


def _has_prefix_slot(path):
    """Whether PATH holds a prefix slot (its marker), read through a map."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(_PREFIX_SLOT_MARKER) >= 0


def _import_probe(directory):
    """Imports the probe extension from `directory` in this process: None, or why it failed."""
    sys.path.insert(0, directory)
    try:
        import cpyprobe

        return None if cpyprobe.answer() == 42 else "cpyprobe.answer() is not 42"
    except Exception as e:  # an ImportError, or what the module raised
        return "%s: %s" % (type(e).__name__, e)
    finally:
        sys.path.remove(directory)


def check(args):
    import json
    import platform

    report = Report()
    version = platform.python_version()
    report.add("python3", version == args.version, "Python %s" % version if version == args.version else "Python %s, expected %s" % (version, args.version))
    modules = [m for m in (args.modules or "").split(",") if m]
    failed = check_modules(report, modules)
    here = os.path.realpath(sys.base_prefix)
    installed_at = args.installed_at.rstrip("/") or "/"
    os.makedirs(args.work, exist_ok=True)
    check_sysconfig(report, installed_at, here)
    check_build_leaks(report)
    if not args.no_venvs:
        check_venvs(report, args.work, here)
    if args.compile:
        check_extension(report, args.work, installed_at, here, in_process=args.no_venvs)
    if not args.no_venvs:
        check_compiled_prefix(report, args.work, installed_at, here, compile=args.compile)
    ok = all(c["ok"] for c in report.checks)
    print(json.dumps({"version": version, "failed": failed, "checks": report.checks}))
    return 0 if ok else 1


def _root():
    """The tree this script is in (it is share/cpy/postinstall.py)."""
    return os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main(argv):
    # The installers call `relocate --from OLD --to NEW`, on every install: no argparse for that.
    if len(argv) == 5 and argv[0] == "relocate" and argv[1] == "--from" and argv[3] == "--to" and argv[2] and argv[4]:
        print(_json_text(relocate(_root(), argv[2], argv[4])))
        return 0
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="postinstall.py")
    sub = parser.add_subparsers(dest="command")
    r = sub.add_parser("relocate")
    r.add_argument("--from", dest="old", required=True)
    r.add_argument("--to", dest="new", required=True)
    c = sub.add_parser("check")
    c.add_argument("--version", required=True)
    c.add_argument("--installed-at", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--modules", default="")
    c.add_argument("--compile", action="store_true")
    # Under a user-mode emulator without binfmt_misc, python3 cannot start another python3: no
    # venvs, and the C extension (with --compile) is imported by this process.
    c.add_argument("--no-venvs", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "relocate":
        print(json.dumps(relocate(_root(), args.old, args.new)))
        return 0
    if args.command == "check":
        return check(args)
    parser.print_usage(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
cpy_checks_py
}

# --- state, links (the library's layout for root: /var/lib/cpy, /usr/local/bin) ---------------
# up PATH: what dirname prints for PATH, in $up, without starting a process (each costs a
# millisecond or more, and the link steps below ran some 40 dirname).
up() {
  up=$1
  while [ "$up" != / ] && [ "${up%/}" != "$up" ]; do up=${up%/}; done
  case $up in
    /) return 0 ;;
    */*) up=${up%/*} ;;
    *)
      up=.
      return 0
      ;;
  esac
  while [ "$up" != / ] && [ "${up%/}" != "$up" ]; do up=${up%/}; done
  [ -n "$up" ] || up=/
}
# link_to LINK: sets link_to to where LINK points, as the library's resolve(dirname(LINK),
# readlink(LINK)); awk runs only for a target that has something to normalise.
link_to() {
  link_to=$(readlink "$1")
  case $link_to in /*) ;; *) up "$1" && link_to=$up/$link_to ;; esac
  case $link_to in *//* | */./* | */../* | */. | */.. | ?*/) link_to=$(normalize "$link_to") ;; esac
}
# bin_entry_kind PATH: absent, cpy (a link into a prefix with a marker, or one state.json records:
# an install whose marker is gone is still the one its links were made for), dangling or foreign,
# as cpy_state.py's bin_entry says.
bin_entry_kind() {
  [ -L "$1" ] || { [ -e "$1" ] && echo foreign || echo absent; return 0; }
  link_to "$1"
  up "$link_to" && up "$up"
  if [ -e "$up/.cpy-install.json" ] || state_records_prefix "$up"; then echo cpy
  elif [ -e "$link_to" ]; then echo foreign
  else echo dangling; fi
}
# state_records_prefix PREFIX: whether state.json records an install at PREFIX.
state_records_prefix() {
  [ -f "$STATE_DIR/state.json" ] && json_flatten "$STATE_DIR/state.json" 2>/dev/null |
    awk -F '\t' -v p="$1" 'BEGIN { found = 1 } $1 ~ /^installs\/[^\/]+\/prefix$/ && substr($0, length($1) + 2) == p { found = 0 } END { exit found }'
}
# check_python3_link: once the artifact's metadata is read (and before anything is put in place),
# when only python3 is known and no cpy python3 may exist yet, a python3 in the bin dir that is not
# cpy's refuses the install (the library's checkPython3Link). Every program the tree has is checked
# by cpy_state.py's mark, once it is unpacked.
check_python3_link() {
  [ "$(bin_entry_kind "$BIN_DIR/python3")" = foreign ] || return 0
  # A link names where it points (its target from the link's directory), as the library does.
  points=
  if [ -L "$BIN_DIR/python3" ]; then link_to "$BIN_DIR/python3" && points=" (it points to $link_to)"; fi
  fail CPY_INSTALL_BIN_CONFLICT "$BIN_DIR/python3 exists and is not a cpy link$points" "remove $BIN_DIR/python3 (it is not cpy's), then run again"
}
# state_py PYTHON COMMAND ARGS...: the install record (the marker, state.json, the `current` link
# and the bin links) is written by cpy_state.py, the library's own (libs/install/python), run by
# a python3 cpy installed: this is a copy of it, between the cpy_state_py lines, which
# apps/feature/src/__tests__/manifest.spec.ts keeps identical (npm run sync:feature writes it).
# What it prints is in $work/state.out; its refusal is this script's (the same code, message and
# hint), any other failure CPY_INSTALL_RECORD_FAILED.
state_py() {
  py=$1
  shift
  state_script
  state_rc=0
  "$py" -I -S "$work/cpy_state.py" "$@" >"$work/state.out" 2>"$work/state.err" || state_rc=$?
  [ "$state_rc" -ne 0 ] || return 0
  [ "$state_rc" -ne 3 ] || state_refusal
  state_failed "$1" "$py" "$work/state.err"
}
# state_refusal: the refusal cpy_state.py printed ($work/state.out: {"error": {code, message,
# hint}}) made this script's; nothing when it printed none.
state_refusal() {
  json_flatten "$work/state.out" >"$work/state.flat" 2>/dev/null || return 0
  jvals "$work/state.flat" error/code error/message error/hint
  [ -z "$j1" ] || fail "$j1" "$j2" "$j3"
}
# state_failed COMMAND PYTHON STDERR: cpy_state.py did not answer (python3 did not run, or a
# traceback in STDERR).
state_failed() {
  state_said=$(tail -n 3 "$3" | tr '\n' ' ')
  # A disk that filled up meanwhile: the staged tree's for the marker, the state directory's for
  # the record (the tree then in place).
  case $1 in
    mark) python_refused "$state_said" "${2%/bin/python3}" ;;
    record) python_refused "$state_said" "$STATE_DIR" record ;;
  esac
  # The marker is the first thing the unpacked python3 runs when nothing else did (skipValidation,
  # at the prefix it was built for): one that does not start is the artifact's failure here.
  [ "$1" != mark ] || fail CPY_INSTALL_VALIDATION_FAILED "the unpacked python3 does not work: python3 does not run: $state_said" 'nothing was changed; the artifact does not run on this host: check its runtime needs (cpy artifact validate) or use an artifact built for this distribution'
  fail CPY_INSTALL_RECORD_FAILED "the install record ($1) failed with $2: $state_said" "check that $2 runs; if it does not, install that version again"
}
# state_session TREE: the tree's python3 running `cpy_state.py serve` (the library's
# openStateSession). Started once the tree is checked, while it is relocated and validated, it runs
# the mark, then the record once the tree is in place: one python3 start for an install's two
# (from the tree it was started in, renamed meanwhile: serve imports nothing after its start).
# Commands go in on fd 7 and replies come back on fd 8, FIFOs in $work. Without mkfifo, each runs
# in a python3 of its own (state_py).
state_session=false
state_session() {
  state_script
  mkfifo "$work/state.in" "$work/state.reply" 2>/dev/null || return 0
  # -B: it writes no bytecode into the tree it runs from, which a failed install deletes.
  "$1/bin/python3" -I -S -B "$work/cpy_state.py" serve <"$work/state.in" >"$work/state.reply" 2>"$work/session.err" &
  state_pid=$!
  # (Each open waits for the other end: the python3's shell opens state.in first, then state.reply.)
  exec 7>"$work/state.in" 8<"$work/state.reply"
  state_session=true
}
# state_serve PYTHON COMMAND ARGS...: state_py's COMMAND, run by the session when one is open.
# A command goes as a JSON array of strings; an argument that a plain "..." would not carry (a
# quote, a backslash, a control character: none of this script's, whose values are checked) is
# run by state_py instead.
state_serve() {
  [ "$state_session" = true ] || { state_py "$@"; return; }
  py=$1
  shift
  state_line=
  for a in "$@"; do
    case $a in *[\"\\]* | *[![:print:]]*) state_py "$py" "$@"; return ;; esac
    state_line="$state_line${state_line:+,}\"$a\""
  done
  # In a subshell that ignores SIGPIPE: a python3 that is gone makes the write fail, and the read
  # below says so, rather than the signal ending this script.
  (trap '' PIPE && printf '[%s]\n' "$state_line" >&7) 2>/dev/null || true
  state_reply=
  IFS= read -r state_reply <&8 || true
  case $state_reply in
    '{"ok":'*)
      printf '%s\n' "$state_reply" >"$work/state.out"
      return 0
      ;;
    '{"error":'*)
      printf '%s\n' "$state_reply" >"$work/state.out"
      state_refusal
      ;;
  esac
  # No answer: the session is over. Its stderr says why; else what it printed, or how it ended
  # (the library's words).
  state_close
  if [ ! -s "$work/session.err" ]; then
    if [ -n "$state_reply" ]; then printf 'it printed "%.200s"\n' "$state_reply"; else printf 'it ended (exit %s)\n' "$state_exit"; fi >"$work/session.err"
  fi
  state_failed "$1" "$py" "$work/session.err"
}
# state_close: the session ended: its python3 reads the end of its input, finishes what it runs
# and exits (its status in $state_exit).
state_close() {
  [ "$state_session" = true ] || return 0
  state_session=false
  exec 7>&- 8<&-
  state_exit=0
  wait "$state_pid" 2>/dev/null || state_exit=$?
}
# state_script: the copy of cpy_state.py written into $work, once, for state_py and state_session.
state_script() {
  [ ! -s "$work/cpy_state.py" ] || return 0
  cat >"$work/cpy_state.py" <<'cpy_state_py' || fail CPY_INSTALL_RECORD_FAILED "cannot write $work/cpy_state.py" 'check that /tmp is writable and has room'
"""cpy's install record: the marker in a prefix, state.json, the `current` link and the bin links.

Both installers run this one file after extraction, with a python3 cpy installed (the staged or
installed tree's, or the current one's): @cpy/install (libs/install/src/record.ts) and the Dev
Container Feature's install.sh, which carries a copy between its cpy_state_py lines (a test keeps
the copy identical). `cpy use`, `cpy rollback` and `cpy uninstall` change the state through it too,
so what an install records, and how, is written once.

The caller holds the locks: the state lock (<state>/locks/state.lock) for record, use and forget,
and the prefix's lock too for forget. This script takes none.

Usage: python3 -I -S cpy_state.py COMMAND --name value ... (flags without a value: --current,
--force, --check). It prints one JSON document: the result, or {"error": {code, message,
hint, details}} with exit status 3 when it refuses. Any other failure is a traceback and exit 1.
`cpy_state.py serve` runs mark and record as they come on stdin, one python3 for an install's
two (see serve).
Python 3.8 and later; the standard library only.
"""

import errno
import json
import os
import re
import signal
import sys
import time

MARKER_FILE = '.cpy-install.json'
STATE_FILE = 'state.json'
CURRENT_LINK = 'current'
# The links put in the bin directory, and what each runs in the current install (the library's
# LINKS, which a test keeps the same).
LINKS = (
    ('python3', 'python3'),
    ('python', 'python3'),
    ('pip3', 'pip3'),
    ('pip', 'pip3'),
    ('pydoc3', 'pydoc3'),
    ('python3-config', 'python3-config'),
)
# The links named for a release line (python3.13, pip3.13, python3.13-config), as `make install`
# names its programs: one set per installed line, into the current install for the current line and
# into the line's newest install for the others (the library's VERSIONED_LINKS, which a test keeps
# the same). Someone else's entry of that name is left as it is: it refuses nothing.
VERSIONED_LINKS = ('python%s', 'pip%s', 'python%s-config')
HEX = '0123456789abcdef'
# Imported only where needed: each command starts a python3 (random and shutil cost some 12 ms).


class Refusal(Exception):
    def __init__(self, code, message, hint, details=None):
        Exception.__init__(self, message)
        self.code, self.message, self.hint, self.details = code, message, hint, details or {}


def random_id():
    return os.urandom(4).hex()


def write_atomic(path, text):
    """Written beside `path`, synced, then renamed over it: readers see the old file or the new one."""
    tmp = '%s.tmp-%s' % (path, random_id())
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def dumps(value):
    """As JSON.stringify(value, null, 2) + newline: the form both installers have always written."""
    return json.dumps(value, indent=2, ensure_ascii=False) + '\n'


# --- the marker -----------------------------------------------------------------------------

MARKER_STRINGS = ('version', 'sha256', 'artifact', 'source', 'builtFor', 'installedAt')


def marker_ok(m):
    """@cpy/install's markerSchema."""
    if not isinstance(m, dict) or m.get('schemaVersion') != 1 or isinstance(m.get('schemaVersion'), bool):
        return False
    if any(not isinstance(m.get(k), str) for k in MARKER_STRINGS):
        return False
    if not isinstance(m.get('build'), int) or isinstance(m.get('build'), bool):
        return False
    if len(m['sha256']) != 64 or any(c not in HEX for c in m['sha256']):
        return False
    return 'signedBy' not in m or isinstance(m['signedBy'], str)


def read_marker(prefix):
    """The marker of an installed prefix, or None when there is none or it is not valid."""
    try:
        with open(os.path.join(prefix, MARKER_FILE), encoding='utf-8') as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    return m if marker_ok(m) else None


def now_iso():
    t = time.time()
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + '.%03dZ' % (int(t * 1000) % 1000)


def mark(a):
    """
    Writes the install marker into a tree before it is renamed into place; prints it. With
    --bin-dir (an install that makes links) and --prefix (where the tree goes), every program the
    tree has is first checked against the bin dir: someone else's pip3 refuses the install before
    the tree is in place; so does a bin dir that cannot take the links it needs (at the record,
    the tree would be in place, and not recorded).
    """
    bin_dir = a.get('bin-dir')
    recorded = ()
    if bin_dir and 'state-dir' in a:
        try:
            recorded = recorded_prefixes(read_state(a['state-dir']))
        except (Refusal, OSError):
            pass  # a state that cannot be read is refused where it is written (record)
    check_links(bin_dir, a['tree'], recorded)
    if link_changes(bin_dir, a.get('prefix', a['tree']), False, a['tree']):
        ready_bin_dir(bin_dir)
    try:
        build = int(a['build'])
    except ValueError:
        build = -1
    if build < 1 or str(build) != a['build']:
        raise Refusal('CPY_INSTALL_NOT_AN_ARTIFACT', 'the metadata is not valid: build %r' % a['build'], 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack')
    m = {'schemaVersion': 1, 'version': a['version'], 'build': build, 'sha256': a['sha256'], 'artifact': a['artifact'], 'source': a['source'],
         'builtFor': a['built-for'], 'installedAt': a.get('installed-at') or now_iso()}
    if a.get('signed-by'):
        m['signedBy'] = a['signed-by']
    if not marker_ok(m):
        raise Refusal('CPY_INSTALL_NOT_AN_ARTIFACT', 'the install marker would not be valid (sha256 %r)' % a['sha256'], 'install an artifact made by cpy')
    write_atomic(os.path.join(a['tree'], MARKER_FILE), dumps(m))
    return m


def sign_marker(a):
    """The same bytes, verified again with a signature: the marker of the install says who signed them."""
    m = read_marker(a['prefix'])
    if m is None:
        raise Refusal('CPY_INSTALL_BROKEN', '%s has no valid install marker' % a['prefix'], 'install it again: a broken install is replaced atomically')
    if m.get('signedBy') != a['signed-by']:
        m['signedBy'] = a['signed-by']
        write_atomic(os.path.join(a['prefix'], MARKER_FILE), dumps(m))
    return m


# --- the state ------------------------------------------------------------------------------

def broken_state(path, problem):
    return Refusal('CPY_INSTALL_BROKEN', '%s is not a cpy state file (%s)' % (path, problem),
                   'move it aside (mv %s %s.broken), then run again; the installed versions stay in place, and cpy install <version> records each again' % (path, path),
                   {'path': path, 'problem': problem})


def read_state(state_dir):
    """state.json (@cpy/install's stateSchema); none yet reads as empty. Never rewritten when it is not a state."""
    path = os.path.join(state_dir, STATE_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return {'schemaVersion': 1, 'installs': {}, 'previous': None}
    except UnicodeDecodeError as e:
        raise broken_state(path, 'not JSON: not UTF-8 text (%s)' % e.reason)
    try:
        s = json.loads(text)
    except ValueError as e:
        raise broken_state(path, 'not JSON: %s' % e)
    if not isinstance(s, dict):
        raise broken_state(path, 'the document: not an object')
    if s.get('schemaVersion') != 1 or isinstance(s.get('schemaVersion'), bool):
        raise broken_state(path, 'schemaVersion: not 1')
    installs = s.get('installs')
    if not isinstance(installs, dict):
        raise broken_state(path, 'installs: not an object')
    for version, entry in installs.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('prefix'), str):
            raise broken_state(path, 'installs.%s: not { prefix: <path> }' % version)
    if 'previous' not in s or not (s['previous'] is None or isinstance(s['previous'], str)):
        raise broken_state(path, 'previous: not a version or null')
    state = {'schemaVersion': 1, 'installs': {v: {'prefix': e['prefix']} for v, e in installs.items()}, 'previous': s['previous']}
    # Where the current version's links are (the last install or use that made them), for the
    # commands not told a bin dir; absent until links are made.
    if 'binDir' in s:
        if not isinstance(s['binDir'], str) or not s['binDir'].startswith('/'):
            raise broken_state(path, 'binDir: not an absolute path')
        state['binDir'] = s['binDir']
    return state


def write_state(state_dir, state):
    os.makedirs(state_dir, exist_ok=True)
    write_atomic(os.path.join(state_dir, STATE_FILE), dumps(state))


def current_prefix(state_dir):
    try:
        return os.readlink(os.path.join(state_dir, CURRENT_LINK))
    except OSError:
        return None


def version_of(state_dir, state, prefix):
    """The version installed at `prefix`: the state's, else its marker's (a state.json moved aside)."""
    if not prefix:
        return None
    for version, entry in state['installs'].items():
        if entry['prefix'] == prefix:
            return version
    m = read_marker(prefix)
    return m['version'] if m else None


def version_key(version):
    """Orders versions as people read them (3.9.1 before 3.13.0; a pre-release before its release)."""
    parts = re.match(r'(\d+)\.(\d+)\.(\d+)(?:(a|b|rc)(\d+))?', version)
    if not parts:
        return ((), version)
    major, minor, micro, pre, n = parts.groups()
    return ((int(major), int(minor), int(micro), (pre or 'z', int(n or 0))), version)


def not_installed(version, known, removing=False):
    known = sorted(known, key=version_key)
    return Refusal('CPY_INSTALL_NOT_INSTALLED', 'CPython %s is not installed%s' % (version, ' (installed: %s)' % ', '.join(known) if known else ''),
                   'nothing to remove: cpy list shows what is installed' if removing else 'install it first: cpy install %s (from the index: --index or CPY_INDEX_URL), or cpy install --from <artifact>' % version)


# --- links ----------------------------------------------------------------------------------

def swap_link(link, target):
    """
    Points `link` at `target` by renaming a new symlink over it: readers see the old or the new
    target, never none. The new symlinks a killed run left for it (`<link>.tmp-<8 hex>`, made
    under the same state lock) are removed first.
    """
    directory, name = os.path.split(link)
    os.makedirs(directory, exist_ok=True)
    half_made = re.compile(re.escape(name) + r'\.tmp-[0-9a-f]{8}')
    for entry in os.listdir(directory):
        if half_made.fullmatch(entry) and os.path.islink(os.path.join(directory, entry)):
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass
    tmp = '%s.tmp-%s' % (link, random_id())
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        os.unlink(tmp)
        raise


def bin_entry(path, recorded=()):
    """What a bin entry is: absent, a link cpy made (into a prefix with a marker, or into one of
    `recorded`, the prefixes the state records: an install whose marker is gone is still the one
    those links were made for), dangling (replaceable), or someone else's."""
    try:
        os.lstat(path)
    except OSError:
        return 'absent', None
    if not os.path.islink(path):
        return 'foreign', None
    target = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    into = os.path.dirname(os.path.dirname(target))
    if os.path.exists(os.path.join(into, MARKER_FILE)) or into in recorded:
        return 'cpy', target
    return ('foreign' if os.path.exists(target) else 'dangling'), target


def recorded_prefixes(state):
    """The prefixes the state records."""
    return frozenset(entry['prefix'] for entry in state['installs'].values())


def check_links(bin_dir, prefix, recorded=()):
    """Refuses to take over a bin entry that is not cpy's (a system python3, a user's script): every
    such entry at once (one a run, after a whole unpack each, took four runs for pip, pip3, pip3.13
    and python that pip install --user had written). `recorded`: as bin_entry's."""
    if not bin_dir:
        return
    foreign = []
    for name, runs in LINKS:
        if not os.path.exists(os.path.join(prefix, 'bin', runs)) and name != 'python3':
            continue
        path = os.path.join(bin_dir, name)
        kind, target = bin_entry(path, recorded)
        if kind == 'foreign':
            foreign.append((path, target))
    if not foreign:
        return
    path, target = foreign[0]
    if len(foreign) == 1:
        message = '%s exists and is not a cpy link%s' % (path, ' (it points to %s)' % target if target else '')
    else:
        message = '%s and %s exist and are not cpy links' % (', '.join(p for p, _ in foreign[:-1]), foreign[-1][0])
    paths = [p for p, _ in foreign]
    raise Refusal('CPY_INSTALL_BIN_CONFLICT', message, "remove %s (not cpy's), then run again" % ' '.join(paths), {'path': path, 'paths': paths})


def ready_bin_dir(bin_dir):
    """The bin dir made, and able to take a link (one made and removed): refused before the state changes,
    since after it `current` would name a version its links do not run."""
    if not bin_dir:
        return
    hint = 'make the links where this user can write (cpy: --bin-dir), or run as the user who owns %s' % bin_dir
    probe = os.path.join(bin_dir, '.cpy-probe-%s' % random_id())
    try:
        os.makedirs(bin_dir, exist_ok=True)
        os.symlink('.', probe)
        os.unlink(probe)
    except FileExistsError:
        raise Refusal('CPY_INSTALL_NOT_WRITABLE', 'cannot make the python3 links in %s: it is not a directory' % bin_dir, hint)
    except OSError as e:
        said = (e.strerror or str(e)).lower()
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Refusal('CPY_INSTALL_DISK_FULL', 'cannot make the python3 links in %s: %s' % (bin_dir, said), 'free some space there (df -h; df -i), then run again')
        if e.errno == errno.ENOTDIR:
            said = 'a file is in the way of it'
        raise Refusal('CPY_INSTALL_NOT_WRITABLE', 'cannot make the python3 links in %s: %s' % (bin_dir, said), hint)


def link_changes(bin_dir, prefix, keep_foreign, tree=None):
    """
    Link by link, what activate changes: (path, target), or (path, None) to remove cpy's link to a
    program this version lacks. `tree`: where its programs are now, when not yet at `prefix` (mark).
    """
    if not bin_dir:
        return []
    changes = []
    for name, runs in LINKS:
        path = os.path.join(bin_dir, name)
        if not os.path.exists(os.path.join(tree or prefix, 'bin', runs)):
            if bin_entry(path)[0] == 'cpy':
                changes.append((path, None))
            continue
        # Into the real prefix, not through `current`: CPython derives sys.prefix from the path it
        # was started by, and pip writes that interpreter into the #! lines of the scripts it installs.
        target = os.path.join(prefix, 'bin', runs)
        try:
            if os.readlink(path) == target:
                continue
        except OSError:
            pass
        if keep_foreign and bin_entry(path)[0] == 'foreign':
            continue
        changes.append((path, target))
    return changes


def release_line(version):
    parts = re.match(r'(\d+\.\d+)\.', version)
    return parts.group(1) if parts else None


def versioned_changes(bin_dir, state, current):
    """
    What the links named for a release line need, as link_changes says it: (path, target) for each
    installed line's programs, into the current install for its line, else into the line's newest.
    Only links to make or to point elsewhere: the ones of a version removed go in forget. (The
    library's versionedTargets chooses the same.)
    """
    if not bin_dir:
        return []
    chosen = {}
    for version, entry in state['installs'].items():
        line = release_line(version)
        # A tree deleted by hand (or another version's since) leaves the line to its other installs.
        if not line or not os.path.exists(os.path.join(entry['prefix'], 'bin', 'python%s' % line)):
            continue
        rank = (entry['prefix'] == current, version_key(version))
        if line not in chosen or rank > chosen[line][0]:
            chosen[line] = (rank, entry['prefix'])
    changes = []
    for line in sorted(chosen):
        prefix = chosen[line][1]
        for template in VERSIONED_LINKS:
            name = template % line
            target = os.path.join(prefix, 'bin', name)
            path = os.path.join(bin_dir, name)
            if not os.path.exists(target):
                continue
            try:
                if os.readlink(path) == target:
                    continue
            except OSError:
                pass
            if bin_entry(path)[0] != 'foreign':
                changes.append((path, target))
    return changes


def links_to(state, bin_dir):
    """
    Whether making links in `bin_dir` changes the bin dir the state records (recording: it is to
    be written, record_bin_dir), and whether that moves them from another directory (moving: what
    is there now is cpy's links, which record_bin_dir removes once the new ones are checked).
    """
    old = state.get('binDir')
    recording = bool(bin_dir) and old != bin_dir
    return recording, recording and bool(old) and os.path.realpath(old) != os.path.realpath(bin_dir)


def record_bin_dir(state, bin_dir, moving):
    """
    The links are made in `bin_dir` from now on: recorded as the state's bin dir, for the caller to
    write. `moving` (links_to): cpy's links in the bin dir recorded before (to any install it
    records) are removed, so that no python3 there runs the version that was current. Says where
    they were, when any was removed.
    """
    old = state.get('binDir')
    state['binDir'] = bin_dir
    if not moving:
        return None
    prefixes = [entry['prefix'] + '/bin/' for entry in state['installs'].values()]
    lines = sorted(set(filter(None, (release_line(v) for v in state['installs']))))
    removed = False
    for name in [n for n, _ in LINKS] + [t % line for line in lines for t in VERSIONED_LINKS]:
        path = os.path.join(old, name)
        try:
            if any(os.readlink(path).startswith(p) for p in prefixes):
                os.unlink(path)
                removed = True
        except OSError:
            pass
    return old if removed else None


def linked_into(state, prefix):
    """The state's bin dir when its python3 is cpy's link into `prefix` (python3 runs that tree), else None."""
    bin_dir = state.get('binDir')
    if not bin_dir or not prefix:
        return None
    try:
        return bin_dir if os.readlink(os.path.join(bin_dir, 'python3')).startswith(prefix + '/bin/') else None
    except OSError:
        return None


def activate(state_dir, bin_dir, prefix, keep_foreign):
    """`current` first (one rename: the record of what is current), then each bin link. Without
    `keep_foreign`, its callers (record, use) have checked the links, before the state changed."""
    swap_link(os.path.join(state_dir, CURRENT_LINK), prefix)
    apply_links(link_changes(bin_dir, prefix, keep_foreign))


def apply_links(changes):
    """Each (path, target) of link_changes or versioned_changes: linked, or with no target removed."""
    for path, target in changes:
        if target:
            swap_link(path, target)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


# --- the commands ---------------------------------------------------------------------------

def record(a):
    """Records an install in the state and, with --current, makes it current (the one before it is kept for rollback)."""
    state_dir, bin_dir, version, prefix, make_current = a['state-dir'], a.get('bin-dir'), a['version'], a['prefix'], 'current' in a
    # The marker was read before the state lock, without the prefix's (an install already there):
    # a cpy uninstall (which renames the tree away under this lock) may have run since.
    m = read_marker(prefix)
    if not m or m['version'] != version:
        raise Refusal('CPY_INSTALL_NOT_INSTALLED', '%s no longer holds CPython %s (a cpy uninstall, or another install of that prefix, at the same time)' % (prefix, version),
                      'run the install again: it installs CPython %s anew' % version)
    state = read_state(state_dir)
    now = current_prefix(state_dir)
    # The current version installed again at another prefix, not to be made current (--no-activate):
    # its one entry moves to the new tree, so `current` and its links follow it. They stayed on the
    # old tree, which cpy then no longer listed: no version was current, python3 ran a tree cpy did
    # not know, and `use` of the version said "already using" as it switched.
    was = state['installs'].get(version, {}).get('prefix')
    if not make_current and now and was and was != prefix and os.path.realpath(was) == os.path.realpath(now):
        make_current = True
    # --no-link (no bin dir) changes no links. Where the recorded links run the current version,
    # making another one current would have cpy say one version and python3 run another: it is
    # recorded and not made current (`held`: cpy use switches). The same version at another prefix
    # moves its one entry, and python3 still runs the old tree (`stillLinked`, said with `left`).
    still_linked = linked_into(state, now) if make_current and not bin_dir and now and now != prefix else None
    held = version_of(state_dir, state, now) if still_linked else None
    if held == version:
        held = None
    elif held:
        make_current = False
    switching = make_current and now != prefix
    # An install that is not made current leaves the links where they are (only its line's are made).
    if bin_dir and not make_current and state.get('binDir'):
        bin_dir = state['binDir']
    recording, moving = links_to(state, bin_dir)
    # Someone else's entry in the bin dir refuses a switch, or a move of the links into it, before
    # the state changes (after it, the state would name as previous the version still current).
    if switching or (make_current and moving):
        check_links(bin_dir, prefix, recorded_prefixes(state))
    keep_foreign = not (switching or moving)
    before = state['installs'].get(version, {}).get('prefix')
    # The links named for release lines, as they are to be once this is recorded.
    versioned = versioned_changes(bin_dir, dict(state, installs=dict(state['installs'], **{version: {'prefix': prefix}})), prefix if make_current else now)
    if 'check' not in a and ((make_current and link_changes(bin_dir, prefix, keep_foreign)) or versioned):
        ready_bin_dir(bin_dir)
    entered = before == prefix
    # Other versions recorded at this very prefix: this install replaced their tree (an upgrade in
    # place, --prefix /opt/python). They are no longer installed: their entries go, and `previous`
    # if it named one (a rollback to it would run this version, or nothing once uninstalled).
    real = os.path.realpath(prefix)
    replaced = sorted(v for v, entry in state['installs'].items() if v != version and os.path.realpath(entry['prefix']) == real)
    # As they were recorded (the same tree by another spelling: a link, a trailing slash): their links name that.
    replaced_at = {v: state['installs'][v]['prefix'] for v in replaced}
    if 'check' in a:
        # Whether a record under the state lock would change anything (install.sh asks first, so
        # an install already there takes no lock, as the library's cheap check).
        return {'changes': not entered or switching or recording or bool(replaced) or (make_current and bool(link_changes(bin_dir, prefix, True))) or bool(versioned)}
    moved = None
    if not entered or switching or recording or replaced:
        for gone in replaced:
            del state['installs'][gone]
        if state['previous'] in replaced:
            state['previous'] = None
        state['installs'][version] = {'prefix': prefix}
        if switching:
            leaving = version_of(state_dir, state, now)
            if leaving and leaving != version:
                state['previous'] = leaving
        moved = record_bin_dir(state, bin_dir, moving) if recording else None
        write_state(state_dir, state)
    # Current already: only its links are made whole, around what is not cpy's.
    if make_current:
        activate(state_dir, bin_dir, prefix, keep_foreign=keep_foreign)
    apply_links(versioned)
    # The links named for a replaced version's line ran its programs, gone with its tree: they go,
    # or point at another install of the line (python3.12 was left leading nowhere, for tox to find).
    # (--no-link changes no link.)
    for gone in replaced if bin_dir else ():
        relink_line(bin_dir, state, current_prefix(state_dir), unlink_into(bin_dir, replaced_at[gone], gone, only_dangling=True))
    done = {'current': make_current or now == prefix}
    if moved:
        done['movedFrom'] = moved
    # The version was recorded at another prefix, whose tree is still there: one version has one
    # entry, so that tree is no longer listed, used or uninstalled by cpy. Said, for the caller to warn.
    # (The same tree by another name, a link or a trailing slash, is no other tree.)
    old = read_marker(before) if before and not entered and os.path.realpath(before) != os.path.realpath(prefix) else None
    if old and old.get('version') == version:
        done['left'] = before
        if still_linked:
            done['stillLinked'] = still_linked
    if held:
        done['held'] = {'version': held, 'binDir': still_linked}
    if replaced:
        done['replaced'] = replaced
    return done


def repair_hint(version, prefix, holds=None):
    """What repairs an install with no valid marker of its version (the library's repairHint)."""
    again = 'cpy install %s --prefix %s' % (version, prefix)
    if holds:
        return ('%s holds CPython %s now: forget %s (cpy uninstall %s; that tree stays), and record %s there (cpy install %s --prefix %s)'
                % (prefix, holds, version, version, holds, holds, prefix))
    if not os.path.exists(prefix):
        return '%s is gone: install it again (%s), or forget it (cpy uninstall %s)' % (prefix, again, version)
    if os.path.exists(os.path.join(prefix, MARKER_FILE)):
        return 'install it again (%s): its tree is replaced' % again
    return ('its install marker is gone, so cpy does not replace the files in %s: if they are that install, delete %s yourself, '
            'then install it again (%s)' % (prefix, prefix, again))


def use(a):
    """Makes an installed version the one python3 runs."""
    state_dir, bin_dir, version = a['state-dir'], a.get('bin-dir'), a['version']
    state = read_state(state_dir)
    entry = state['installs'].get(version)
    if not entry:
        raise not_installed(version, list(state['installs']))
    m = read_marker(entry['prefix'])
    if not m:
        raise Refusal('CPY_INSTALL_BROKEN', '%s (CPython %s) is not a complete install' % (entry['prefix'], version), repair_hint(version, entry['prefix']))
    # Another version installed over it (its record not written): used, python3 would run that one.
    if m['version'] != version:
        raise Refusal('CPY_INSTALL_BROKEN', '%s (CPython %s) holds CPython %s now: it is not made the one python3 runs' % (entry['prefix'], version, m['version']),
                      repair_hint(version, entry['prefix'], m['version']))
    came_from = version_of(state_dir, state, current_prefix(state_dir))
    recording, moving = links_to(state, bin_dir)
    if came_from != version or moving:
        check_links(bin_dir, entry['prefix'], recorded_prefixes(state))
    keep_foreign = came_from == version and not moving
    versioned = versioned_changes(bin_dir, state, entry['prefix'])
    relinked = bool(link_changes(bin_dir, entry['prefix'], keep_foreign) or versioned)
    if relinked:
        ready_bin_dir(bin_dir)
    moved = None
    if came_from != version or recording:
        if came_from != version:
            state['previous'] = came_from
        moved = record_bin_dir(state, bin_dir, moving) if recording else None
        write_state(state_dir, state)
    # Also when it is current already: its links may be missing (a run killed between the
    # `current` link and them); only what differs changes.
    activate(state_dir, bin_dir, entry['prefix'], keep_foreign=keep_foreign)
    apply_links(versioned)
    done = {'version': version, 'prefix': entry['prefix'], 'from': came_from, 'relinked': relinked or bool(moved)}
    if moved:
        done['movedFrom'] = moved
    return done


def forget(a):
    """Removes an installed version (renamed away first, then deleted; where no valid marker says the
    files are still cpy's, they stay); its state entry, and with --force when current, its links."""
    state_dir, bin_dir, version, locked = a['state-dir'], a.get('bin-dir'), a['version'], a['prefix']
    state = read_state(state_dir)
    entry = state['installs'].get(version)
    if not entry:
        raise not_installed(version, list(state['installs']), removing=True)
    prefix = entry['prefix']
    if prefix != locked:
        return {'moved': prefix}
    # Another version installed at the same prefix since: its tree stays; only this entry goes.
    there = read_marker(prefix)
    if there and there['version'] != version:
        del state['installs'][version]
        if state['previous'] == version:
            state['previous'] = None
        write_state(state_dir, state)
        # Its links into that prefix run nothing now (the other version's tree has other programs).
        unlinked = unlink_into(bin_dir, prefix, version, only_dangling=True)
        relink_line(bin_dir, state, current_prefix(state_dir), unlinked)
        return {'version': version, 'prefix': prefix, 'wasCurrent': False, 'unlinked': unlinked}
    current = current_prefix(state_dir)
    was_current = current == prefix
    # Before the tree is renamed away: the python3 running this may be the one being removed.
    import shutil
    # No marker there: nothing says those files are still the install cpy made (its marker deleted,
    # or another Python built in its place), so the version and its links go and the files stay.
    kept = not there and holds_something(prefix)
    if was_current and 'force' not in a:
        raise Refusal('CPY_INSTALL_IN_USE', 'CPython %s is the current version (%s)' % (version, prefix),
                      'switch first (cpy use <other version>), or pass --force to remove it and its python3 links'
                      + (' (its files stay: it has no valid install marker)' if kept else ''))
    # python3 in the bin dir leads into it though another version is current (a link made by hand, or
    # by an install of another state): removed, it would leave python3 running nothing.
    python3_link = os.path.join(bin_dir, 'python3') if bin_dir else None
    try:
        runs_it = python3_link is not None and os.readlink(python3_link) == os.path.join(prefix, 'bin', 'python3')
    except OSError:
        runs_it = False
    if runs_it and not was_current and 'force' not in a:
        raise Refusal('CPY_INSTALL_IN_USE', 'CPython %s is what %s runs (the link leads into %s), though the current version is %s'
                      % (version, python3_link, prefix, version_of(state_dir, state, current) or 'none'),
                      'point python3 at the current version first (cpy use <version>), or pass --force to remove it and its links')
    # A prefix that is a link (made by hand: the tree moved to another disk): the tree it points to
    # goes, then the link (the link alone was renamed, and the tree left unrecorded).
    # A link that leads nowhere (that tree deleted) holds nothing: it goes.
    tree = os.path.realpath(prefix) if not kept and os.path.islink(prefix) else prefix
    gone = os.path.join(os.path.dirname(tree), '.cpy-old-%s-%s' % (os.path.basename(tree), random_id()))
    link = os.readlink(prefix) if tree != prefix else None
    if not kept:
        try:
            os.rename(tree, gone)
        except FileNotFoundError:
            pass
        if link is not None:
            try:
                os.unlink(prefix)
            except FileNotFoundError:
                pass
    del state['installs'][version]
    if state['previous'] == version:
        state['previous'] = None
    try:
        write_state(state_dir, state)
    except BaseException:
        # The state still records it (a full or read-only disk): its tree goes back where it was,
        # not left hidden beside it for ever.
        if not kept:
            try:
                os.rename(gone, tree)
                if link is not None and not os.path.lexists(prefix):
                    os.symlink(link, prefix)
            except OSError:
                pass
        raise
    if was_current:
        try:
            os.unlink(os.path.join(state_dir, CURRENT_LINK))
        except FileNotFoundError:
            pass
    # Every link into its tree goes, current or not (a link made by hand, or one a --no-link
    # install of the same version at another prefix left on the old tree); those named for its
    # line then point at another install of the line, if there is one.
    try:
        unlinked = unlink_into(bin_dir, prefix, version)
        relink_line(bin_dir, state, current_prefix(state_dir), unlinked)
    finally:
        shutil.rmtree(gone, ignore_errors=True)
    # Which links went: none when it was linked from another bin dir than the state records, which this one cannot know.
    done = {'version': version, 'prefix': prefix, 'wasCurrent': was_current, 'unlinked': unlinked}
    if kept:
        done['kept'] = True
    return done


def holds_something(prefix):
    """Whether anything is at `prefix` besides an empty directory or a link that leads nowhere (a
    file or another link counts; so does what cannot be read)."""
    try:
        if os.path.islink(prefix) or not os.path.isdir(prefix):
            return os.path.exists(prefix)
        return bool(os.listdir(prefix))
    except OSError:
        return True


def unlink_into(bin_dir, prefix, version, only_dangling=False):
    """Removes the bin links (LINKS, and those named for the version's line) that run a program of `prefix`'s; says which."""
    line = release_line(version)
    names = [(name, runs) for name, runs in LINKS] + [(t % line, t % line) for t in VERSIONED_LINKS if line]
    unlinked = []
    for name, runs in names if bin_dir else ():
        path, target = os.path.join(bin_dir, name), os.path.join(prefix, 'bin', runs)
        try:
            if os.readlink(path) == target and not (only_dangling and os.path.exists(target)):
                os.unlink(path)
                unlinked.append(name)
        except OSError:
            pass
    return unlinked


def relink_line(bin_dir, state, current, unlinked):
    """The links named for release lines made whole (versioned_changes); one that cannot be made is left
    (the version is removed already). A name made again is taken out of `unlinked`."""
    if not bin_dir or not os.path.isdir(bin_dir):
        return
    for path, target in versioned_changes(bin_dir, state, current):
        try:
            swap_link(path, target)
        except OSError:
            continue
        if os.path.basename(path) in unlinked:
            unlinked.remove(os.path.basename(path))


COMMANDS = {'mark': mark, 'sign-marker': sign_marker, 'record': record, 'use': use, 'forget': forget}
FLAGS = ('current', 'force', 'check')
# What serve runs: an install's marker, then its record. Both need nothing imported after start-up.
SERVED = ('mark', 'record')


def parse(argv):
    args, i = {}, 0
    while i < len(argv):
        name = argv[i][2:] if argv[i].startswith('--') else None
        if not name:
            raise SystemExit('cpy_state.py: unexpected argument %r' % argv[i])
        if name in FLAGS:
            args[name], i = True, i + 1
        elif i + 1 < len(argv):
            args[name], i = argv[i + 1], i + 2
        else:
            raise SystemExit('cpy_state.py: --%s needs a value' % name)
    if args.get('bin-dir') == '':
        del args['bin-dir']
    return args


def refused(r):
    return {'error': {'code': r.code, 'message': r.message, 'hint': r.hint, 'details': r.details}}


def serve():
    """
    Runs commands read from stdin, one a line as a JSON array (["mark", "--tree", ...]), in turn,
    and prints one JSON line for each: {"ok": result}, or {"error": ...} for a refusal. Ends at the
    end of stdin. The library starts it while the tree is relocated and checked (its start-up off
    the install's path), then runs mark, and record once the tree it runs from has been renamed into
    place: one python3 start for both. So it runs only what needs nothing imported after start-up
    (an import after the rename would look in the staging directory, gone by then).
    """
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        argv = json.loads(line)
        if not argv or argv[0] not in SERVED:
            raise SystemExit('cpy_state.py serve: runs %s, not %r' % (' and '.join(SERVED), argv[:1]))
        try:
            reply = {'ok': COMMANDS[argv[0]](parse(argv[1:]))}
        except Refusal as r:
            reply = refused(r)
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


def main(argv):
    # Each command changes the state in steps (a tree renamed away, state.json, `current`, the
    # links, a tree deleted): a Ctrl-C, which reaches the whole process group, a closed terminal or
    # a SIGTERM sent to the group (timeout, systemd's stop) does not stop one half way (an
    # uninstall left a hidden copy of the tree and no record of it). They take well under a
    # second; serve ends when its stdin does, and the caller stops on those signals itself.
    for stop in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    if argv == ['serve']:
        return serve()
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write('usage: cpy_state.py {%s} --name value ... | cpy_state.py serve\n' % ','.join(COMMANDS))
        return 2
    try:
        result = COMMANDS[argv[0]](parse(argv[1:]))
    except Refusal as r:
        sys.stdout.write(json.dumps(refused(r)) + '\n')
        return 3
    sys.stdout.write(json.dumps(result) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
cpy_state_py
}
# record_install VERSION PREFIX [new]: recorded in the state and made current, with its links.
# An install already there is asked first without the state lock: one whose record and links are
# right takes none, so a holder of the state lock is not waited for (the library's cheap check). A
# tree just put in place (new) is recorded at once: that python3 start would be spent for nothing.
record_install() {
  if [ "${3:-}" != new ]; then
    state_py "$2/bin/python3" record --check --state-dir "$STATE_DIR" --bin-dir "$BIN_DIR" --version "$1" --prefix "$2" --current
    state_said=
    IFS= read -r state_said <"$work/state.out" || true
    [ "$state_said" != '{"changes": false}' ] || return 0
  fi
  lock_take "$STATE_DIR/locks/state.lock" "$STATE_DIR"
  state_serve "$2/bin/python3" record --state-dir "$STATE_DIR" --bin-dir "$BIN_DIR" --version "$1" --prefix "$2" --current
  lock_release "$STATE_DIR/locks/state.lock"
  # The version was recorded at another prefix whose tree is still there: that tree is left
  # unlisted (the library's leftBehind). Prefixes hold no quote, so the reply is read as it is.
  state_said=
  IFS= read -r state_said <"$work/state.out" || true
  case $state_said in
    *'"left": "'*)
      left=${state_said#*'"left": "'}
      left=${left%%'"'*}
      say "warning: CPython $1 was recorded at $left, and is now at $2: the tree at $left stays, no longer listed, used or uninstalled by cpy; remove it yourself if it is not needed"
      ;;
  esac
  # Other versions recorded at this prefix, whose tree this install replaced (the library's replacedAt).
  case $state_said in
    *'"replaced": ['*)
      replaced=${state_said#*'"replaced": ['}
      replaced=$(printf '%s' "${replaced%%]*}" | tr -d '"')
      case $replaced in *,*) they='they are' them=them ;; *) they='it is' them=it ;; esac
      say "warning: CPython $replaced was installed at $2, which now holds CPython $1: $they no longer installed (cpy rollback does not go back to $them); each version gets a prefix of its own unless one is given"
      ;;
  esac
}

# --- locks: @cpy/install's withLock (lock.ts), the same files ------------------------------
# A lock is a file that appears with its holder in it, "<pid> <host>/<pid namespace> <token>
# <start>" (no newline; the namespace and start left out where /proc does not say): written to a
# private file first, then hard-linked to the lock's name, which fails when the name exists (the
# library does the same, so the two exclude each other). A holder on this host and in this pid
# namespace whose process is gone is stale, and so is an empty lock over a minute old: the lock is
# renamed away (one waiter wins that rename), given back if someone took it meanwhile, and taken.
# A live holder, or one on another host or in another pid namespace (a container sharing the
# volume), is waited for, up to CPY_LOCK_TIMEOUT_MS. A lock without a namespace (a cpy before
# 2026-12-03) is judged by its host alone.
held_locks=
lock_me=
lock_taking=
# lock_take LOCK WHAT [WAIT_MS]: holds LOCK (released by lock_release or on exit); WHAT names it in
# the wait notice. A lock that cannot be had is CPY_INSTALL_LOCKED; with WAIT_MS (a lock that
# only guards a record, as the library's checkIndexAge takes it), it is waited for that long,
# and a lock that cannot be had makes lock_take return 1, silently, holding nothing.
lock_take() {
  case " $held_locks " in *" $1 "*) return 0 ;; esac
  lock_wait_ms=${3:-}
  if [ ! -d "${1%/*}" ] && ! lock_said=$(LC_ALL=C mkdir -p "${1%/*}" 2>&1); then
    # mkdir names the directory it could not make: 'cannot create directory '/x': Permission denied'.
    lock_dir=${lock_said#*\'} lock_dir=${lock_dir%%\'*}
    case $lock_said in *"'"*"'"*) ;; *) lock_dir=${1%/*} ;; esac
    lock_write_fault "$lock_dir" "$lock_said"
    lock_refused "cannot create the lock $1: cannot make ${1%/*}" "check that ${1%/*} is writable"
    return 1
  fi
  # (ln would put its link inside a directory of that name.)
  [ ! -d "$1" ] || { lock_refused "cannot take the lock $1: it is a directory" "remove $1 (no cpy makes it), then run again"; return 1; }
  if [ -z "$lock_me" ]; then
    { IFS= read -r host_name </proc/sys/kernel/hostname; } 2>/dev/null || host_name=$(uname -n)
    { IFS= read -r lock_token </proc/sys/kernel/random/uuid; } 2>/dev/null || lock_token="$(date +%s)-$(random8)"
    lock_start=$(process_start $$)
    # This shell's pid namespace: the number in /proc/$$/ns/pid (pid:[4026531836]).
    lock_ns=$(readlink "/proc/$$/ns/pid" 2>/dev/null || true)
    lock_ns=${lock_ns#pid:\[} lock_ns=${lock_ns%\]}
    case $lock_ns in '' | *[!0-9]*) lock_ns= ;; esac
    lock_me="$$ $host_name${lock_ns:+/$lock_ns} $lock_token${lock_start:+ $lock_start}"
  fi
  lock_taking=$1.take-$$
  # A take file a killed run with this pid left may still be the lock itself (hard-linked):
  # removed first, so writing ours cannot rewrite that lock.
  if [ -e "$lock_taking" ] || [ -L "$lock_taking" ]; then rm -f "$lock_taking"; fi
  if ! { printf '%s' "$lock_me" >"$lock_taking"; } 2>/dev/null; then
    # dash's printf says only "I/O error": written again by cat, which says what the file system said.
    lock_said=$(printf '%s' "$lock_me" | LC_ALL=C cat 2>&1 >"$lock_taking") || true
    rm -f "$lock_taking"
    lock_write_fault "${1%/*}" "$lock_said"
    lock_refused "cannot create the lock $1: cannot write $lock_taking" "check that ${1%/*} is writable"
    return 1
  fi
  lock_waited=false
  while ! LC_ALL=C ln "$lock_taking" "$1" 2>"$work/lock.err"; do
    # No hard links on this file system (vfat, some FUSE): the lock is created with O_EXCL
    # (noclobber) and written, as the library does.
    if grep -q -e 'Operation not permitted' -e 'not supported' "$work/lock.err"; then
      (set -C && printf '%s' "$lock_me" >"$1") 2>"$work/lock.err" && break
    fi
    if ! grep -q -e 'File exists' -e 'cannot overwrite' "$work/lock.err"; then
      lock_write_fault "${1%/*}" "$(head -n 1 "$work/lock.err")"
      lock_refused "cannot create the lock $1: $(head -n 1 "$work/lock.err")" "check that ${1%/*} is writable"
      return 1
    fi
    # Gone meanwhile (released): try again at once. Unreadable: waited for, as a live holder.
    if ! holder=$(cat "$1" 2>/dev/null); then
      [ -e "$1" ] || continue
      holder=
    fi
    lock_pid=${holder%% *}
    case $holder in *' '*) lock_host=${holder#* } lock_host=${lock_host%% *} ;; *) lock_host= ;; esac
    # Its pid namespace, when it names one (<host>/<namespace>).
    case $lock_host in */*) lock_their_ns=${lock_host#*/} lock_host=${lock_host%%/*} ;; *) lock_their_ns= ;; esac
    # Its fourth field, when it has one: when its process started (process_start).
    lock_rest=${holder#* } lock_rest=${lock_rest#* }
    case $lock_rest in *' '*) lock_started=${lock_rest#* } ;; *) lock_started= ;; esac
    # Stale: its process is gone (this host and pid namespace) or its pid is now another process's
    # (another start: a restart handed it on), or it is empty and older than a minute (a library
    # killed as it created the file, before it wrote it: cpy before 2026-12-02).
    if { [ "$lock_host" = "$host_name" ] && { [ -z "$lock_their_ns" ] || [ -z "$lock_ns" ] || [ "$lock_their_ns" = "$lock_ns" ]; } &&
      matches "$lock_pid" '^0*[1-9][0-9]{0,9}$' &&
      { ! process_alive "$lock_pid" || { [ -n "$lock_started" ] && lock_now=$(process_start "$lock_pid") && [ -n "$lock_now" ] && [ "$lock_now" != "$lock_started" ]; }; }; } ||
      { [ -z "$holder" ] && [ ! -s "$1" ] && [ -n "$(find "$1" -prune -mmin +1 2>/dev/null)" ]; }; then
      grave=$1.stale-$$-$(random8)
      if mv "$1" "$grave" 2>/dev/null; then
        # Someone took the lock between our read and our rename: give it back.
        [ "$(cat "$grave" 2>/dev/null)" = "$holder" ] || ln "$grave" "$1" 2>/dev/null || true
        rm -f "$grave"
      fi
      continue
    fi
    if [ "$lock_waited" = false ]; then
      lock_waited=true
      lock_deadline=$(($(now_ms) + ${lock_wait_ms:-${CPY_LOCK_TIMEOUT_MS:-600000}}))
      say "waiting for another install of $2 (process $lock_pid on $lock_host)"
    fi
    [ "$(now_ms)" -le "$lock_deadline" ] ||
      { lock_refused "another install holds $1 (process $lock_pid on $lock_host)" "wait for it to finish; if no cpy is running there, remove $1"; return 1; }
    sleep 0.1 2>/dev/null || sleep 1
  done
  rm -f "$lock_taking"
  lock_taking=
  held_locks="$held_locks $1"
}
# lock_refused MESSAGE HINT: the lock lock_take is taking cannot be had: CPY_INSTALL_LOCKED, or
# with a WAIT_MS given, nothing held and status 1.
# lock_write_fault DIR SAID: a lock that cannot be made because its file system refused the write
# (SAID: what mkdir, cat, ln or the shell said: no space, a quota, read-only, no permission) is
# that, naming DIR (CPY_INSTALL_DISK_FULL, CPY_INSTALL_NOT_WRITABLE), as the library's withLock
# says it; anything else returns, for lock_refused.
lock_write_fault() {
  case $2 in *'No space left on device'* | *'Disk quota exceeded'* | *'Read-only file system'* | *'Permission denied'* | *'Operation not permitted'*) refused_write "$1" "$2" ;; esac
}
lock_refused() {
  [ -n "$lock_wait_ms" ] || fail CPY_INSTALL_LOCKED "$1" "$2"
  [ -z "$lock_taking" ] || rm -f "$lock_taking"
  lock_taking=
  return 1
}
# lock_release LOCK: removed if it still holds this run.
lock_release() {
  lock_holder=
  { IFS= read -r lock_holder <"$1"; } 2>/dev/null || true
  [ "$lock_holder" != "$lock_me" ] || rm -f "$1"
  rest=
  for l in $held_locks; do [ "$l" = "$1" ] || rest="$rest $l"; done
  held_locks=$rest
}
# process_start PID: when it started, "<clock ticks since boot>@<boot id>" (the library's
# processStart); nothing where /proc does not say. The name in /proc/PID/stat, in parentheses, may
# hold spaces: the fields are counted after its last ") ".
process_start() {
  { IFS= read -r ps_stat <"/proc/$1/stat" && IFS= read -r ps_boot </proc/sys/kernel/random/boot_id; } 2>/dev/null || return 0
  # shellcheck disable=SC2086 # the fields, split on spaces
  set -f && set -- ${ps_stat##*) } && set +f
  matches "${20:-}" '^[0-9]+$' && printf '%s@%s' "${20}" "$ps_boot"
  return 0
}
# process_alive PID: a process with this pid exists here (kill -0; as root it cannot be refused).
process_alive() { kill -0 "$1" 2>/dev/null || [ -d "/proc/$1" ]; }
# now_ms: milliseconds since the epoch (to the second where date has no %N).
now_ms() {
  t=$(date +%s%N)
  case $t in *[!0-9]*) echo "$(($(date +%s) * 1000))" ;; *) echo "$((t / 1000000))" ;; esac
}
random8() { od -An -N4 -tx1 /dev/urandom | tr -d ' \n'; }
# The lock of an install prefix, as the library names it: sha256 of the prefix, 16 hex digits.
lock_prefix() { short_hash "$1" && lock_take "$STATE_DIR/locks/$short.lock" "$1"; }

# --- replacing an install: the journal and its recovery (the library's putInPlace, recoverPrefix)
# The journal, beside the prefix, is the library's JSON: {"prefix":"...","staged":"...","aside":"..."}
# (paths of letters, digits and . _ / + @ - only, so printf writes it and json_flatten reads it).
journal_of() { up "$1" && printf '%s/.cpy-journal-%s.json' "$up" "${1##*/}"; }
# Set while a replacement is between its journal and its second rename.
replacing=false
# put_in_place TREE PREFIX: one rename, or (the prefix exists: a broken install or another build)
# two renames covered by the journal, written first. placed: installed or replaced.
# packages_lost PREFIX TREE: in $lost, what pip installed into PREFIX's own site-packages (not a
# venv's) that TREE, replacing it, does not hold: "name version, ..." in order, or nothing. The
# library's packagesLost.
packages_lost() {
  lost=
  for pl_dist in "$1"/lib/python[0-9]*.[0-9]*/site-packages/*-*.dist-info "$1"/lib/python[0-9]*.[0-9]*/site-packages/*-*.egg-info; do
    [ -e "$pl_dist" ] || continue
    pl_dist=${pl_dist##*/}
    pl_name=${pl_dist%%-*}
    pl_kept=false
    for pl_other in "$2"/lib/python[0-9]*.[0-9]*/site-packages/"$pl_name"-*.dist-info "$2"/lib/python[0-9]*.[0-9]*/site-packages/"$pl_name"-*.egg-info; do
      if [ -e "$pl_other" ]; then pl_kept=true && break; fi
    done
    [ "$pl_kept" = true ] || { pl_dist=${pl_dist#*-} && lost="$lost$pl_name ${pl_dist%.*-info}
"; }
  done
  [ -z "$lost" ] || lost=$(printf '%s' "$lost" | LC_ALL=C sort | awk 'NR > 1 { printf ", " } { printf "%s", $0 }')
}
put_in_place() {
  # An empty directory (made for it) is no install to replace: one rename, as into nothing.
  if [ ! -e "$2" ] || { [ -d "$2" ] && [ ! -L "$2" ] && rmdir "$2" 2>/dev/null; }; then
    mv -T "$1" "$2"
    placed=installed
    return 0
  fi
  journal=$(journal_of "$2")
  up "$2" && aside=$up/.cpy-old-${2##*/}-$(random8)
  printf '{"prefix":"%s","staged":"%s","aside":"%s"}' "$2" "$1" "$aside" >"$journal.tmp-$$"
  mv -f "$journal.tmp-$$" "$journal"
  # A signal between the renames is acted on after them (a kill -9 is the journal's job).
  interrupted=false
  trap 'interrupted=true' INT TERM
  replacing=true
  mv -T "$2" "$aside"
  mv -T "$1" "$2"
  replacing=false
  # In place from here: a stop while the old tree is deleted is no cancelled install.
  placed=replaced
  trap stopped INT TERM
  rm -f "$journal"
  rm -rf "$aside"
  [ "$interrupted" = false ] || exit 130
}
# journal_names_ours STAGING-START STAGED OLD-START ASIDE: STAGED is a staging directory (or a
# tree in one) and ASIDE a set-aside tree of this prefix, neither with `..`.
journal_names_ours() {
  case /$2/$4/ in */../*) return 1 ;; esac
  case $2 in "$1"?*) ;; *) return 1 ;; esac
  case $4 in "$3"?*) ;; *) return 1 ;; esac
  case ${4#"$3"} in */*) return 1 ;; esac
}
# recover_prefix PREFIX (with the prefix lock held): what a killed run left beside it. A
# replacement stopped between its two renames (its journal there, the prefix missing) is
# finished: the staged tree was complete and validated before the journal was written (the
# old tree is put back only when the staged one is gone). Then the journal, and the staging and
# set-aside trees of dead runs, are removed. A journal is followed only when it names this
# prefix and trees beside it of the names both installers give them.
recover_prefix() {
  up "$1" && parent=$up
  base=${1##*/}
  journal=$(journal_of "$1")
  if [ -f "$journal" ] && [ ! -e "$1" ] && json_flatten "$journal" >"$work/journal.flat" 2>/dev/null; then
    j_staged=$(jget "$work/journal.flat" staged)
    j_aside=$(jget "$work/journal.flat" aside)
    if [ "$(jget "$work/journal.flat" prefix)" = "$1" ] && journal_names_ours "$parent/.cpy-staging-$base-" "$j_staged" "$parent/.cpy-old-$base-" "$j_aside"; then
      if [ -e "$j_staged" ]; then
        mv -T "$j_staged" "$1"
        say "finished the replacement of $1 that a killed run left (its journal $journal)"
      elif [ -e "$j_aside" ]; then
        mv -T "$j_aside" "$1"
        say "put back the install of $1 that a killed run had set aside (its journal $journal)"
      fi
    fi
  fi
  # Eight characters after the name, the suffix both installers give: never another prefix's
  # trees (the staging of /opt/py-3 also starts with .cpy-staging-py-). (rm runs only for what
  # is there: a pattern that matches nothing stays as written.)
  for left in "$journal" "$journal".tmp-* "$parent"/.cpy-staging-"$base"-???????? "$parent"/.cpy-old-"$base"-????????; do
    if [ -e "$left" ] || [ -L "$left" ]; then rm -rf "$left"; fi
  done
}

# --- the index: choosing the build of a version request (the library's resolve.ts) -------------
is_full_version() { matches "$1" "$VERSION_RE"; }
# The request as people say it: `CPython 3.13`, `the latest CPython`.
describe_request() { if [ "$1" = latest ]; then echo 'the latest CPython'; else echo "CPython $1"; fi; }
# answers VERSION REQUEST: the same version, or a final release that starts with the request's parts.
answers() {
  if is_full_version "$2"; then [ "$1" = "$2" ]; return; fi
  case $1 in *a[0-9]* | *b[0-9]* | *rc[0-9]*) return 1 ;; esac
  [ "$2" = latest ] && return 0
  case $1. in "$2".*) return 0 ;; esac
  return 1
}

# parse_index FILE SOURCE: 0 with $work/index.flat; 1 with index_code, index_message and index_hint.
parse_index() {
  index_hint='point at the index.json cpy publish or cpy index add wrote'
  # Larger than the library reads (32 MiB), or not a JSON object (an artifact given as the index):
  # no index, said at once (the flattener took minutes on 17 MB of gzip).
  if [ "$(($(wc -c <"$1")))" -gt 33554432 ]; then
    index_code=CPY_INDEX_INVALID index_message="$2 is larger than 32 MiB: it is no cpy index (an artifact, or a page, given as one?)"
    return 1
  fi
  if [ "$(head -c 4096 "$1" | tr -d ' \t\r\n' | head -c 1)" != '{' ]; then
    index_code=CPY_INDEX_INVALID index_message="$2 is not a JSON object: it is no cpy index (an artifact, or a page, given as one?)"
    return 1
  fi
  if ! json_flatten "$1" >"$work/index.flat" 2>"$work/json.err"; then
    index_code=CPY_INDEX_INVALID index_message="$2 is $(head -n 1 "$work/json.err")"
    return 1
  fi
  sv=$(jget "$work/index.flat" schemaVersion)
  if matches "$sv" '^[0-9]+$' && [ "$sv" != "$INDEX_SCHEMA_VERSION" ]; then
    index_code=CPY_INDEX_UNSUPPORTED index_message="$2 is a cpy index of schema version $sv; this cpy reads version $INDEX_SCHEMA_VERSION"
    if [ "$sv" -gt "$INDEX_SCHEMA_VERSION" ]; then index_hint='update cpy (or the Feature) to read it'; else index_hint='it was written by an older cpy (the register of artifacts.json rows): make it again with cpy index add <artifact> --url <url> --index <file>'; fi
    return 1
  fi
  # The library's index schema (@cpy/artifact artifactIndexSchema), field by field.
  problem=$(awk -F '\t' -v pkg="$PACKAGE_NAME" '
    { v[$1] = substr($0, length($1) + 2) }
    $1 ~ /^artifacts\/[0-9]+\// { split($1, p, "/"); if (p[2] + 1 > n) n = p[2] + 1 }
    $1 ~ /^artifacts\/[0-9]+\/needs\/[0-9]+(\/|$)/ { split($1, p, "/"); if (p[4] + 1 > nn[p[2]]) nn[p[2]] = p[4] + 1 }
    function bad(path, m) { if (out == "") out = path ": " m }
    function has(k) { return (k in v) }
    function arr(k,   x) { if (v[k] == "[]") return 1; for (x in v) if (index(x, k "/") == 1) return 1; return 0 }
    END {
      if (v["schemaVersion"] != "2") bad("schemaVersion", "expected 2")
      if (!has("updatedAt")) bad("updatedAt", "required")
      if (!arr("artifacts")) bad("artifacts", "expected an array")
      for (i = 0; i < n && out == ""; i++) {
        k = "artifacts/" i "/"; at = "artifacts." i "."
        if (v[k "version"] !~ /^(0|[1-9][0-9]?[0-9]?)\.(0|[1-9][0-9]?[0-9]?)\.(0|[1-9][0-9]?[0-9]?)((a|b|rc)(0|[1-9][0-9]?[0-9]?))?$/) bad(at "version", "expected a CPython release version such as 3.13.5 or 3.14.0rc2")
        if (v[k "build"] !~ /^[1-9][0-9]*$/) bad(at "build", "expected an integer >= 1")
        if (v[k "os"] !~ /^[a-z][a-z0-9._-]*$/) bad(at "os", "invalid")
        if (v[k "osVersion"] !~ /^[0-9][0-9a-z._-]*$/) bad(at "osVersion", "invalid")
        if (v[k "arch"] !~ /^[a-z0-9_]+$/) bad(at "arch", "invalid")
        if (v[k "libc"] != "glibc" && v[k "libc"] != "musl") bad(at "libc", "expected glibc or musl")
        if (v[k "glibcFloor"] != "null" && v[k "glibcFloor"] !~ /^[0-9]+\.[0-9]+(\.[0-9]+)?$/) bad(at "glibcFloor", "invalid")
        if (!has(k "file")) bad(at "file", "required")
        if (v[k "url"] == "") bad(at "url", "required")
        if (length(v[k "sha256"]) != 64 || v[k "sha256"] !~ /^[0-9a-f]+$/) bad(at "sha256", "expected 64 lowercase hex digits")
        if (v[k "size"] !~ /^[0-9]+$/) bad(at "size", "expected an integer >= 0")
        if (!arr(k "needs")) bad(at "needs", "expected an array")
        if (v[k "state"] != "active" && v[k "state"] != "deprecated" && v[k "state"] != "removed") bad(at "state", "expected active, deprecated or removed")
        if (!has(k "publishedAt")) bad(at "publishedAt", "required")
        for (j = 0; j < nn[i] + 0; j++) {
          g = v[k "needs/" j "/group"]
          if (g != "critical" && g != "optional" && g != "tk") bad(at "needs." j ".group", "expected critical, optional or tk")
          if (v[k "needs/" j "/soname"] !~ /^[^ \t]+$/) bad(at "needs." j ".soname", "invalid")
          if (!arr(k "needs/" j "/packages")) bad(at "needs." j ".packages", "expected an array")
          if (!arr(k "needs/" j "/modules")) bad(at "needs." j ".modules", "expected an array")
          for (m = 0; has(k "needs/" j "/packages/" m); m++)
            if (v[k "needs/" j "/packages/" m] !~ ("^" pkg "$")) bad(at "needs." j ".packages." m, "not a package name")
        }
      }
      print out
    }' "$work/index.flat")
  if [ -n "$problem" ]; then
    index_code=CPY_INDEX_INVALID index_message="$2 is not a cpy index: $problem"
    return 1
  fi
}

# verify_index URL: with signers pinned, $work/index.json (fetched from URL) against URL.asc. A
# publish swaps the index and its signature by two renames: a missing or bad signature is read once
# more, with the index (as the library). 1 with sig_code, sig_message, sig_hint.
verify_index() {
  [ -n "$signers" ] || return 0
  if ! check_signature "$work/index.json" "$(with_suffix "$1" .asc)" "the index $(display_url "$1")"; then
    case $sig_code in CPY_SIGNATURE_INVALID | CPY_SIGNATURE_MISSING) ;; *) return 1 ;; esac
    fetch "$1" "$work/index.json" index optional || return 1
    check_signature "$work/index.json" "$(with_suffix "$1" .asc)" "the index $(display_url "$1")" || return 1
  fi
  say "the index $(display_url "$1") is signed by $signed_by ($signed_at)"
}

# short_hash TEXT: in $short, the first 16 hex digits of its sha256, as the library names a
# prefix's lock and an index's record.
short_hash() {
  short=$(printf '%s' "$1" | sha256sum)
  short=${short%"${short#????????????????}"}
}
# check_index_age LOCATION: the library's checkIndexAge (rollback protection). A signature says
# who made an index, not that it is the newest: a signed index older (updatedAt) than the one
# read at LOCATION before is refused; a newer one is recorded in
# $STATE_DIR/indexes/<short_hash LOCATION>.seen (its updatedAt, then LOCATION). The record changes
# only under the lock <record>.lock, read again there (the library's lock): two installs reading
# the index at once cannot move it back. Only the form cpy writes (toISOString: milliseconds, UTC)
# is compared, as text.
check_index_age() {
  [ -n "$signers" ] || return 0
  updated=$(jget "$work/index.flat" updatedAt)
  written_by_cpy "$updated" || return 0
  short_hash "$1"
  seen_file=$STATE_DIR/indexes/$short.seen
  ! index_newer "$seen_file" && return 0
  mkdir -p "$STATE_DIR/indexes" 2>/dev/null || return 0
  # The library's wait (30 s); a lock that cannot be had keeps the check, not the record.
  lock_take "$seen_file.lock" "$seen_file" 30000 || return 0
  if index_newer "$seen_file"; then
    { printf '%s\n%s\n' "$updated" "$1" >"$seen_file.tmp-$$" && mv -f "$seen_file.tmp-$$" "$seen_file"; } 2>/dev/null || rm -f "$seen_file.tmp-$$"
  fi
  lock_release "$seen_file.lock"
}
# index_newer RECORD: whether $updated is newer than what RECORD holds (or RECORD holds nothing cpy
# wrote); an older one is refused (CPY_INSTALL_INDEX_ROLLED_BACK).
index_newer() {
  seen=
  [ ! -f "$1" ] || IFS= read -r seen <"$1" || true
  written_by_cpy "$seen" || return 0
  [ "$seen" != "$updated" ] || return 1
  if awk -v a="$updated" -v b="$seen" 'BEGIN { exit !(a < b) }'; then
    fail CPY_INSTALL_INDEX_ROLLED_BACK "the index $index_source was updated at $updated, before the signed index this machine read there last (updated at $seen): an older index is served in its place" "a mirror or a cache may serve a stale copy, or someone replays an old signed index: check where the index comes from; to go back to that index on purpose, delete $1"
  fi
}
written_by_cpy() { case $1 in [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z) true ;; *) false ;; esac; }

# read_index LOCATION: the index in $work/index.flat and index_source. An `.../index.json` that
# is not there is read from `index.previous.json` beside it: a publish renames the old index
# there a moment before the new one takes its name (the library's fetchIndex). Each is verified
# against its own signature (index.json.asc, index.previous.json.asc) when signers are pinned.
read_index() {
  index_source=$(display_url "$1")
  say "reading the index $index_source"
  if fetch "$1" "$work/index.json" index optional; then
    verify_index "$1" || fail "$sig_code" "$sig_message" "$sig_hint"
    parse_index "$work/index.json" "$index_source" || fail "$index_code" "$index_message" "$index_hint"
    check_index_age "$1"
    return 0
  fi
  failure=$fetch_failure detail=$fetch_detail
  # Refused (401, 403): no unreachable index, and no installed version stands in for it.
  case $detail in 'HTTP 401' | 'HTTP 403') fail CPY_INSTALL_DOWNLOAD_FAILED "cannot get the index $(display_url "$1"): $detail, access denied" "$access_denied_hint" ;; esac
  if [ "$failure" = not-found ]; then
    nor=
    case $(printf '%s' "$1" | sed -E 's#[?#].*$##') in
      */index.json)
        previous=$(printf '%s' "$1" | sed -E 's#^([^?#]*/)index\.json#\1index.previous.json#')
        if fetch "$previous" "$work/index.json" index optional; then
          # There, but refused (its signature, the keys; or no index): said as such, as the library says it.
          verify_index "$previous" || fail "$sig_code" "$sig_message" "$sig_hint"
          parse_index "$work/index.json" "$(display_url "$previous")" || fail "$index_code" "$index_message" "$index_hint"
          index_source=$(display_url "$previous")
          say "$(display_url "$1") is not there ($detail; a publish may be replacing it): read $index_source instead"
          check_index_age "$1"
          return 0
        fi
        [ "$fetch_failure" != not-found ] || nor=' (nor index.previous.json beside it, which a publish serves while it replaces the index)'
        ;;
    esac
    fail CPY_INSTALL_INDEX_NOT_FOUND "cannot read the index $(display_url "$1"): $detail$nor" 'check indexUrl: cpy publish keeps it at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json'
  fi
  # Offline with a version of the line already here: asked for by its full version, it needs no index.
  here=
  case $VERSION in
    latest) here=$(grep -oE '"[0-9]+\.[0-9]+\.[0-9]+"' "$STATE_DIR/state.json" 2>/dev/null | tr -d '"' | sort -t . -k1,1n -k2,2n -k3,3n | tail -n 1) ;;
    *.*.*) ;;
    ?*) here=$(grep -oE "\"$(printf '%s' "$VERSION" | sed 's/\./\\./g')\.[0-9]+(\.[0-9]+)?\"" "$STATE_DIR/state.json" 2>/dev/null | tr -d '"' | sort -t . -k1,1n -k2,2n -k3,3n | tail -n 1) ;;
  esac
  if [ -n "$here" ]; then
    fail CPY_INSTALL_INDEX_UNAVAILABLE "cannot read the index $(display_url "$1"): $detail" "check the network (proxy settings); CPython $here is installed here: set version to $here to keep it with no index, or give the artifact itself (artifactUrl)"
  fi
  fail CPY_INSTALL_INDEX_UNAVAILABLE "cannot read the index $(display_url "$1"): $detail" 'check the network (proxy settings), or give the artifact itself (artifactUrl)'
}

# choose_build DEPRECATED_TOO: the first candidate (in $work/candidates, in order) that answers
# the request and fits this host, in chosen_*; every one looked at, and why, in $work/considered.
# DEPRECATED_TOO true: a deprecated build is judged as an active one.
choose_build() {
  : >"$work/considered"
  while IFS="$TAB" read -r i ver build os osv arch libc floor file url sha state <&3; do
    [ "$floor" != - ] || floor=
    [ "$file" != - ] || file=
    if [ -n "$SHA256" ] && [ "$sha" != "$SHA256" ]; then
      fit=no why='not the build whose sha256 was given'
    elif [ "$state" != active ] && { [ "$state" != deprecated ] || [ "$1" != true ]; }; then
      if [ "$state" = deprecated ]; then fit=no why='deprecated: newer builds replace it'; else fit=no why='removed: its release was deleted'; fi
    elif ! answers "$ver" "$VERSION"; then
      fit=no why="a pre-release: ask for it by name ($ver)"
    else
      if needs_of "$work/index.flat" "artifacts/$i/needs" "$work/entry.needs"; then
        fit_of "$os" "$osv" "$arch" "$libc" "$floor" "$work/entry.needs" "$groups"
      else
        # (parse_index refuses such an index: this is a second guard, before any name reaches apt.)
        fit=no why='its needs name packages that are not package names'
      fi
    fi
    printf '%s (%s): %s\n' "$file" "$arch" "$why" >>"$work/considered"
    if [ "$fit" = yes ]; then
      chosen_version=$ver chosen_build=$build chosen_url=$url chosen_sha256=$sha chosen_file=$file chosen_why=$why
      break
    fi
  done 3<"$work/candidates"
}

# resolve_build: the build of $VERSION that fits this host, as the library's resolveBuild: the
# builds that answer the request, newest version first; within a version, builds for this very
# distribution first, then the highest build number, then the newest distribution version; the
# first that fits is chosen. Sets chosen_version, chosen_url, chosen_sha256, chosen_file, chosen_why.
resolve_build() {
  groups='critical optional'
  [ "$INSTALLTK" = false ] || groups='critical optional tk'
  # One line per entry that answers the request, in the order they are tried (sort keys first).
  awk -F '\t' -v req="$VERSION" -v did="$distro_id" -v dver="$distro_version" -v known="$distro_known" '
    { v[$1] = substr($0, length($1) + 2) }
    $1 ~ /^artifacts\/[0-9]+\// { split($1, p, "/"); if (p[2] + 1 > n) n = p[2] + 1 }
    function full(x) { return x ~ /^[0-9]+\.[0-9]+\.[0-9]+((a|b|rc)[0-9]+)?$/ }
    function pre(x) { return x ~ /(a|b|rc)[0-9]+$/ }
    function answers(x, r) { if (full(r)) return x == r; if (pre(x)) return 0; if (r == "latest") return 1; return index(x ".", r ".") == 1 }
    function base(x) { sub(/(a|b|rc)[0-9]+$/, "", x); return x }
    function dash(x) { return x == "" ? "-" : x }
    END {
      for (i = 0; i < n; i++) {
        k = "artifacts/" i "/"; ver = v[k "version"]
        if (!answers(ver, req) && !(!full(req) && pre(ver) && answers(base(ver), req))) continue
        split(base(ver), m, ".")
        rank = 9999
        if (match(ver, /(a|b|rc)[0-9]+$/)) { tag = substr(ver, RSTART, RLENGTH); num = tag; sub(/^[a-z]+/, "", num); rank = (tag ~ /^a/ ? 0 : tag ~ /^b/ ? 1000 : 2000) + num }
        same = (known == "true" && v[k "os"] == did && v[k "osVersion"] == dver) ? 0 : 1
        split(v[k "osVersion"], q, /[^0-9]+/)
        floor = v[k "glibcFloor"]; if (floor == "null") floor = ""
        printf "%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t", m[1], m[2], m[3], rank, same, v[k "build"], v[k "os"], q[1], q[2], q[3], v[k "arch"]
        printf "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i, ver, v[k "build"], v[k "os"], v[k "osVersion"], v[k "arch"], v[k "libc"], dash(floor), dash(v[k "file"]), v[k "url"], v[k "sha256"], v[k "state"]
      }
    }' "$work/index.flat" |
    LC_ALL=C sort -t "$TAB" -k1,1nr -k2,2nr -k3,3nr -k4,4nr -k5,5n -k6,6nr -k7,7 -k8,8nr -k9,9nr -k10,10nr -k11,11 |
    cut -f 12- >"$work/candidates"
  chosen_file=''
  deprecated_warning=''
  choose_build false
  # A version (or a sha256) pinned by name keeps installing once newer builds of its line have
  # deprecated it, as long as its release is there (the library's resolveBuild).
  if [ -z "$chosen_file" ] && { is_full_version "$VERSION" || [ -n "$SHA256" ]; } && grep -q ': deprecated: newer builds replace it$' "$work/considered"; then
    # (Refused all the same: $work/considered then says why each deprecated one does not fit.)
    choose_build true
    if [ -n "$chosen_file" ]; then
      if [ -n "$SHA256" ]; then pinned='its sha256'; else pinned=$VERSION; fi
      deprecated_warning="$chosen_file is deprecated in the index (newer builds of its line replace it, and a prune may delete it): installed because $pinned was asked for; ask for the release line to follow its newest build"
    fi
  fi
  if [ -n "$chosen_file" ]; then
    # The builds passed over first, and why.
    sed '$d' "$work/considered" | while IFS= read -r line; do say "passed over $line"; done
    say "$(describe_request "$VERSION"): chose $chosen_file (build $chosen_build): $chosen_why"
    [ -z "${deprecated_warning:-}" ] || say "warning: $deprecated_warning"
    return 0
  fi
  if [ ! -s "$work/considered" ]; then
    published=$(awk -F '\t' '{ v[$1] = substr($0, length($1) + 2) } $1 ~ /^artifacts\/[0-9]+\/state$/ && $2 == "active" { split($1, p, "/"); act[p[2]] = 1; if (p[2] + 1 > n) n = p[2] + 1 } $1 ~ /^artifacts\/[0-9]+\// { split($1, p, "/"); if (p[2] + 1 > n) n = p[2] + 1 } END { for (i = 0; i < n; i++) if (act[i] && !(v["artifacts/" i "/version"] in s)) { s[v["artifacts/" i "/version"]] = 1; printf "%s%s", (c++ ? ", " : ""), v["artifacts/" i "/version"] } }' "$work/index.flat")
    if [ -n "$published" ]; then
      fail CPY_INSTALL_VERSION_NOT_PUBLISHED "the index $index_source lists no build of $(describe_request "$VERSION") (it lists $published)" "ask for one it lists (cpy list --available), or build and publish $VERSION"
    fi
    fail CPY_INSTALL_VERSION_NOT_PUBLISHED "the index $index_source lists no build of $(describe_request "$VERSION") (it is empty)" 'publish a build first (cpy publish), or point at another index'
  fi
  # What to do depends on why none fit (the library's noMatchHint).
  if [ -n "$SHA256" ] && ! cut -f 11 "$work/candidates" | grep -qx "$SHA256"; then
    hint="no build of $(describe_request "$VERSION") in the index has the sha256 given: fix it, or leave it empty for the build the index chooses"
  elif ! is_full_version "$VERSION" && [ -z "$SHA256" ] && ! cut -f 12 "$work/candidates" | grep -qx active &&
    kept=$(awk -F '\t' '$12 == "deprecated" { print $2; exit }' "$work/candidates") && [ -n "$kept" ]; then
    hint="newer builds deprecated them: the index keeps them for installs that name their version ($kept); ask for one by name, or for a version it lists as active (cpy list --available)"
  elif ! grep -qv ': a pre-release: ask for it by name (' "$work/considered"; then
    pre=$(sed -n '1s/.*: a pre-release: ask for it by name (\(.*\))$/\1/p' "$work/considered")
    hint="only pre-releases of $VERSION are published: ask for one by name (cpy install $pre), or wait for the release"
  elif grep -q "cpy cannot ask this system's package archive" "$work/considered"; then
    hint="cpy could not ask this system's package archive whether it has what those builds need: run apt-get update (as root), or install as root, then run again; or install the packages the message names first"
  else
    if is_full_version "$VERSION"; then wanted=$VERSION; else wanted='<version>'; fi
    if [ "$distro_known" = true ] && [ -n "$distro_id" ] && [ -n "$distro_version" ]; then image=$distro_id:$distro_version; else image='<this image>'; fi
    hint="build one on this distribution (cpy build $wanted --builder container --image $image) and publish it, or install on a host one of them fits"
  fi
  fail CPY_INSTALL_NO_MATCHING_BUILD "no published build of $(describe_request "$VERSION") fits this host ($host_summary): $(awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }' "$work/considered")" "$hint"
}

# prefix_for VERSION: where the version goes when installPrefix is empty: where state.json records
# it, while a tree is there; else /opt/python-VERSION (the library's prefixOf).
# recorded_prefix VERSION: the prefix the state records for it (nothing when none).
recorded_prefix() {
  if [ -f "$STATE_DIR/state.json" ] && json_flatten "$STATE_DIR/state.json" >"$work/state-prefix.flat" 2>/dev/null; then
    jget "$work/state-prefix.flat" "installs/$1/prefix"
  fi
}
prefix_for() {
  pf_recorded=$(recorded_prefix "$1")
  if [ -n "$pf_recorded" ] && [ -e "$pf_recorded" ]; then printf '%s\n' "$pf_recorded"; else printf '%s\n' "/opt/python-$1"; fi
}

# --- the /workspaces deferral ------------------------------------------------------------------
# A Feature runs while the image is built; the workspace (/workspaces/<folder>) is mounted only
# when the container is created. An artifact, checksum or index there is installed then.
deferred=false
# Whether the index chose the build (and vouched for its sha256), and the build number its entry
# says: set only by this script (defer_install saves both, before an index is read too).
resolved=false named_build=
# pending_in_workspace LOCATION: a path (or file:// URL) under /workspaces/ that is not there (yet).
pending_in_workspace() {
  [ "$deferred" = false ] || return 1
  case $1 in http://* | https://*) return 1 ;; esac
  p=$(path_of "$1")
  case $p in /workspaces/?*) [ ! -e "$p" ] ;; *) return 1 ;; esac
}
# defer_install LOCATION: the checked options and a copy of this script saved for onCreateCommand.
defer_install() {
  mkdir -p "$SHARE_DIR"
  cp "$SELF" "$SHARE_DIR/install.sh.tmp-$$"
  chmod 755 "$SHARE_DIR/install.sh.tmp-$$"
  mv -f "$SHARE_DIR/install.sh.tmp-$$" "$SHARE_DIR/install.sh"
  # Values are already checked (letters, digits and . _ ~ : / ? # @ & = + % , - only): quoting is safe.
  # Root only: a URL may carry a token.
  (
    umask 077
    for name in $OPTION_VARS; do
      eval "v=\$$name"
      printf "%s='%s'\n" "$name" "$v"
    done >"$DEFERRED_ENV.tmp-$$"
    # A build chosen from a (signed) index: its sha256 came from that index, which vouches for it
    # (and its signer, when signed), as it would have in the image's build.
    printf "deferred_resolved='%s'\ndeferred_signed_by='%s'\ndeferred_build='%s'\ndeferred_index='%s'\n" "$resolved" "$signed_by" "$named_build" "${index_source:-}" >>"$DEFERRED_ENV.tmp-$$"
  )
  # A second install of this Feature deferred in the same image (the Feature listed twice) would
  # replace the first, which would then never be installed: refused, unless it is the same one.
  if [ -f "$DEFERRED_ENV" ] && [ "$(cat "$DEFERRED_ENV")" != "$(cat "$DEFERRED_ENV.tmp-$$")" ]; then
    rm -f "$DEFERRED_ENV.tmp-$$"
    fail CPY_INSTALL_BAD_OPTIONS "another install of this Feature in this image is deferred to onCreateCommand already ($DEFERRED_ENV): one install per image can wait for the workspace" 'install the other one from a URL or a path in the image, or list the Feature once: nothing was installed'
  fi
  mv -f "$DEFERRED_ENV.tmp-$$" "$DEFERRED_ENV"
  say "$1 is not in the image: a Feature runs while the image is built, before the workspace is mounted"
  say "deferred: the Feature's onCreateCommand installs it from the mounted workspace when the container is created (saved in $DEFERRED_ENV)"
}
# install.sh --deferred (the Feature's onCreateCommand): runs the saved install, as root.
run_deferred() {
  [ -f "$DEFERRED_ENV" ] || exit 0
  if [ "$(id -u)" -ne 0 ]; then
    user=$(id -un 2>/dev/null || id -u)
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
      # sudo resets the environment: the pins, the index, the lock's patience and the proxies that
      # devcontainer.json gives the hook (containerEnv, remoteEnv) are kept by name, or the install
      # would go on without them (a pinned signer dropped, unsigned bytes installed).
      keep=
      for name in CPY_SIGNER_FINGERPRINTS CPY_TRUSTED_KEYS_URL CPY_INDEX_URL CPY_LOCK_TIMEOUT_MS http_proxy https_proxy no_proxy all_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY; do
        eval "[ -z \"\${$name+set}\" ]" || keep="$keep${keep:+,}$name"
      done
      [ -n "$keep" ] || exec sudo -n /bin/sh "$SELF" --deferred
      sudo -n --preserve-env="$keep" true >/dev/null 2>&1 ||
        fail CPY_INSTALL_NOT_ROOT "the install deferred to onCreateCommand must run as root, and sudo does not let $user keep $keep for it" "let sudo keep them (a NOPASSWD: ALL rule does; or SETENV), or set \"remoteUser\": \"root\" in devcontainer.json"
      exec sudo -n --preserve-env="$keep" /bin/sh "$SELF" --deferred
    fi
    fail CPY_INSTALL_NOT_ROOT "the install deferred to onCreateCommand (its artifact is in the workspace) must run as root; this hook runs as $user, who has no sudo without a password" "set \"remoteUser\": \"root\" in devcontainer.json, or install sudo with NOPASSWD for $user in the image; or give the artifact by a URL the image build can reach"
  fi
  deferred=true
  # Only ever from the file (root's own), never from the environment.
  deferred_resolved=false deferred_signed_by='' deferred_build='' deferred_index=''
  # shellcheck disable=SC1090 # written by defer_install, root's only
  . "$DEFERRED_ENV"
  say "installing what was deferred while the image was built"
}

# --- the install ------------------------------------------------------------------------------
work=
stage=
cleanup() {
  # The install record's python3 first (interrupted, this script does not wait for it as for a
  # command in the foreground): it finishes what it runs before the locks it runs under go.
  state_close
  # Stopped between the two renames of a replacement (the prefix missing): the staged tree stays
  # for the next run, which finishes the replacement from the journal.
  if [ -n "$stage" ] && { [ "$replacing" = false ] || [ -e "$prefix" ]; }; then rm -rf "$stage"; fi
  [ -z "$lock_taking" ] || rm -f "$lock_taking"
  for l in $held_locks; do lock_release "$l"; done
  [ -z "$work" ] || rm -rf "$work"
  # What apt-get downloaded would only make the image layer bigger.
  if [ "$apt_ran" = true ]; then
    apt-get clean >/dev/null 2>&1 || true
    # Lists it fetched, where the image had none or stale ones (an install failed on them): the
    # layer would carry the new copies (30-50 MB).
    if [ "$apt_clean_lists" = true ] || [ "$apt_updated" = true ]; then rm -rf /var/lib/apt/lists/*; fi
  fi
  if [ "$dnf_ran" = true ]; then dnf clean all >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
# stopped: INT or TERM (Ctrl-C, a build cancelled) before the tree is in place: said as the library
# says it (CPY_INSTALL_CANCELLED), then exit 130 (it ended with no word). After, the record is
# what is left, which the next run finishes.
stopped() {
  [ -n "${placed:-}" ] || printf '[%s] error CPY_INSTALL_CANCELLED: %s\n[%s] hint: %s\n' "$me" 'the install was stopped before its tree was put in place: nothing was installed' "$me" 'run the same command again' >&2
  exit 130
}
trap stopped INT TERM

# already_installed: the prefix holds this install (marker_answers), and its tree can start
# (tree_damage). A damaged one is said once, and installed again (the library's intact).
damage_said=
already_installed() {
  marker_answers || return 1
  tree_damage "$prefix" "$version"
  [ -n "$damage" ] || return 0
  if [ "$damage_said" != "$prefix" ]; then
    say "warning: CPython $version in $prefix is damaged ($damage is missing): installing it again"
    damage_said=$prefix
  fi
  return 1
}
# tree_damage PREFIX VERSION: damage= what CPython needs to start that the tree lacks, a path
# inside it (empty when intact; set, not printed: no subshell on the already-installed path):
# bin/python3, and the landmark getpath finds the prefix by, lib/python3.X/os.py
# (lib/python3.Xt/ free-threaded). The library's treeDamage.
tree_damage() {
  damage=bin/python3
  [ -f "$1/bin/python3" ] || return 0
  # (A version is checked before: digits, a dot, digits, then more.)
  td_minor=${2#*.}
  td_line=${2%%.*}.${td_minor%%[!0-9]*}
  damage=lib/python$td_line/os.py
  [ -f "$1/lib/python$td_line/os.py" ] || [ -f "$1/lib/python${td_line}t/os.py" ] || return 0
  damage=
}
# marker_answers: the prefix holds this artifact (by sha256 when known, else by its name; by
# the version alone for a full version without an artifact), as the library's sameArtifact.
marker_answers() {
  : >"$work/marker.flat"
  [ -f "$prefix/.cpy-install.json" ] && json_flatten "$prefix/.cpy-install.json" >"$work/marker.flat" 2>/dev/null || return 1
  [ "$(jget "$work/marker.flat" version)" = "$version" ] || return 1
  # With signers pinned, only an install a pinned signer vouched for counts (the marker's signedBy).
  if [ -n "$signers" ]; then
    case " $signers " in *" $(jget "$work/marker.flat" signedBy) "*) ;; *) return 1 ;; esac
  fi
  if [ -n "$SHA256" ]; then [ "$(jget "$work/marker.flat" sha256)" = "$SHA256" ]; return; fi
  [ -z "$ARTIFACTURL" ] || [ "$(jget "$work/marker.flat" artifact)" = "$file_name" ] || return 1
  # A checksum given on its own is read even then, as the library's checksumAgrees: the install is
  # of the bytes it names. (One in a workspace not mounted yet: not installed, the install deferred.)
  [ -n "$CHECKSUMURL" ] && [ -n "$ARTIFACTURL" ] || return 0
  ! pending_in_workspace "$CHECKSUMURL" || return 1
  [ -n "$given_sum" ] || { read_sum "$CHECKSUMURL"; given_sum=$expected; }
  [ "$(jget "$work/marker.flat" sha256)" = "$given_sum" ]
}
given_sum=
# read_sum LOCATION: expected= the sha256 the checksum file there gives for $file_name; refused
# when it cannot be had, is not a sha256sum line, or names another file.
read_sum() {
  fetch_to_read "$1" "$work/sha256" 'checksum file' optional || checksum_unavailable "$1"
  line=
  IFS= read -r line <"$fetched" || true
  case $line in *"$CR"*) line=$(printf '%s' "$line" | tr -d '\r') ;; esac
  matches "$line" '^[0-9a-fA-F]{64}([ ][ *]?[^ ].*)?$' || fail CPY_INSTALL_BAD_CHECKSUM_FILE "$(display_url "$1") is not a sha256sum line" 'point checksumUrl at the .sha256 file published with the artifact, or set sha256'
  listed=${line#????????????????????????????????????????????????????????????????}
  expected=${line%"$listed"}
  case $expected in *[A-F]*) expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f') ;; esac
  # After the hash: a space, then a space or * (text or binary mode), then the name.
  listed=${listed# }
  case $listed in [\ *]*) listed=${listed#?} ;; esac
  # \`sha256sum dist/<name>\` (or ./<name>) writes the path it was given: its file name counts.
  [ -z "$listed" ] || [ "${listed##*/}" = "$file_name" ] || fail CPY_INSTALL_BAD_CHECKSUM_FILE "$(display_url "$1") is the checksum of $listed, not of $file_name" 'use the .sha256 file published beside this artifact'
}
nothing_to_do() {
  record_install "$version" "$prefix"
  say "CPython $version is already installed in $prefix (artifact $(jget "$work/marker.flat" artifact)); nothing to do"
}

main() {
  [ "${1:-}" != --deferred ] || run_deferred
  [ "$(id -u)" -eq 0 ] || fail CPY_INSTALL_NOT_ROOT 'install.sh installs for the whole image and must run as root' 'run it as root (Dev Container Features always are); as a user, use cpy install'
  for tool in tar gzip sha256sum awk od find; do
    command -v "$tool" >/dev/null 2>&1 || fail CPY_INSTALL_MISSING_TOOL "this image has no $tool" "install $tool (coreutils, tar, gzip, findutils, awk) in the base image"
  done
  check_options
  # Signatures are checked with gpgv (apt needs it, so Debian and Ubuntu images have it), never skipped.
  [ -z "$signers" ] || command -v gpgv >/dev/null 2>&1 ||
    fail CPY_INSTALL_GPGV_MISSING "signerFingerprints is set, but this image has no gpgv (package gpgv) to check signatures with" 'install the gpgv package in the base image (apt-get install gpgv, dnf install gnupg2, apk add gpgv), then build again: nothing was installed'
  work=$(mktemp -d /tmp/cpy-feature.XXXXXXXX)
  if [ -n "$signers" ] && pending_in_workspace "$TRUSTEDKEYSURL"; then defer_install "$(path_of "$TRUSTEDKEYSURL")"; return 0; fi

  resolved=false named_build=
  # Deferred from a build the index chose (defer_install): the index vouched for its sha256.
  # So did its signer (the marker's signedBy), who must be pinned now if any signer is: pins
  # the hook's environment adds (CPY_SIGNER_FINGERPRINTS) are checked, never skipped.
  if [ "$deferred" = true ] && [ "$deferred_resolved" = true ] && [ -n "$SHA256" ] &&
    { [ -z "$signers" ] || case " $signers " in *" $deferred_signed_by "*) [ -n "$deferred_signed_by" ] ;; *) false ;; esac; }; then
    resolved=true
    signed_by=$deferred_signed_by
    # The build its index entry says, checked against the artifact's metadata as when not deferred.
    case $deferred_build in '' | *[!0-9]*) ;; *) named_build=$deferred_build index_source=$deferred_index ;; esac
  fi
  if [ -n "$ARTIFACTURL" ]; then
    # The artifact given: its version is in its name (or the version option is a full version).
    refuse_directory_artifact "$ARTIFACTURL"
    name_of "$ARTIFACTURL"
    named_version=$(printf '%s\n' "$file_name" | sed -nE "s/$NAME_RE/\\1/p")
    # (A build the index chose, deferred, goes by its entry's build, saved with it.)
    [ "$resolved" = true ] || named_build=$(printf '%s\n' "$file_name" | sed -nE "s/$NAME_RE/\\5/p")
    # x86_64 is left out of artifact names: one that says it is no artifact's name, as the library
    # reads it (parseArtifactFileName), and says nothing of the version or the build.
    case $file_name in *-x86_64-build[0-9]*) named_version='' && { [ "$resolved" = true ] || named_build=''; } ;; esac
    if [ -n "$named_version" ]; then
      version=$named_version
      [ -z "$VERSION" ] || answers "$version" "$VERSION" || fail CPY_INSTALL_VERSION_MISMATCH "asked for $VERSION, but the artifact is $version" 'fix the version or the artifact URL'
    elif [ -n "$VERSION" ] && is_full_version "$VERSION"; then
      version=$VERSION
    else
      pending_in_workspace "$ARTIFACTURL" || refuse_missing_artifact "$ARTIFACTURL"
      fail CPY_INSTALL_NO_VERSION "which version? The artifact name${file_name:+ ($file_name)} does not say (cpython-<version>-<os><osversion>-build<N>.tgz)" 'set the version option to the full version (3.13.5)'
    fi
  else
    [ -n "$VERSION" ] || fail CPY_INSTALL_NO_VERSION 'which version? Give a version (3.13, 3.13.5, latest) or the artifact' 'set version (3.13, 3.13.5 or latest) with indexUrl, or artifactUrl'
    # A full version already installed: no index, no network.
    if is_full_version "$VERSION"; then
      version=$VERSION
      prefix=${INSTALLPREFIX:-$(prefix_for "$version")}
      if already_installed; then nothing_to_do; return 0; fi
      # What a killed run left is finished first (under the prefix's lock), then looked at again.
      lock_prefix "$prefix"
      recover_prefix "$prefix"
      if already_installed; then nothing_to_do; return 0; fi
    fi
    [ -n "$INDEXURL" ] || fail CPY_INSTALL_NO_SOURCE "no index given, so $(describe_request "$VERSION") cannot be found (this Feature keeps no cache)" 'set indexUrl (cpy publish keeps it at https://github.com/<owner>/<repo>/releases/download/cpy-index/index.json), or artifactUrl'
    if pending_in_workspace "$INDEXURL"; then defer_install "$(path_of "$INDEXURL")"; return 0; fi
    detect_host
    read_index "$INDEXURL"
    resolve_build
    location_ok "$chosen_url" || fail CPY_INDEX_INVALID "$index_source lists $chosen_file at a location this Feature does not accept (only letters, digits and . _ ~ : / ? # @ & = + % , - in an http(s) or file URL, or an absolute path; $URL_RULE)" 'point at the index.json cpy publish or cpy index add wrote'
    version=$chosen_version named_build=$chosen_build ARTIFACTURL=$chosen_url SHA256=$chosen_sha256 CHECKSUMURL='' resolved=true
    name_of "$ARTIFACTURL"
  fi
  prefix=${INSTALLPREFIX:-$(prefix_for "$version")}

  # Already there: nothing is fetched, no lock is taken (the marker is written before the tree
  # is renamed into place: a prefix that has one is complete).
  if already_installed; then nothing_to_do; return 0; fi
  # From here on this prefix is ours alone (as the library's): another install of it, by this
  # Feature or by cpy install, waits. A killed run's leftovers are finished or removed first.
  lock_prefix "$prefix"
  recover_prefix "$prefix"
  if already_installed; then nothing_to_do; return 0; fi
  # A file there, or a link that leads nowhere, is not ours to replace (nor a directory to install through).
  if [ -L "$prefix" ] && [ ! -e "$prefix" ]; then
    fail CPY_INSTALL_PREFIX_NOT_EMPTY "$prefix is a link to $(readlink "$prefix"), which is not there" 'choose another installPrefix (each version gets its own), or make the directory it points to (or remove the link) yourself'
  fi
  if [ -e "$prefix" ] && [ ! -d "$prefix" ]; then
    fail CPY_INSTALL_PREFIX_NOT_EMPTY "$prefix is a file, not a directory; cpy installs only into a new or empty directory, or over its own install" 'choose another installPrefix (each version gets its own), or move that file away yourself'
  fi
  # "$prefix/": a prefix that is a link to a directory is judged by what the directory holds.
  if [ -d "$prefix" ] && [ ! -e "$prefix/.cpy-install.json" ] && [ -n "$(find "$prefix/" -mindepth 1 -maxdepth 1)" ]; then
    # One the state records for this version is said as such (the library's refuseForeignPrefix).
    if [ "$(recorded_prefix "$version")" = "$prefix" ]; then
      fail CPY_INSTALL_PREFIX_NOT_EMPTY "$prefix has no install marker, though cpy recorded CPython $version there: its marker was deleted, or other files took its place" 'if it is that install, remove that directory yourself and rebuild the image; if the files are someone else'"'"'s, choose another installPrefix'
    fi
    held=$(find "$prefix/" -mindepth 1 -maxdepth 1 | sed 's#.*/##' | LC_ALL=C sort | awk 'NR <= 3 { printf "%s%s", (NR > 1 ? ", " : ""), $0 } NR == 4 { printf ", ..."; exit }')
    # Never "empty it" of /usr or /usr/local (the library's systemDirectory).
    case $prefix in
      /usr/*/*) system_dir=false ;;
      /usr/*) system_dir=true ;;
      /*/*) system_dir=false ;;
      *) system_dir=true ;;
    esac
    if [ "$system_dir" = true ]; then
      hint="choose another installPrefix, a directory of its own (each version gets its own, e.g. /opt/python-<version>): $prefix is a system directory"
    else
      hint='choose another installPrefix (each version gets its own), or empty that directory yourself'
    fi
    fail CPY_INSTALL_PREFIX_NOT_EMPTY "$prefix already holds files that cpy did not install ($held)" "$hint"
  fi
  # A link to a directory is not installed through: the tree goes in place with a rename, which
  # would replace the link (the library's refuseLinkPrefix).
  if [ -L "$prefix" ]; then
    link_target=$(readlink -f -- "$prefix" 2>/dev/null) || link_target=$(readlink -- "$prefix")
    fail CPY_INSTALL_PREFIX_IS_LINK "$prefix is a link to $link_target: cpy puts its tree in place with a rename, which would replace the link rather than fill the directory it points to" "give the directory itself as installPrefix ($link_target), or remove the link"
  fi
  # A mount point (a volume mounted there) cannot take the tree unpacked beside it: a rename into
  # it, or of it, is refused (the library's refuseMountPoint).
  if [ -d "$prefix" ] && [ "$(stat -c %d -- "$prefix" 2>/dev/null)" != "$(stat -c %d -- "${prefix%/*}/" 2>/dev/null)" ]; then
    fail CPY_INSTALL_PREFIX_MOUNTED "$prefix is a mount point (a volume or a disk mounted there): cpy puts its tree in place with a rename from beside it, which a mount point does not allow" "install in a directory inside it (installPrefix $prefix/python-<version>), or mount it one level up"
  fi
  sums=${CHECKSUMURL:-$(with_suffix "$ARTIFACTURL" .sha256)}
  if pending_in_workspace "$ARTIFACTURL"; then defer_install "$(path_of "$ARTIFACTURL")"; return 0; fi
  if [ -z "$SHA256" ] && pending_in_workspace "$sums"; then defer_install "$(path_of "$sums")"; return 0; fi
  # Installed while the image is built, a prefix under /workspaces/ is hidden once the workspace
  # is mounted over it: python3 and its links led nowhere in the container.
  if [ "$deferred" = false ]; then
    case $prefix in
      /workspaces/?*) fail CPY_INSTALL_BAD_OPTIONS "installPrefix: $prefix is under /workspaces/, where the workspace is mounted when the container is created: installed now, while the image is built, it would be hidden then, and python3 would lead nowhere" 'choose a prefix outside /workspaces/ (the default is /opt/python-<version>); an artifact kept in the workspace is installed once it is mounted, and may go there' ;;
    esac
  fi
  detect_host

  # The checksum first; the metadata published beside the artifact lets an incompatible host
  # refuse before the download (an index entry was checked when it was chosen).
  if [ -n "$SHA256" ]; then
    expected=$SHA256
  else
    refuse_missing_artifact "$ARTIFACTURL"
    read_sum "$sums"
  fi
  if [ "$resolved" = false ] && fetch_to_read "$(with_suffix "$ARTIFACTURL" .json)" "$work/side.json" metadata optional && json_flatten "$fetched" >"$work/side.flat" 2>/dev/null &&
    [ "$(jget "$work/side.flat" schemaVersion)" = 1 ]; then
    refuse_unfit "$work/side.flat"
  fi

  # An artifact given by URL needs its own signature: the keys and the signature are fetched before
  # it, so that what refuses it whatever its bytes (no signature, no keys) is said before its
  # download, as the library says it. (A keys file without the pinned key is refused after the
  # download here, by gpgv's verdict, with the same code: gpgv cannot list a keyring's fingerprints.)
  if [ -n "$signers" ] && [ "$resolved" = false ]; then
    load_trusted_keys
    fetch_signature "$(with_suffix "$ARTIFACTURL" .asc)" "$file_name" || fail "$sig_code" "$sig_message" "$sig_hint"
    sig_ready=$(with_suffix "$ARTIFACTURL" .asc)
  fi
  say "downloading $file_name from $(display_url "$ARTIFACTURL")"
  archive=$work/artifact
  up "$prefix" && parent=$up
  # A local artifact is read where it is when one pass reads it (the bytes hashed are the bytes
  # unpacked); copied first otherwise, as a download is.
  unpacked=false
  case $ARTIFACTURL in
    http://* | https://*)
      artifact_file=$archive
      need_downloader "$ARTIFACTURL"
      # A .tgz is unpacked as it downloads (issue 20): download, hash and extraction overlap.
      case $file_name in *.tgz | *.tar.gz) streamable=true ;; *) streamable=false ;; esac
      if [ "$streamable" = true ] && have_tools curl && one_pass_tools; then
        new_stage
        if download_pass "$ARTIFACTURL" "$archive" "$stage"; then
          unpacked=true
        else
          # Only a whole body was hashed whole: after a broken download, the download is the error.
          [ "$(cat "$work/curl.rc")" != 0 ] || pass_failed "$stage"
          rm -rf "$stage"
          stage=
        fi
      fi
      [ "$unpacked" = true ] || fetch "$ARTIFACTURL" "$archive" artifact
      ;;
    *) artifact_file=$(path_of "$ARTIFACTURL") ;;
  esac
  if [ "$unpacked" = false ] && [ -f "$artifact_file" ] && one_pass_possible "$artifact_file"; then
    new_stage
    if one_pass "$artifact_file" "$stage"; then
      unpacked=true
    else
      pass_failed "$stage"
      rm -rf "$stage"
      stage=
    fi
  fi
  if [ "$unpacked" = false ]; then
    [ "$artifact_file" = "$archive" ] || fetch "$ARTIFACTURL" "$archive" artifact
    scan_archive "$archive"
  fi
  verify_sum
  if [ "$unpacked" = true ]; then say "sha256 $got verified (hashed, listed and unpacked in one read)"; else say "sha256 $got verified"; fi
  # An artifact chosen from a signed index is vouched for by the index (its entry's sha256);
  # one given by URL needs its own signature (a checksum, given or fetched, does not replace it).
  if [ -n "$signers" ] && [ "$resolved" = false ]; then
    check_signature "$archive" "$(with_suffix "$ARTIFACTURL" .asc)" "$file_name" || fail "$sig_code" "$sig_message" "$sig_hint"
    say "$file_name is signed by $signed_by ($signed_at)"
  fi

  [ "$unpacked" = true ] || need_zstd "$archive"
  # Unpacked in the pass, the metadata is the entry that came with the verified bytes.
  if [ "$unpacked" = true ]; then
    metadata_file=$stage/cpy-artifact.json
    if [ -f "$metadata_file" ]; then has_metadata=true; else has_metadata=false; echo 'it has no such entry' >"$work/tar.err"; fi
  else
    has_metadata=true
    metadata_file=$work/metadata.json
    metadata_of "$archive" >"$metadata_file" 2>"$work/tar.err" || has_metadata=false
  fi
  # No larger than the library reads (MAX_METADATA_BYTES): a real one is a few KiB.
  if [ "$has_metadata" = true ]; then metadata_bytes=$(($(wc -c <"$metadata_file"))); else metadata_bytes=0; fi
  if [ "$metadata_bytes" -gt 1048576 ]; then
    fail CPY_ARTIFACT_UNSAFE_ENTRY "the archive entry 'cpy-artifact.json' is $metadata_bytes bytes, more than the 1048576 an artifact's metadata may be; nothing from this archive is trusted" "$unsafe_hint"
  fi
  if [ "$has_metadata" = false ] || ! json_flatten "$metadata_file" >"$work/meta.flat" 2>>"$work/tar.err"; then
    fail CPY_INSTALL_NOT_AN_ARTIFACT "$file_name does not start with cpy-artifact.json: $(head -c 200 "$work/tar.err")" 'install a .tgz made by cpy build or cpy artifact pack'
  fi
  jvals "$work/meta.flat" schemaVersion name version prefix contents/bytes build
  meta_version=$j3 built_for=$j4 bytes=$j5 meta_build=$j6
  if [ "$j1" != 1 ] || [ "$j2" != cpython ]; then
    fail CPY_INSTALL_NOT_AN_ARTIFACT "the metadata of $file_name is not valid: schemaVersion $j1" 'this Feature may be older than the artifact: update it, or install an artifact made by this version'
  fi
  # (^/[A-Za-z0-9._/+@-]+$, ^[0-9]+$ and ^[1-9][0-9]*$, as case patterns). The build goes into the
  # marker as a JSON number: anything else would make it another JSON (or none).
  bad_field=
  case $built_for in /*) case ${built_for#/} in '' | *[!A-Za-z0-9._/+@-]*) bad_field="prefix '$built_for'" ;; esac ;; *) bad_field="prefix '$built_for'" ;; esac
  case $bytes in '' | *[!0-9]*) bad_field="contents/bytes '$bytes'" ;; esac
  case $meta_build in '' | 0* | *[!0-9]*) bad_field="build '$meta_build'" ;; esac
  [ -z "$bad_field" ] || fail CPY_INSTALL_NOT_AN_ARTIFACT "the metadata of $file_name is not valid: $bad_field" 'its metadata is damaged or was edited: install an artifact made by cpy build or cpy artifact pack'
  # Said by who took it for that version: the index, the version asked for, or its name (the library's versionMismatch).
  if [ "$meta_version" != "$version" ]; then
    if [ "$resolved" = true ] && [ -n "${index_source:-}" ]; then
      fail CPY_INSTALL_VERSION_MISMATCH "the index $index_source lists $file_name as CPython $version, but it holds CPython $meta_version" 'the index or the file it names is wrong: tell its publisher; nothing was installed'
    elif [ "$VERSION" = "$version" ]; then
      fail CPY_INSTALL_VERSION_MISMATCH "asked for $version, but $file_name holds CPython $meta_version" 'fix the version or the artifact'
    fi
    fail CPY_INSTALL_VERSION_MISMATCH "$file_name is named for CPython $version, but holds CPython $meta_version" 'the file was renamed, or is not what its name says: install the artifact as it was published'
  fi
  # And the build its index entry or its name says (the library's buildMismatch).
  if [ -n "$named_build" ] && [ "$meta_build" != "$named_build" ]; then
    if [ "$resolved" = true ] && [ -n "${index_source:-}" ]; then
      fail CPY_INSTALL_VERSION_MISMATCH "the index $index_source lists $file_name as build $named_build of CPython $version, but it holds build $meta_build" 'the index or the file it names is wrong: tell its publisher; nothing was installed'
    fi
    fail CPY_INSTALL_VERSION_MISMATCH "$file_name is named for build $named_build of CPython $version, but holds build $meta_build" 'the file was renamed, or is not what its name says: install the artifact as it was published'
  fi
  check_compatibility "$work/meta.flat"

  tree_damage "$prefix" "$version"
  if [ -f "$prefix/.cpy-install.json" ] && [ "$(jget "$work/marker.flat" sha256 2>/dev/null)" = "$got" ] && [ -z "$damage" ]; then
    # The same bytes, now verified: the marker says so (as the library's), and the next run needs no network.
    if [ -n "$signed_by" ] && [ "$(jget "$work/marker.flat" signedBy)" != "$signed_by" ]; then
      state_py "$prefix/bin/python3" sign-marker --prefix "$prefix" --signed-by "$signed_by"
    fi
    record_install "$version" "$prefix"
    say "CPython $version is already installed in $prefix; nothing to do"
    return 0
  fi
  check_python3_link
  # The room, before any system package is installed (the library's prepare, then its packages).
  [ "$unpacked" = true ] || new_stage
  ensure_space
  # The archive whole and safe before any system package is installed: a damaged one (its
  # checksum made of the damaged file) installed the packages, then was refused.
  root=${built_for#/}
  if [ "$unpacked" = true ]; then check_entries "$artifact_file" "$root" "$bytes"; else check_entries "$archive" "$root" "$bytes"; fi
  handle_system_libraries "$work/meta.flat"

  if [ "$unpacked" = false ]; then
    say "extracting into $parent"
    if ! untar "$archive" -C "$stage" --no-same-owner "$root" 2>"$work/tar.err"; then
      # A file written through a link that leaves the tree fails to extract: the link is the cause.
      [ ! -d "$stage/$root" ] || check_links "$stage/$root"
      if tar_refusal "$work/tar.err"; then refused_write "$stage/$refused" "$refusal"; fi
      fail_damaged "$work/tar.err"
    fi
  fi
  tree=$stage/$root
  check_links "$tree"
  state_session "$tree"
  [ "$prefix" = "$built_for" ] || relocate_tree "$tree" "$built_for" "$prefix"
  if [ "$SKIPVALIDATION" = true ]; then
    say 'skipValidation: the installed python3 is not checked'
  else
    validate_tree "$tree" "$version" "$prefix"
    # The C extension is built only where there is a compiler: said as it went.
    if grep -q '"detail": *"skipped: ' "$work/check.json"; then cext='a C extension was not built (no working C compiler here)'; else cext='a C extension builds and imports'; fi
    say "python3 $version runs; $CRITICAL_IMPORTS import; sysconfig and a venv through a link work; $cext"
  fi
  # The marker, after every program the tree has is checked against the bin dir (before, only
  # python3 could be known): someone else's pip3 refuses the install before the tree is in place.
  state_serve "$tree/bin/python3" mark --tree "$tree" --bin-dir "$BIN_DIR" --prefix "$prefix" --state-dir "$STATE_DIR" --version "$version" --build "$meta_build" --sha256 "$got" \
    --artifact "$file_name" --source "$(display_url "$ARTIFACTURL")" --built-for "$built_for" ${signed_by:+--signed-by "$signed_by"}
  packages_lost "$prefix" "$tree"
  put_in_place "$tree" "$prefix"
  [ -z "$lost" ] || say "warning: the packages installed into $prefix itself went with the build it replaced: $lost; install them again (venvs keep their own)"
  rm -rf "$stage"
  stage=
  record_install "$version" "$prefix" new
  state_close
  say "$placed CPython $version in $prefix ($BIN_DIR/python3 -> $prefix/bin/python3)"
}

main "$@"
# The deferred install is done: the next container created from this image has nothing to do.
if [ "$deferred" = true ]; then rm -f "$DEFERRED_ENV"; fi
