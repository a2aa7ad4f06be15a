#!/bin/sh
# 9mux over TLS 1.3, against TLS stacks no one here wrote: gnutls-cli
# and openssl s_client carry a raw 9P exchange into a tls! listener
# with a pre-shared key, Python's ssl with certificates, stunnel4 as
# the upstream's TLS end; a laptop and a server 9mux share files both
# ways over one TLS link named by its key's identity (-r NAME=); a
# capture shows no 9P in cleartext, and with -z 1024 every record is a
# multiple of 1024 plus the fixed overhead; wrong keys, pins, CAs,
# expired certificates, plaintext to a TLS port and TLS to a plaintext
# port are each refused with one clear line, the daemon unaffected.
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50
WAITSTEP=0.05

for p in 9mux 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done
for p in openssl gnutls-cli stunnel4 python3; do
	if ! command -v $p >/dev/null 2>&1; then echo "1..0 # SKIP no $p"; exit 0; fi
done
cd "$T" || exit 1
B=$(cd "$OLDPWD" && cd "$B" && pwd)

tailof() {	# tailof FILE: its last lines as TAP comments
	tail -n 8 "$1" 2>/dev/null | sed 's/^/# /'
}
port() {	# port LOG ADDR: the TCP port 9mux logged for ADDR
	grep "listening on $2 (port" "$1" | tail -n 1 | sed 's/.*(port \([0-9]*\)).*/\1/'
}
# the 9P types of the frames in a file of bytes, one a line
types() {
	od -An -v -tu1 "$1" | tr -s ' ' '\n' | grep . | awk '
		{ b[n++] = $1 }
		END { for(o = 0; o + 5 <= n; o += s) { s = b[o] + 256 * b[o+1] + 65536 * b[o+2]; if(s < 7) break; print b[o+4] } }'
}
# Tversion 9P2000 msize 8192, Tattach fid 0 uname tester
printf '\023\000\000\000\144\377\377\000\040\000\000\006\0009P2000' >frames
printf '\031\000\000\000\150\001\000\000\000\000\000\377\377\377\377\006\000tester\000\000' >>frames

