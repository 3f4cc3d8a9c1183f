#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# Builds a mosquitto 2.1.x broker (with its plugins, so dynamic-security can
# be tested on 2.1) from Debian's source package, into .cache/mosquitto-2.1/.
# Bookworm has no 2.1 binary package and sid's needs a newer libc, so the
# source comes from forky (testing) or sid through a temporary deb-src entry
# that is removed again before anything else can use it.
#
#   scripts/mosquitto21.sh      build once; later runs only print the version
#
# Exits non-zero with a reason when the source suite is missing, the version
# is not 2.1.x, a checksum does not match or the build fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="$root/.cache/mosquitto-2.1"
srcdir="$root/.cache/mosquitto-2.1-src"
builddir="$root/.cache/mosquitto-2.1-build"
stamp="$prefix/.installed-version"
apt_list=/etc/apt/sources.list.d/mosquitto-ha-deb-src.sources
machine_sources=/etc/apt/sources.list.d/debian.sources
# The upstream tarball the project has checked by hand.
known_version=2.1.2
known_sha256=a8e37cc4c1d4141e56c5a8729c5fa36b1f0b1ca95378a12131d68f0509de122a

say() { echo "mosquitto21: $*"; }
die() {
	echo "mosquitto21: $*" >&2
	exit 1
}

# A complete install has the broker, its headers, the dynamic-security plugin
# and the stamp that is written last.
install_complete() {
	[[ -f $stamp && -x $prefix/sbin/mosquitto &&
		-f $prefix/include/mosquitto_broker.h &&
		-f $prefix/include/mosquitto.h &&
		-f $prefix/lib/mosquitto_dynamic_security.so ]]
}

print_locations() {
	say "broker:           $prefix/sbin/mosquitto"
	say "headers:          $prefix/include"
	say "dynamic-security: $prefix/lib/mosquitto_dynamic_security.so"
}

if install_complete; then
	version=$(cat "$stamp")
	case $version in
	2.1.*) ;;
	*) die "the install in $prefix holds version '$version', not 2.1.x; remove $prefix and run again" ;;
	esac
	say "mosquitto $version already installed in $prefix"
	print_locations
	exit 0
fi

# The .dsc of a 2.1.x source package already in the cache, if any.
cached_dsc() {
	local f
	for f in "$srcdir"/mosquitto_2.1.*.dsc; do
		if [[ -f $f ]]; then
			echo "$f"
		fi
	done | sort -V | tail -1
}

# apt-get update, retried briefly when another apt holds the lists lock.
apt_update() {
	local try
	for try in 1 2 3 4 5 6; do
		if apt-get -o DPkg::Lock::Timeout=60 update -qq; then
			return 0
		fi
		say "apt-get update failed (try $try of 6), retrying in 10 s"
		sleep 10
	done
	return 1
}

remove_deb_src() {
	if [[ -f $apt_list ]]; then
		rm -f "$apt_list"
		say "removed $apt_list, refreshing the package lists"
		apt_update || echo "mosquitto21: warning: apt-get update after removing $apt_list failed" >&2
	fi
}

download_source() {
	[[ $(id -u) -eq 0 ]] ||
		die "downloading the source package needs root (apt-get); run as root or put the mosquitto 2.1.x .dsc and tarballs in $srcdir"
	[[ -f $machine_sources ]] ||
		die "$machine_sources not found: cannot tell which Debian archive to fetch the source from"
	# The URI of the stanza that serves the main bookworm suite (not security).
	local uri
	uri=$(awk '
		/^[[:space:]]*$/ { if (suite_ok && uri != "") { print uri; exit } uri = ""; suite_ok = 0; next }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite_ok = 1 }
		END { if (suite_ok && uri != "") print uri }
	' "$machine_sources" | head -1)
	[[ -n $uri ]] || die "no URI for the bookworm suite in $machine_sources"
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[[ -f $keyring ]] || die "$keyring not found (package debian-archive-keyring)"

	trap remove_deb_src EXIT
	say "adding a temporary deb-src entry for forky and sid from $uri"
	cat >"$apt_list" <<EOF
# Temporary, written by mosquitto-ha scripts/mosquitto21.sh; removed when it ends.
Types: deb-src
URIs: $uri
Suites: forky sid
Components: main
Signed-By: $keyring
EOF
	apt_update || die "apt-get update with the forky/sid deb-src entry failed"

	# Every source version on offer; the newest 2.1.x one is taken.
	local versions version
	versions=$(apt-cache showsrc mosquitto 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -uV)
	version=$(grep -E '^2\.1\.[0-9]+-' <<<"$versions" | tail -1 || true)
	if [[ -z $version ]]; then
		if ! grep -qE '^2\.[1-9]|^[3-9]' <<<"$versions"; then
			die "no forky or sid source package of mosquitto found (source versions seen: $(echo $versions)); is the deb-src suite missing from $uri?"
		fi
		die "forky/sid no longer offer mosquitto 2.1.x (source versions seen: $(echo $versions)); update this script for the new version"
	fi
	mkdir -p "$srcdir"
	# apt's sandbox user must be able to write the downloads.
	chmod 0777 "$srcdir"
	say "downloading the source package mosquitto $version into $srcdir"
	(cd "$srcdir" && apt-get -qq source --download-only "mosquitto=$version") ||
		die "apt-get source --download-only mosquitto=$version failed"
	chmod 0755 "$srcdir"
	remove_deb_src
	trap - EXIT
}

