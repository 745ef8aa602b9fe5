# bench/micro/common.sh - sourced by bench/micro/run and scripts/perf-profile:
# where the allocators are, installing what is missing, building the
# micro-benchmark binaries and buddyslab itself.

BS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BS_LIBDIR=/usr/lib/x86_64-linux-gnu
BS_MICRO_BUILD=${BS_MICRO_BUILD:-$BS_ROOT/build/bench-micro}
ALL_ALLOCATORS=(glibc jemalloc mimalloc tcmalloc buddyslab)

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# need_packages PKG... - install the Debian packages that are missing (as
# root, or through sudo); when that is impossible, say which are missing.
need_packages() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null ||
			die "missing Debian packages: ${missing[*]} (install them as root)"
		sudo=(sudo -E)
	fi
	echo "${0##*/}: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update >&2 &&
		"${sudo[@]}" apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "${missing[@]}" >&2 ||
		die "could not install: ${missing[*]}"
}

# The Debian package that holds each allocator's library.
allocator_package() {
	case $1 in
	jemalloc) echo libjemalloc-dev ;;
	mimalloc) echo libmimalloc-dev ;;
	tcmalloc) echo libgoogle-perftools-dev ;;
	esac
}

# buddyslab_lib - the path of libbuddyslab.so:
#  - $BUDDYSLAB_LIB if set;
#  - with $BUDDYSLAB_REV set (a commit, e.g. HEAD): the library built from
#    that commit's tree alone, in build/bench-src/<commit>/ (so that the
#    uncommitted edits of the working tree do not leak into a measurement;
#    see resolve_rev for <commit>);
#  - else build/.libs/libbuddyslab.so of the working tree, built first when
#    it is missing (a library older than the sources is used with a warning:
#    other people may be half-way through an edit of src/).
buddyslab_lib() {
	if [[ -n ${BUDDYSLAB_LIB:-} ]]; then
		[[ -f $BUDDYSLAB_LIB ]] || die "BUDDYSLAB_LIB=$BUDDYSLAB_LIB: no such file"
		echo "$BUDDYSLAB_LIB"
		return
	fi
	if [[ -n ${BUDDYSLAB_REV:-} ]]; then
		local sha dir
		sha=$(resolve_rev "$BUDDYSLAB_REV")
		dir=$BS_ROOT/build/bench-src/$sha
		if [[ ! -f $dir/.libs/libbuddyslab.so ]]; then
			need_packages build-essential autoconf automake libtool pkg-config
			echo "${0##*/}: building buddyslab at ${sha:0:12} in $dir" >&2
			rm -rf "$dir" && mkdir -p "$dir"
			git -C "$BS_ROOT" archive "$sha" | tar -x -C "$dir" ||
				die "git archive $sha failed"
			(cd "$dir" && autoreconf -fi && ./configure -q && make -j2 libbuddyslab.la) \
				>"$dir/build.log" 2>&1 || die "building $sha failed, see $dir/build.log"
		fi
		echo "$dir/.libs/libbuddyslab.so"
		return
	fi
	local lib=$BS_ROOT/build/.libs/libbuddyslab.so
	if [[ ! -f $lib ]]; then
		need_packages build-essential autoconf automake libtool pkg-config
		echo "${0##*/}: building $lib" >&2
		(
			cd "$BS_ROOT"
			if [[ ! -f build/Makefile ]]; then
				autoreconf -fi && mkdir -p build && cd build && ../configure
			fi
		) >&2 || die "configure failed"
		make -C "$BS_ROOT/build" -j2 >&2 || die "building buddyslab failed"
	elif [[ -n $(find "$BS_ROOT/src" "$BS_ROOT/include" -newer "$lib" -name '*.[ch]' 2>/dev/null) ]]; then
		echo "${0##*/}: warning: $lib is older than src/ (make -C build to rebuild)" >&2
	fi
	echo "$lib"
}

# resolve_rev REV - the last commit at or before REV that changed what the
# library is built from (src/, include/, configure.ac, Makefile.am): the same
# library for every REV that only differs elsewhere (docs, tests, bench).
resolve_rev() {
	local sha
	git -C "$BS_ROOT" rev-parse --verify -q "$1^{commit}" >/dev/null ||
		die "$1: not a commit"
	sha=$(git -C "$BS_ROOT" log -1 --format=%H "$1" -- src include configure.ac Makefile.am)
	[[ -n $sha ]] || die "$1: no commit changes src/"
	echo "$sha"
}

# buddyslab_describe - one line: which sources the buddyslab library of
# buddyslab_lib was built from.
buddyslab_describe() {
	if [[ -n ${BUDDYSLAB_LIB:-} ]]; then
		echo "BUDDYSLAB_LIB=$BUDDYSLAB_LIB"
	elif [[ -n ${BUDDYSLAB_REV:-} ]]; then
		echo "commit $(resolve_rev "$BUDDYSLAB_REV" | cut -c1-12), built with ./configure defaults"
	else
		local last dirty=
		last=$(git -C "$BS_ROOT" log -1 --abbrev=12 --format=%h -- src include 2>/dev/null || echo unknown)
		git -C "$BS_ROOT" diff --quiet HEAD -- src include 2>/dev/null || dirty=" plus uncommitted changes"
		echo "build/.libs/libbuddyslab.so of the working tree (src/ and include/ last changed in commit $last$dirty)"
	fi
}

# allocator_lib NAME - what to put in LD_PRELOAD for allocator NAME (empty
# for glibc). NAME may also be the path of any malloc library.
allocator_lib() {
	case $1 in
	glibc | libc | system) echo "" ;;
	jemalloc) echo "$BS_LIBDIR/libjemalloc.so.2" ;;
	mimalloc) echo "$BS_LIBDIR/libmimalloc.so.2" ;;
	tcmalloc) echo "$BS_LIBDIR/libtcmalloc_minimal.so.4" ;;
	buddyslab) buddyslab_lib ;;
	*/*) [[ -f $1 ]] || die "$1: no such file"; echo "$1" ;;
	*) die "unknown allocator '$1' (glibc, jemalloc, mimalloc, tcmalloc, buddyslab or a path to a .so)" ;;
	esac
}

# need_allocators NAME... - install the packages of the allocators named.
need_allocators() {
	local a pkgs=()
	for a in "$@"; do
		[[ -n $(allocator_package "$a") ]] && pkgs+=("$(allocator_package "$a")")
	done
	((${#pkgs[@]})) && need_packages "${pkgs[@]}"
	return 0
}

# build_micro TARGET... - build bench/micro's binaries into $BS_MICRO_BUILD.
build_micro() {
	need_packages g++ make pkg-config libbenchmark-dev valgrind
	make -s -C "$BS_ROOT/bench/micro" O="$BS_MICRO_BUILD" "${@/#/$BS_MICRO_BUILD/}" >&2 ||
		die "building bench/micro failed"
}
