#!/bin/sh
# deps.sh WHAT - make sure the Debian packages WHAT (test, run, bench) needs
# are here: install them when root, else print the apt-get line and fail.
# Every WHAT builds, so every WHAT needs libssl-dev and liburing-dev.
what=${1:-test}
need=""
have() { command -v "$1" >/dev/null 2>&1; }
# OpenSSL 3's headers and libraries: every build links lib/tls
cc=${CC:-cc}
have "$cc" || cc=gcc
printf '#include <openssl/ssl.h>\nint main(void){ return OPENSSL_VERSION_MAJOR < 3; }\n' |
	"$cc" -x c -o /dev/null - -lssl -lcrypto >/dev/null 2>&1 || need="$need libssl-dev"
# liburing: 9mux writes its clients' replies in one io_uring call a turn
printf '#include <liburing.h>\nint main(void){ struct io_uring r; return io_uring_queue_init(2, &r, 0) == 0; }\n' |
	"$cc" -x c -o /dev/null - -luring >/dev/null 2>&1 || need="$need liburing-dev"
case $what in
test|fuzz)
	have prove || need="$need perl"
	have timeout || need="$need coreutils"
	have clang || need="$need clang"
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 ||
		need="$need libclang-rt-dev"
	[ "$what" = test ] && { have diod || need="$need diod"; }
	[ "$what" = test ] && { have pkg-config || need="$need pkg-config"; }
	# the TLS tests talk to TLS stacks no one here wrote
	if [ "$what" = test ]; then
		have openssl || need="$need openssl"
		have gnutls-cli || need="$need gnutls-bin"
		have stunnel4 || need="$need stunnel4"
		have python3 || need="$need python3"
		# the TLS test looks at the wire
		have tcpdump || need="$need tcpdump"
		have tshark || need="$need tshark"
		# socket activation is tested with systemd-socket-activate
		have systemd-socket-activate || need="$need systemd"
	fi
	;;
bench)
	have gnuplot || need="$need gnuplot-nox"
	# instructions and allocations per message; system calls by name;
	# the benchmark against a server that is not ours
	have valgrind || need="$need valgrind"
	have strace || need="$need strace"
	have diod || [ -x /usr/sbin/diod ] || need="$need diod"
	;;
run)
	;;
esac
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && have apt-get; then
	echo "installing:$need"
	{ apt-get install -y -q $need || { apt-get update -q && apt-get install -y -q $need; }; } >/dev/null ||
		{ echo "apt-get install -y$need failed" >&2; exit 1; }
	exit 0
fi
echo "missing Debian packages; run as root:" >&2
echo "  apt-get install -y$need" >&2
exit 1
