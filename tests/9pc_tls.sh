#!/bin/sh
# 9pc over TLS end to end: stunnel4 (OpenSSL under a program no one here
# wrote) in front of 9ramfs on loopback, with a pre-shared key, with
# certificates both ways, and with a self-signed certificate and -H pins;
# 9pc reads and writes files through each, and every refusal has its line.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50	# SIGKILL if SIGTERM has not ended a server in 5 s

for p in 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done
for p in stunnel4 openssl; do
	if ! command -v $p >/dev/null 2>&1; then echo "1..0 # SKIP no $p"; exit 0; fi
done

cd "$T" || exit 1
B=$(cd "$OLDPWD" && cd "$B" && pwd)

# keys and certificates: two CAs, a server for localhost and 127.0.0.1,
# a client, and a self-signed server
ssl() { openssl "$@" >>ssl.log 2>&1; }
ca() { ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" -subj "/CN=$2" -days 30; }
cert() {	# cert NAME CN CA [SAN]
	printf 'basicConstraints=CA:FALSE\n%s\n' "${4:+subjectAltName=$4}" > "$1.ext"
	ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" &&
	ssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.pem"
}
ca ca1 "9pc test CA" && ca ca2 "another CA" &&
	cert srv localhost ca1 "DNS:localhost,IP:127.0.0.1" && cert cli laptop ca1 &&
	ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self.key -out self.pem \
		-subj /CN=selfhost -days 30 -addext basicConstraints=CA:FALSE
ok "keys and certificates made with openssl"
pin() { printf 'sha256:%s' "$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/.*= *//')"; }
SELFPIN=$(pin self.pem)
SRVPIN=$(pin srv.pem)
CLIPIN=$(pin cli.pem)
KEY=$(openssl rand -hex 32)
(umask 077; printf '# 9pc test\nlaptop %s\n' "$KEY" > keys; printf 'laptop %s\n' "$(openssl rand -hex 32)" > badkeys)
printf 'laptop:%s\n' "$KEY" > stunnel.psk
chmod 600 stunnel.psk

# 9ramfs on TCP, stunnel4 in front of it on three ports; another base if taken
started=
for try in 1 2 3; do
	base=$(( 20000 + ($$ * 7 + try * 1013) % 40000 ))
	RP=$base PSKP=$((base + 1)) CERTP=$((base + 2)) SELFP=$((base + 3))
	"$B/9ramfs" -a "tcp!127.0.0.1!$RP" -a "unix!$T/ram.sock" </dev/null >/dev/null 2>ram.err &
	ram=$!
	if ! waitsock "$T/ram.sock" "$ram"; then wait "$ram" 2>/dev/null; continue; fi
	cat > stunnel.conf <<EOF
foreground = yes
pid =
debug = notice
[psk]
accept = 127.0.0.1:$PSKP
connect = 127.0.0.1:$RP
PSKsecrets = $T/stunnel.psk
sslVersionMin = TLSv1.3
[cert]
accept = 127.0.0.1:$CERTP
connect = 127.0.0.1:$RP
cert = $T/srv.pem
key = $T/srv.key
CAfile = $T/ca1.pem
verifyChain = yes
sslVersionMin = TLSv1.3
[self]
accept = 127.0.0.1:$SELFP
connect = 127.0.0.1:$RP
cert = $T/self.pem
key = $T/self.key
sslVersionMin = TLSv1.3
EOF
	stunnel4 stunnel.conf </dev/null >stunnel.log 2>&1 &
	stp=$!
	i=0
	while [ $i -lt 100 ] && alive $stp && ! grep -qs 'Configuration successful' stunnel.log; do sleep 0.1; i=$((i + 1)); done
	if grep -qs "Configuration successful" stunnel.log && alive $stp; then
		pids="$stp $ram"
		started=1
		break
	fi
	stop "$stp"
	stop "$ram"
done
if [ -z "$started" ]; then
	echo "not ok 2 - stunnel4 and 9ramfs started"; sed 's/^/# /' stunnel.log ram.err; echo "1..2"; exit 1
fi
ok "9ramfs on 127.0.0.1:$RP, stunnel4 on $PSKP (pre-shared key), $CERTP (certificates), $SELFP (self-signed)"

P="timeout -k 5 30 $B/9pc"
awk 'BEGIN { for(i = 0; i < 5000; i++) printf "line %05d of the TLS test data\n", i }' > big

# a pre-shared key
A="tls!127.0.0.1!$PSKP"
$P -S keys -a "$A" mkdir d 2>err; ok "-S: mkdir through stunnel ($(cat err))"
$P -S keys -a "$A" create d/big d/small 2>err; ok "-S: create"
$P -S keys -a "$A" write d/big <big 2>err; ok "-S: write $(wc -c <big) bytes"
$P -S keys -a "$A" read d/big >out 2>err; ok "-S: read"
cmp -s out big; ok "-S: read gives back what write wrote"
$P -S keys -m 600 -a "$A" read d/big >out 2>err && cmp -s out big; ok "-S: ... with msize 600, many small messages"
echo hello | $P -S keys -a "$A" write d/small 2>err
is "$($P -S keys -a "$A" read d/small 2>&1)" "hello" "-S: a small file"
is "$($P -S keys -a "$A" ls d 2>&1)" "$(printf 'big\nsmall')" "-S: ls"
is "$($P -S keys -a "$A" stat d/small 2>&1 | grep '^length')" "length 6" "-S: stat"
is "$($P -S keys -V 9P2000.L -a "$A" read d/small 2>&1)" "hello" "-S: 9P2000.L"

$P -S badkeys -a "$A" ls d >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "^9pc: $A: the peer refused our pre-shared key, identity laptop" err; ok "a wrong key is refused: $(cat err)"
chmod 644 keys
$P -S keys -a "$A" ls d >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "^9pc: key file .*keys: readable or writable by group or others (mode 0644)" err; ok "a key file others can read is refused: $(cat err)"
chmod 600 keys
printf 'laptop 0011\n' > shortkeys; chmod 600 shortkeys
$P -S shortkeys -a "$A" ls d >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "shortkeys, line 1: key of laptop is 2 bytes, at least 32 needed" err; ok "a short key is refused: $(cat err)"
$P -S keys -a "tcp!127.0.0.1!$RP" ls d >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "are for tls! addresses" err; ok "TLS flags with a tcp! address: $(cat err)"
$P -a "tcp!127.0.0.1!$PSKP" ls d >out 2>err; st=$?
[ $st -ne 0 ]; ok "plaintext 9P to the TLS port fails ($(cat err))"
$P -S keys -a "tls!127.0.0.1!$RP" ls d >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "the peer closed the connection during the TLS handshake" err; ok "TLS to 9ramfs's plaintext port: $(cat err)"

# certificates both ways: stunnel checks ours against ca1, we check its host
for h in localhost 127.0.0.1; do
	A="tls!$h!$CERTP"
	$P -R ca1.pem -C cli.pem -K cli.key -a "$A" read d/big >out 2>err && cmp -s out big
	ok "-R -C -K: read through stunnel as $h ($(cat err))"
done
A="tls!localhost!$CERTP"
echo certs | $P -R ca1.pem -C cli.pem -K cli.key -a "$A" write d/small 2>err; ok "-R -C -K: write"
is "$($P -S keys -a "tls!127.0.0.1!$PSKP" read d/small 2>&1)" "certs" "... the same file through the key port"
$P -R ca1.pem -C cli.pem -K cli.key -H "$SRVPIN" -a "$A" read d/small >out 2>err; ok "-R and -H, both right ($(cat err))"
$P -R ca1.pem -C cli.pem -K cli.key -H "$SELFPIN" -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "matches no -H pin" err; ok "-R right, -H wrong: $(cat err)"
$P -R ca2.pem -C cli.pem -K cli.key -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "the certificate of localhost is not from a CA in ca2.pem" err; ok "a CA that did not sign the server: $(cat err)"
$P -R ca1.pem -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "^9pc: $A: the \(peer\|server\) wants a \(client \)\?certificate" err; ok "no client certificate: $(cat err)"
$P -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "the system's trust store" err; ok "no flags: the system's trust store does not know ca1: $(cat err)"

# a self-signed server, known by its pin alone, as an SSH host key
A="tls!127.0.0.1!$SELFP"
$P -H "$SELFPIN" -a "$A" read d/big >out 2>err && cmp -s out big; ok "-H alone: read from a self-signed server ($(cat err))"
$P -H "$SRVPIN" -H "$SELFPIN" -a "$A" read d/small >out 2>err; ok "... the second of two pins"
$P -H "$SRVPIN" -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "the public key of selfhost, $SELFPIN, matches no -H pin" err; ok "a wrong pin is refused, and says the right one: $(cat err)"
$P -H "$CLIPIN" -a "tls!127.0.0.1!$PSKP" read d/small >out 2>err; st=$?
[ $st -ne 0 ]; ok "-H to the key-only port fails ($(cat err))"
$P -H sha256:1234 -a "$A" read d/small >out 2>err; st=$?
[ $st -ne 0 ] && grep -q "bad -H sha256:1234" err; ok "a malformed pin: $(cat err)"

$P -S keys -a "tls!127.0.0.1!$PSKP" rm d/big d/small d 2>err; ok "-S: rm"
alive "$stp" && alive "$ram"; ok "stunnel4 and 9ramfs still running"
done_testing
