#!/bin/sh
# t_mux_install.sh - install into a scratch DESTDIR and build a program that
# uses only the names of the mux(3) manual page against the installed
# header and library, with pkg-config, then run it.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
cd "$(dirname "$0")/.." || exit 1
B=${NINEMUX_BUILD:-build}	# the build directory itself, not its bin
CC=${CC:-cc}
t() {	# t ok|fail DESC: a test whose outcome is already known
	[ "$1" = ok ]
	ok "$2"
}

# Install what the build directory holds: rebuilding it here would compile
# without the sanitizer flags it was built with (-o all: leave it be).
old=""
[ -f "$B/lib/libmux.a" ] && old="-o all"
# shellcheck disable=SC2086
if timeout 300 make --no-print-directory -s $old install O="$B" DESTDIR="$T" PREFIX=/usr >"$T/make.log" 2>&1; then
	t ok "make install O=$B DESTDIR=\$T PREFIX=/usr"
else
	t fail "make install"; sed 's/^/# /' "$T/make.log" | tail -20
fi
[ -f "$T/usr/include/mux.h" ] && [ -f "$T/usr/lib/pkgconfig/mux.pc" ] && [ -f "$T/usr/lib/libmux.a" ] &&
	[ -e "$T/usr/lib/libmux.so" ] && t ok "header, mux.pc, libmux.a and libmux.so installed" ||
	t fail "header, mux.pc, libmux.a and libmux.so installed"
[ -f "$T/usr/share/man/man3/mux.3" ] && t ok "mux(3) installed" || t fail "mux(3) installed"

cat >"$T/prog.c" <<'EOF'
/* Only the manual page's names: an adder over a socketpair. */
#include <mux.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct Msg Msg;
struct Msg { unsigned int tag, val; };

static int fds[2];

