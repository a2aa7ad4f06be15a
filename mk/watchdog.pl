#!/usr/bin/perl
# watchdog.pl SECONDS TEST - run one test file for prove(1), and kill it
# with everything it started if it runs past SECONDS: a hang becomes a
# failure with the test's name instead of a stuck run.  The test runs in
# a session of its own, so its daemons go with it and none of them can
# keep prove's pipe open after it.  Shell tests run under sh.
use strict;
use warnings;
use POSIX qw(setsid :sys_wait_h);

my ($secs, @cmd) = @ARGV;
die "usage: watchdog.pl SECONDS TEST [ARGS]\n" unless defined $secs && @cmd;
my $t = $cmd[0];
unshift @cmd, 'sh' if $t =~ /\.sh$/;
my $pid = fork;
die "watchdog: fork: $!\n" unless defined $pid;
if($pid == 0){
	setsid or die "watchdog: setsid: $!\n";
	exec @cmd or die "watchdog: exec $t: $!\n";
}
my ($fired, $st) = (0, undef);
local $SIG{ALRM} = sub {
	$fired = 1;
	kill 'TERM', -$pid;
	# a daemon stuck at exit gets 5 s more, then nothing may stay
	for(my $i = 0; $i < 50; $i++){
		$st = $? if !defined $st && waitpid($pid, WNOHANG) == $pid;
		last unless kill(0, -$pid);
		select(undef, undef, undef, 0.1);
	}
	kill 'KILL', -$pid;
};
alarm $secs;
while(!defined $st){
	my $r = waitpid($pid, 0);
	if($r == $pid){ $st = $?; last; }
	last if $r < 0 && !$!{EINTR};
}
alarm 0;
# the group may outlive its leader: a daemon the test forgot
kill 'KILL', -$pid;
if($fired){
	print "not ok 999999 - watchdog: $t ran past $secs s and was killed\n";
	print STDERR "# watchdog: $t ran past $secs s; it and everything it started were killed\n";
	exit 124;
}
$st //= 255 << 8;
exit(($st & 127) ? 128 + ($st & 127) : $st >> 8);
