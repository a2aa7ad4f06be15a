/*
 * pxproxy.h - a 9P proxy a test controls, between 9mux and its
 * upstream: it passes whole frames both ways on one connection at a
 * time, counts them by type, and on the test's word holds back what
 * the server sends, cuts the connection (now, or at the nth Twalk
 * after a Tversion), or refuses connections as a server that is down.
 * So a test can lose the upstream at an exact point of the protocol
 * without depending on timing.  Header-only, after p9conv.h.
 */
#ifndef PXPROXY_H
#define PXPROXY_H

#include <pthread.h>
#include <sys/socket.h>

typedef struct Px Px;
struct Px {
	pthread_mutex_t	lk;
	pthread_t	thread;
	char		lis[512];
	char		target[512];
	int		lfd;
	/* the current connection */
	int		a;		/* to 9mux */
	int		b;		/* to the server */
	int		live;
	int		nconn;		/* connections accepted and passed on */
	int		sent[256];	/* T-messages 9mux sent on it, by type */
	int		held[256];	/* R-messages of the server held back on it, by type */
	int		walks;		/* Twalks since its last Tversion */
	/* what the test asks */
	int		hold;		/* hold back everything the server sends */
	int		cut;		/* cut the connection now */
	int		cutwalks;	/* cut at this Twalk after a Tversion ... */
	int		cuts;		/* ... on this many connections more */
	int		down;		/* accept and close at once */
	int		stop;
};

static void
px_lock(Px *p)
{
	pthread_mutex_lock(&p->lk);
}

static void
px_unlock(Px *p)
{
	pthread_mutex_unlock(&p->lk);
}

static int
px_readfull(int fd, uint8_t *b, size_t n)
{
	ssize_t r;

	while(n > 0){
		r = read(fd, b, n);
		if(r < 0 && errno == EINTR)
			continue;
		if(r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Both ends of the connection go (the threads see their reads fail). */
static void
px_cutlocked(Px *p)
{
	if(!p->live)
		return;
	shutdown(p->a, SHUT_RDWR);
	shutdown(p->b, SHUT_RDWR);
	p->live = 0;
}

/* Cut the connection now, holding back what the server sends on the next one or not. */
static void
px_cut(Px *p, int hold)
{
	px_lock(p);
	px_cutlocked(p);
	p->hold = hold;
	px_unlock(p);
}

typedef struct Pxdir Pxdir;
struct Pxdir {
	Px	*p;
	int	up;	/* 9mux to the server */
};

static void *
px_dir(void *v)
{
	Pxdir *d;
	Px *p;
	uint8_t *buf, *nb;
	size_t cap;
	uint32_t n;
	int from, to, t, pass;

	d = v;
	p = d->p;
	from = d->up ? p->a : p->b;
	to = d->up ? p->b : p->a;
	cap = 65536;
	buf = malloc(cap);
	for(;;){
		if(buf == NULL || px_readfull(from, buf, 4) < 0)
			break;
		n = p9get32(buf);
		if(n < 7 || n > (64u << 20))
			break;
		if(n > cap){
			if((nb = realloc(buf, n)) == NULL)
				break;
			buf = nb;
			cap = n;
		}
		if(px_readfull(from, buf + 4, n - 4) < 0)
			break;
		t = buf[4];
		pass = 1;
		px_lock(p);
		if(!p->live){
			/* cut: what was still buffered never arrives */
			px_unlock(p);
			break;
		}
		if(d->up){
			p->sent[t]++;
			if(t == Tversion)
				p->walks = 0;
			if(t == Twalk && p->cuts > 0 && ++p->walks >= p->cutwalks){
				p->cuts--;
				px_cutlocked(p);
				pass = 0;
			}
		}else if(p->hold){
			p->held[t]++;
			pass = 0;
		}
		px_unlock(p);
		if(pass && pc_write(to, buf, n) < 0)
			break;
	}
	free(buf);
	px_lock(p);
	px_cutlocked(p);
	px_unlock(p);
	return NULL;
}

static void *
px_main(void *v)
{
	struct pollfd pf;
	pthread_t t[2];
	Pxdir d[2];
	Px *p;
	int a, b, stop;

	p = v;
	for(;;){
		pf.fd = p->lfd;
		pf.events = POLLIN;
		if(poll(&pf, 1, 20) <= 0){
			px_lock(p);
			stop = p->stop;
			px_unlock(p);
			if(stop)
				break;
			continue;
		}
		if((a = accept(p->lfd, NULL, NULL)) < 0)
			continue;
		px_lock(p);
		if(p->down || (b = pc_dial(p->target)) < 0){
			px_unlock(p);
			close(a);
			continue;
		}
		p->a = a;
		p->b = b;
		p->live = 1;
		p->nconn++;
		memset(p->sent, 0, sizeof p->sent);
		memset(p->held, 0, sizeof p->held);
		p->walks = 0;
		p->cut = 0;
		px_unlock(p);
		d[0] = (Pxdir){p, 1};
		d[1] = (Pxdir){p, 0};
		pthread_create(&t[0], NULL, px_dir, &d[0]);
		pthread_create(&t[1], NULL, px_dir, &d[1]);
		for(;;){
			px_lock(p);
			if(p->cut || p->stop)
				px_cutlocked(p);
			stop = !p->live;
			px_unlock(p);
			if(stop)
				break;
			pc_sleep(5);
		}
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		px_lock(p);
		p->cut = 0;
		px_unlock(p);
		close(a);
		close(b);
	}
	close(p->lfd);
	unlink(p->lis);
	return NULL;
}

/* A proxy listening on the unix socket lis, passing on to target; NULL on failure. */
static Px *
px_new(const char *lis, const char *target)
{
	struct sockaddr_un sa;
	Px *p;

	p = calloc(1, sizeof *p);
	pthread_mutex_init(&p->lk, NULL);
	snprintf(p->lis, sizeof p->lis, "%s", lis);
	snprintf(p->target, sizeof p->target, "%s", target);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", lis);
	p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if(p->lfd < 0 || bind(p->lfd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(p->lfd, 16) < 0){
		free(p);
		return NULL;
	}
	pthread_create(&p->thread, NULL, px_main, p);
	return p;
}

static void
px_free(Px *p)
{
	px_lock(p);
	p->stop = 1;
	px_unlock(p);
	pthread_join(p->thread, NULL);
	free(p);
}

/* Wait up to ms until f(p) holds (checked under the lock): whether it does. */
static int
px_wait(Px *p, int (*f)(Px*), int ms)
{
	long end;
	int r;

	end = pc_now() + ms;
	for(;;){
		px_lock(p);
		r = f(p);
		px_unlock(p);
		if(r || pc_now() >= end)
			return r;
		pc_sleep(5);
	}
}

#endif