static int settag(Mux *mux, void *msg, uint tag) { (void)mux; ((Msg*)msg)->tag = tag; return 0; }
static int gettag(Mux *mux, void *msg) { (void)mux; return (int)((Msg*)msg)->tag; }
static int
sendmsg1(Mux *mux, void *msg)
{
	(void)mux;
	return write(fds[0], msg, sizeof(Msg)) == (ssize_t)sizeof(Msg) ? 0 : -1;
}
static void*
recvmsg1(Mux *mux)
{
	Msg *m = malloc(sizeof *m);
	(void)mux;
	if(m == NULL || read(fds[0], m, sizeof *m) != (ssize_t)sizeof *m){
		free(m);
		return NULL;
	}
	return m;
}
static void*
server(void *a)
{
	Msg m;
	(void)a;
	while(read(fds[1], &m, sizeof m) == (ssize_t)sizeof m){
		m.val++;
		if(write(fds[1], &m, sizeof m) != (ssize_t)sizeof m)
			break;
	}
	return NULL;
}
static Mux mux;
static void*
client(void *a)
{
	int i, bad = 0;
	for(i = 0; i < 500; i++){
		Msg q, *r;
		q.val = (unsigned)(size_t)a * 1000 + (unsigned)i;
		r = muxrpc(&mux, &q);
		if(r == NULL || r->val != q.val + 1 || r->tag < mux.mintag || r->tag >= mux.maxtag)
			bad++;
		free(r);
	}
	return (void*)(size_t)bad;
}
int
main(void)
{
	pthread_t s, c[8];
	void *v;
	int i, bad = 0;

	if(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return 2;
	pthread_create(&s, NULL, server, NULL);
	mux.mintag = 100;
	mux.maxtag = 103;
	mux.settag = settag;
	mux.gettag = gettag;
	mux.send = sendmsg1;
	mux.recv = recvmsg1;
	mux.aux = NULL;
	muxinit(&mux);
	for(i = 0; i < 8; i++)
		pthread_create(&c[i], NULL, client, (void*)(size_t)i);
	for(i = 0; i < 8; i++){
		pthread_join(c[i], &v);
		bad += (int)(size_t)v;
	}
	muxprocs(&mux);
	{
		Msg q, *r;
		q.val = 41;
		r = muxrpc(&mux, &q);
		if(r == NULL || r->val != 42)
			bad++;
		free(r);
	}
	printf("bad %d\n", bad);
	shutdown(fds[0], SHUT_RDWR);
	shutdown(fds[1], SHUT_RDWR);
	pthread_join(s, NULL);
	return bad != 0;
}
EOF

# An instrumented library needs the sanitizer runtime in the program too.
san=""
if nm "$B/lib/libmux.a" 2>/dev/null | grep -q __asan_; then
	san="-fsanitize=address,undefined"
elif nm "$B/lib/libmux.a" 2>/dev/null | grep -q __tsan_; then
	san="-fsanitize=thread"
fi

PKG="env PKG_CONFIG_PATH=$T/usr/lib/pkgconfig PKG_CONFIG_LIBDIR=$T/usr/lib/pkgconfig pkg-config --define-prefix"
flags=$($PKG --cflags --libs mux 2>"$T/pc.err")
if [ $? -eq 0 ] && echo "$flags" | grep -q -- "-I$T/usr/include" && echo "$flags" | grep -q -- "-lmux"; then
	t ok "pkg-config --define-prefix --cflags --libs mux: $flags"
else
	t fail "pkg-config --cflags --libs mux"; sed 's/^/# /' "$T/pc.err"
fi

# shellcheck disable=SC2086
if $CC $san -o "$T/prog" "$T/prog.c" $flags 2>"$T/cc.err"; then
	t ok "cc prog.c \$(pkg-config --cflags --libs mux) builds (default C dialect)"
else
	t fail "cc prog.c builds"; sed 's/^/# /' "$T/cc.err"
fi
out=$(LD_LIBRARY_PATH="$T/usr/lib" timeout 60 "$T/prog" 2>&1)
[ $? -eq 0 ] && [ "$out" = "bad 0" ] && t ok "it runs against the installed libmux.so: 8 threads x 500 RPCs on tags [100,103)" ||
	{ t fail "it runs: $out"; }
if LD_LIBRARY_PATH="$T/usr/lib" ldd "$T/prog" 2>/dev/null | grep -q "$T/usr/lib/libmux.so"; then
	t ok "and it did use the installed shared library"
else
	t fail "the program uses the installed libmux.so"
fi

# Strict C99, where the system does not define uint: mux.h does.
# shellcheck disable=SC2086
if $CC $san -std=c99 -pedantic -Werror -D_POSIX_C_SOURCE=200809L -o "$T/prog99" "$T/prog.c" $flags 2>"$T/cc.err"; then
	t ok "and builds with -std=c99 -pedantic (uint from mux.h)"
else
	t fail "builds with -std=c99"; sed 's/^/# /' "$T/cc.err"
fi
# Statically, too.
# shellcheck disable=SC2086
if $CC $san -o "$T/progs" "$T/prog.c" $($PKG --cflags mux) "$T/usr/lib/libmux.a" -pthread 2>"$T/cc.err" &&
	[ "$(timeout 60 "$T/progs")" = "bad 0" ]; then
	t ok "and against libmux.a"
else
	t fail "against libmux.a"; sed 's/^/# /' "$T/cc.err"
fi
# From C++ too, and from old C where the system headers may or may not declare uint.
printf '#include <mux.h>\nint main(){ Mux m{}; m.maxtag = 1; uint u = 0; muxinit(&m); muxfree(&m); return (int)u; }\n' >"$T/cxx.cc"
if command -v c++ >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	if c++ $san -Wall -Werror -o "$T/cxx" "$T/cxx.cc" $flags 2>"$T/cc.err" &&
		LD_LIBRARY_PATH="$T/usr/lib" timeout 60 "$T/cxx"; then
		t ok "a C++ program builds against <mux.h> and runs"
	else
		t fail "C++ program"; sed 's/^/# /' "$T/cc.err"
	fi
fi
printf '#include <mux.h>\nint main(void){ uint u = 0; return (int)u; }\n' >"$T/c89.c"
for std in c89 gnu89; do
	# shellcheck disable=SC2086
	if $CC -std=$std -pedantic -Werror -c -o "$T/c89.o" "$T/c89.c" $($PKG --cflags mux) 2>"$T/cc.err"; then
		t ok "<mux.h> compiles with -std=$std -pedantic"
	else
		t fail "<mux.h> with -std=$std"; sed 's/^/# /' "$T/cc.err"
	fi
done
done_testing