dsc=$(cached_dsc)
if [[ -z $dsc ]]; then
	download_source
	dsc=$(cached_dsc)
	[[ -n $dsc ]] || die "the download left no mosquitto_2.1.*.dsc in $srcdir"
else
	say "using the cached source package $dsc"
fi

# Debian version 2.1.2-1 -> upstream 2.1.2.
debian_version=$(awk '/^Version:/ { print $2; exit }' "$dsc")
version=${debian_version%-*}
version=${version#*:}
[[ $version =~ ^2\.1\.[0-9]+$ ]] || die "the source package has version '$debian_version', not 2.1.x"
tarball="$srcdir/mosquitto_${version}.orig.tar.gz"
[[ -f $tarball ]] || die "$tarball is missing from the source package"

# Every file the .dsc lists must match its sha256; apt checked the .dsc itself
# against the signed Sources index when it downloaded it.
say "checking the files of $(basename "$dsc") against its Checksums-Sha256"
checks=$(awk '
	/^Checksums-Sha256:/ { on = 1; next }
	/^[^ ]/ { on = 0 }
	on && NF == 3 { print $1 "  " $3 }
' "$dsc")
[[ -n $checks ]] || die "$(basename "$dsc") has no Checksums-Sha256 section"
(cd "$srcdir" && sha256sum --quiet -c <<<"$checks") ||
	die "a file of the source package does not match the sha256 in $(basename "$dsc"); remove $srcdir and run again"
if [[ $version == "$known_version" ]]; then
	actual=$(sha256sum "$tarball" | awk '{ print $1 }')
	[[ $actual == "$known_sha256" ]] ||
		die "$(basename "$tarball") has sha256 $actual, expected $known_sha256"
	say "mosquitto_${version}.orig.tar.gz matches the known sha256"
else
	say "building mosquitto $version: not the hand-checked $known_version, verified against the .dsc checksums only"
fi

# The untouched upstream tree: Debian's patches are not applied.
rm -rf "$builddir"
mkdir -p "$builddir"
tar -xzf "$tarball" -C "$builddir" || die "could not unpack $tarball"
# The tarball's one top-level folder is named after a git commit, not the version.
tree=$(find "$builddir" -mindepth 2 -maxdepth 2 -name CMakeLists.txt -printf '%h\n')
[[ $(wc -l <<<"$tree") -eq 1 && -f $tree/CMakeLists.txt ]] ||
	die "$tarball does not unpack to a single folder with a CMakeLists.txt"

say "configuring mosquitto $version (cmake)"
rm -rf "$prefix"
if ! cmake -S "$tree" -B "$builddir/out" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_INSTALL_PREFIX="$prefix" \
	-DCMAKE_INSTALL_LIBDIR=lib \
	-DCMAKE_INSTALL_RPATH="$prefix/lib" \
	-DWITH_DOCS=OFF -DWITH_TESTS=OFF \
	-DWITH_PLUGINS=ON -DWITH_APPS=OFF -DWITH_HTTP_API=OFF \
	-DWITH_WEBSOCKETS=OFF -DWITH_DLT=OFF -DWITH_SYSTEMD=OFF \
	-DUSE_LIBWRAP=OFF >"$builddir/configure.log" 2>&1; then
	tail -30 "$builddir/configure.log" >&2
	die "cmake configure failed (log: $builddir/configure.log)"
fi
say "building"
if ! cmake --build "$builddir/out" -j "$(nproc)" >"$builddir/build.log" 2>&1; then
	tail -30 "$builddir/build.log" >&2
	die "the build failed (log: $builddir/build.log)"
fi
if ! cmake --install "$builddir/out" >"$builddir/install.log" 2>&1; then
	tail -30 "$builddir/install.log" >&2
	die "the install failed (log: $builddir/install.log)"
fi

# Upstream installs the plugin headers next to the others; check what the
# project compiles against, and that the broker really is 2.1 and runs.
[[ -x $prefix/sbin/mosquitto ]] || die "the install has no $prefix/sbin/mosquitto"
dynsec=$(find "$prefix" -name 'mosquitto_dynamic_security.so' | head -1)
[[ -n $dynsec ]] || die "the install has no mosquitto_dynamic_security.so (was WITH_PLUGINS honoured?)"
if [[ $dynsec != "$prefix/lib/mosquitto_dynamic_security.so" ]]; then
	ln -sf "$dynsec" "$prefix/lib/mosquitto_dynamic_security.so"
fi
for h in mosquitto.h mosquitto_broker.h mosquitto_plugin.h; do
	[[ -f $prefix/include/$h ]] || die "the install has no $prefix/include/$h"
done
reported=$("$prefix/sbin/mosquitto" -h 2>&1 | grep -m1 "^mosquitto version" || true)
[[ $reported == *"version $version"* ]] ||
	die "the built broker reports '$reported', expected version $version"
echo "$version" >"$stamp"
rm -rf "$builddir"
say "installed mosquitto $version ($reported)"
print_locations