ssl() { openssl "$@" >>ssl.log 2>&1; }
ca() { ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" -subj "/CN=$2" -days 30; }
cert() {	# cert NAME CN CA DAYS [SAN]
	printf 'basicConstraints=CA:FALSE\n%s\n' "${5:+subjectAltName=$5}" > "$1.ext"
	ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" &&
	ssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days "$4" -extfile "$1.ext" -out "$1.pem"
}
ca ca1 "9mux test CA" && ca ca2 "another CA" &&
	cert srv localhost ca1 30 "DNS:localhost,IP:127.0.0.1" && cert cli laptop ca1 30 && cert alien laptop ca2 30
ok "keys and certificates made with openssl"
# an expired one from the same CA: openssl 3.0's x509 cannot backdate, its ca can
mkdir -p oldca && : >oldca/index.txt && echo 01 >oldca/serial
cat >oldca.cnf <<EOF
[ca]
default_ca = d
[d]
dir = $T/oldca
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
certificate = $T/ca1.pem
private_key = $T/ca1.key
default_md = sha256
policy = p
x509_extensions = e
[p]
commonName = supplied
[e]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key -out old.csr -subj "/CN=localhost" &&
	ssl ca -batch -notext -config oldca.cnf -in old.csr -out old.pem -startdate 20200101000000Z -enddate 20200102000000Z
[ -s old.pem ] && ! openssl x509 -in old.pem -noout -checkend 0 >/dev/null 2>&1
ok "an expired certificate for localhost, from the same CA" $?
# capture PORT FILE: tcpdump on loopback, each packet written at once, until endcapture
capture() {
	tcpdump --immediate-mode -i lo -U -w "$2" "tcp port $1" >tcpdump.out 2>&1 &
	tcpd=$!
	pids="$pids $tcpd"
	_i=0
	while ! grep -q "listening on" tcpdump.out && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
}
endcapture() {
	sleep 0.2
	kill -INT "$tcpd"
	wait "$tcpd"
}
freeport() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pin() { printf 'sha256:%s' "$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/.*= *//')"; }
KEY=$(openssl rand -hex 32)
(umask 077; printf '# the test\nlaptop %s\n' "$KEY" >keys; printf 'laptop %s\n' "$(openssl rand -hex 32)" >badkeys)

"$B/9ramfs" -a "unix!$T/ram" -a "tcp!127.0.0.1!0" 2>ram.err &
ram=$!
pids=$ram
waitsock "$T/ram"

# a server 9mux: PSK on one listener, certificates on another, links on a third
"$B/9mux" -v -S keys -C srv.pem -K srv.key -R ca1.pem -k 2 -a 'tls!127.0.0.1!0' -l 'tls!127.0.0.1!0' \
	-a 'tcp!127.0.0.1!0' -r "laptop=unix!$T/laptop.sock" -r "nobody=unix!$T/nobody.sock" "unix!$T/ram" 2>muxS.log &
muxS=$!
pids="$pids $muxS"
waitsock "$T/laptop.sock" "$muxS"
waitlog muxS.log "upstream unix!$T/ram ready"
ok "a server 9mux with -S, -C, -K and -R on tls! listeners"
CP=$(grep 'listening on tls!127.0.0.1!0 (port' muxS.log | grep -v 'for links' | sed 's/.*(port \([0-9]*\)).*/\1/')
LP=$(grep 'listening on tls!127.0.0.1!0 (port' muxS.log | grep 'for links' | sed 's/.*(port \([0-9]*\)).*/\1/')
[ -n "$CP" ] && [ -n "$LP" ]
ok "ports $CP for clients, $LP for links"

# gnutls-cli: ECDHE-PSK, TLS 1.3, a raw 9P exchange
(cat frames; sleep 1) | timeout 20 gnutls-cli --logfile=gnutls.info --pskusername=laptop --pskkey="$KEY" \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+PSK' -p "$CP" 127.0.0.1 >gnutls.out 2>gnutls.err
is "$(types gnutls.out | tr '\n' ' ')" "101 105 " "gnutls-cli with the key: Rversion, Rattach"
(cat frames; sleep 1) | timeout 20 gnutls-cli --logfile=gnutls2.info --pskusername=laptop --pskkey="$(openssl rand -hex 32)" \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+ECDHE-PSK:+PSK' -p "$CP" 127.0.0.1 >gnutls2.out 2>gnutls2.err
is "$(types gnutls2.out | wc -l | tr -d ' ')" 0 "gnutls-cli with a wrong key: nothing"
waitlog muxS.log "wrong pre-shared key for identity laptop"
ok "and one line says why: $(grep -m1 'wrong pre-shared key' muxS.log | sed 's/^9mux: //')"

# openssl s_client: the same exchange
(cat frames; sleep 1) | timeout 20 openssl s_client -quiet -nocommands -tls1_3 -psk_identity laptop -psk "$KEY" \
	-connect "127.0.0.1:$CP" >sclient.out 2>sclient.err
is "$(types sclient.out | tr '\n' ' ')" "101 105 " "openssl s_client with the key: Rversion, Rattach"
grep -q "New Session Ticket" sclient.err
ok "no session ticket sent" $(( ! $? ))

# Python's ssl with a client certificate
cat >client.py <<'EOF'
import socket, ssl, sys
port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
with socket.create_connection(("127.0.0.1", port)) as raw:
	with ctx.wrap_socket(raw, server_hostname="localhost") as s:
		s.sendall(open("frames", "rb").read())
		got = b""
		want = 2
		while want > 0:
			while len(got) < 4 or len(got) < int.from_bytes(got[:4], "little"):
				b = s.recv(65536)
				if not b:
					sys.exit(1)
				got += b
			n = int.from_bytes(got[:4], "little")
			print(got[4])
			got = got[n:]
			want -= 1
EOF
is "$(timeout 20 python3 client.py "$CP" cli.pem cli.key ca1.pem 2>py.err | tr '\n' ' ')" "101 105 " \
	"Python's ssl with a client certificate: Rversion, Rattach"
timeout 20 python3 client.py "$CP" alien.pem alien.key ca1.pem >py2.out 2>py2.err
[ ! -s py2.out ]
ok "Python's ssl with a certificate from another CA: refused"
waitlog muxS.log "laptop" 1
grep -q "certificate" muxS.log
ok "with one line that names the certificate problem"

# plaintext to the TLS port, and the daemon unaffected
timeout 20 "$B/9pc" -a "tcp!127.0.0.1!$CP" ls / >plain.out 2>&1
[ $? -ne 0 ]
ok "plaintext 9P to a TLS port fails: $(head -1 plain.out)" $?
waitlog muxS.log "not TLS"
ok "9mux logs it: $(grep -m1 'not TLS' muxS.log | sed 's/^9mux: //')"

# a laptop 9mux linked over TLS with the key, both ways; the link is named by its identity
"$B/9ramfs" -a "unix!$T/ramL" 2>ramL.err &
ramL=$!
pids="$pids $ramL"
waitsock "$T/ramL"
"$B/9mux" -v -S keys -k 2 -a "unix!$T/server.sock" -e "unix!$T/ramL" "tls!127.0.0.1!$LP" 2>muxL.log &
muxL=$!
pids="$pids $muxL"
waitlog muxL.log "upstream tls!127.0.0.1!$LP ready"
r=$?
ok "a laptop 9mux links over TLS with the key" $r
[ $r -eq 0 ] || { tailof muxL.log; tailof muxS.log; }
waitlog muxS.log "link laptop .* ready"
ok "the server names the link by the key's identity: laptop"
echo "from the laptop" >want1
timeout 20 "$B/9pc" -a "unix!$T/server.sock" create /l1 && timeout 20 "$B/9pc" -a "unix!$T/server.sock" write /l1 <want1
is "$(timeout 20 "$B/9pc" -a "unix!$T/ram" read /l1 2>&1)" "from the laptop" "laptop to server over the TLS link"
echo "from the server" >want2
timeout 20 "$B/9pc" -V 9P2000.L -a "unix!$T/laptop.sock" create /s1 &&
	timeout 20 "$B/9pc" -V 9P2000.L -a "unix!$T/laptop.sock" write /s1 <want2
is "$(timeout 20 "$B/9pc" -a "unix!$T/ramL" read /s1 2>&1)" "from the server" "server to laptop: -r laptop= chose the link named laptop"
timeout 20 "$B/9pc" -a "unix!$T/nobody.sock" ls / >nobody.out 2>&1
grep -q "link nobody is not up" nobody.out
ok "-r nobody=: the link named nobody is not up, says so ($(cat nobody.out))" $?

# what the wire shows: no 9P in cleartext; -z 1024 pads every record
if command -v tshark >/dev/null 2>&1 && command -v tcpdump >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	capture "$LP" cap.pcap
	printf 'a secret nobody may read\n' >secret
	timeout 20 "$B/9pc" -a "unix!$T/server.sock" create /secretfile &&
		timeout 20 "$B/9pc" -a "unix!$T/server.sock" write /secretfile <secret
	endcapture
	n9p=$(tshark -r cap.pcap -d "tcp.port==$LP,9p" -Y 9p 2>/dev/null | wc -l | tr -d ' ')
	nrec=$(tshark -r cap.pcap -d "tcp.port==$LP,tls" -Y 'tls.record.content_type == 23 || tls.record.opaque_type == 23' \
		2>/dev/null | wc -l | tr -d ' ')
	[ "$nrec" -gt 0 ] && [ "$n9p" -eq 0 ] && ! grep -aq "secretfile\|a secret nobody" cap.pcap
	ok "a capture of the link: $nrec TLS records, no 9P message and no name or data in cleartext"
else
	echo "ok $((n + 1)) # SKIP capture needs tcpdump, tshark and root"; n=$((n + 1))
fi
termwait "$muxL"
ok "the laptop 9mux exits 0" $?

# -z 1024: every record a multiple of 1024, plus 16 in the length field (21 on the wire)
"$B/9mux" -v -S keys -z 1024 -a "unix!$T/server2.sock" "tls!127.0.0.1!$CP" 2>muxZ.log &
muxZ=$!
pids="$pids $muxZ"
waitlog muxZ.log "ready"
if command -v tshark >/dev/null 2>&1 && command -v tcpdump >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	capture "$CP" capz.pcap
	head -c 100000 /dev/urandom >rnd
	timeout 20 "$B/9pc" -a "unix!$T/server2.sock" create /z >z.out 2>&1 &&
		timeout 20 "$B/9pc" -a "unix!$T/server2.sock" write /z <rnd >>z.out 2>&1 &&
		timeout 20 "$B/9pc" -a "unix!$T/server2.sock" ls / >/dev/null 2>>z.out
	ok "100000 bytes written through 9mux -z 1024 $(cat z.out)" $?
	endcapture
	# the records our side sent: from the ephemeral port to CP
	tshark -r capz.pcap -d "tcp.port==$CP,tls" \
		-Y "(tls.record.content_type == 23 || tls.record.opaque_type == 23) && tcp.dstport == $CP" -T fields -e tls.record.length \
		2>/dev/null | tr ',' '\n' | grep . >lens
	bad=$(awk '($1 - 16) % 1024 != 0' lens | wc -l | tr -d ' ')
	full=$(awk '$1 == 16400' lens | wc -l | tr -d ' ')
	[ -s lens ] && [ "$bad" -eq 0 ] && [ "$full" -gt 0 ]
	r=$?
	ok "-z 1024: all $(wc -l <lens | tr -d ' ') records 9mux sent are 16 + a multiple of 1024 in length, $full full ones (16400)" $r
	[ $r -eq 0 ] || { tailof tcpdump.out; tshark -r capz.pcap -d "tcp.port==$CP,tls" 2>/dev/null | tail -n 20 | sed 's/^/# /'; }
else
	echo "ok $((n + 1)) # SKIP capture needs tcpdump, tshark and root"; n=$((n + 1))
fi
termwait "$muxZ"
ok "9mux -z 1024 exits 0" $?

# refusals, each one line, the daemon unaffected
refused() {	# refused DESC PATTERN ARGS...: a 9mux dialing the server with ARGS logs PATTERN
	_d=$1
	_p=$2
	shift 2
	"$B/9mux" -v -F -a "unix!$T/r.sock" "$@" >r.log 2>&1
	_st=$?
	[ $_st -eq 1 ] && grep -q -- "$_p" r.log
	ok "$_d: refused ($(grep -m1 -- "$_p" r.log | sed 's/^9mux: //'))" $?
}
refused "a wrong key" "pre-shared key" -S badkeys "tls!127.0.0.1!$CP"
refused "a wrong pin" "pin" -H "sha256:$(openssl rand -hex 32)" "tls!127.0.0.1!$CP"
refused "an untrusted CA" "certificate" -R ca2.pem "tls!localhost!$CP"
# a server with the expired certificate
"$B/9mux" -v -C old.pem -K old.key -a 'tls!127.0.0.1!0' "unix!$T/ram" 2>muxO.log &
muxO=$!
pids="$pids $muxO"
waitlog muxO.log "listening on tls"
OP=$(port muxO.log 'tls!127.0.0.1!0')
refused "an expired certificate" "expired" -R ca1.pem "tls!localhost!$OP"
"$B/9mux" -v -F -a "unix!$T/r.sock" -C cli.pem -K cli.key -R ca1.pem "tls!localhost!$CP" >good.log 2>&1 &
good=$!
pids="$pids $good"
waitlog good.log "ready"
is "$(timeout 20 "$B/9pc" -a "unix!$T/r.sock" read /l1 2>&1)" "from the laptop" "a 9mux with a certificate and -R ca1.pem is served, after all that"
termwait "$good"
ok "and exits 0" $?

# stunnel4 as the upstream's TLS end
SP=$(freeport)
cat >stunnel.conf <<EOF
foreground = yes
pid =
debug = notice
[psk]
accept = 127.0.0.1:$SP
connect = $T/ram
PSKsecrets = $T/stunnel.psk
sslVersionMin = TLSv1.3
EOF
printf 'laptop:%s\n' "$KEY" >stunnel.psk
chmod 600 stunnel.psk
stunnel4 stunnel.conf </dev/null >stunnel.log 2>&1 &
stpid=$!
pids="$pids $stpid"
i=0
while [ $i -lt 100 ] && alive $stpid && ! grep -qs 'Configuration successful' stunnel.log; do sleep 0.1; i=$((i + 1)); done
"$B/9mux" -v -S keys -a "unix!$T/st.sock" "tls!127.0.0.1!$SP" 2>muxT.log &
muxT=$!
pids="$pids $muxT"
waitlog muxT.log "ready" || { tailof muxT.log; tailof stunnel.log; }
is "$(timeout 20 "$B/9pc" -a "unix!$T/st.sock" read /l1 2>&1)" "from the laptop" "stunnel4 as the upstream's TLS end: served"
termwait "$muxT"
ok "9mux exits 0" $?

# TLS to a plaintext 9P port: the dialer says the handshake failed, the server a bad frame
PP=$(port muxS.log 'tcp!127.0.0.1!0')
refused "TLS to a plaintext port" "TLS" -S keys "tls!127.0.0.1!$PP"
waitlog muxS.log "bad frame"
ok "the plaintext server drops it with a line: $(grep -m1 'bad frame' muxS.log | sed 's/^9mux: //')"
is "$(timeout 20 "$B/9pc" -a "tcp!127.0.0.1!$PP" read /l1 2>&1)" "from the laptop" "and serves on, unaffected"

# SIGHUP reads the keys again: the new one is taken, the old one refused
(umask 077; printf 'laptop %s\n' "$(openssl rand -hex 32)" >newkeys)
cp keys oldkeys
cp newkeys keys
kill -HUP "$muxS"
waitlog muxS.log "TLS keys and certificates reloaded"
ok "SIGHUP: the server reads its keys again"
refused "after SIGHUP, the old key" "pre-shared key" -S oldkeys "tls!127.0.0.1!$CP"
"$B/9mux" -v -F -a "unix!$T/r2.sock" -S newkeys "tls!127.0.0.1!$CP" >new.log 2>&1 &
newmux=$!
pids="$pids $newmux"
waitlog new.log "ready"
is "$(timeout 20 "$B/9pc" -a "unix!$T/r2.sock" read /l1 2>&1)" "from the laptop" "and the new key is taken"
termwait "$newmux"
ok "that 9mux exits 0" $?

termwait "$muxS"
ok "the server 9mux exits 0, having refused all that" $?
pids="$ram $ramL $muxO $stpid"
done_testing
