/*
 * Topenfd, plan9port's 9pserve extension: a client (on a unix socket,
 * in 9P2000) asks for an open file as a descriptor.  The request goes
 * upstream as the Topen it is; on success the client gets Ropenfd and
 * gives the fid up, and 9mux reads or writes the file for the
 * descriptor it sends after that frame, from offset 0 on, one request
 * at a time each way, until either side ends; then it clunks the fid.
 * The daemon moves the bytes; the engine makes the requests.
 */
#include "impl.h"

void
nmsessopenfd(Nmsess *s)
{
	s->openfd = 1;
}

int
nm_isopenfd(Nmsess *s, uint8_t *f, size_t n)
{
	if(f[4] != Topenfd || !s->openfd || s->dialect != P9_2000 || n != 12)
		return 0;
	f[4] = Topen;	/* the same fields: fid[4] mode[1] */
	return 1;
}

/*
 * r, a Topenfd sent as Topen, was answered Ropen (f, n bytes): the
 * client gets Ropenfd (the Ropen and a descriptor number the daemon's
 * sendmsg replaces) with the file's Nmfd, and its fid is the Nmfd's.
 */
void
nm_openfdreply(Nmsess *s, Nmreq *r, uint8_t *f, size_t n)
{
	uint8_t b[P9_IOUNITOFF + 8];
	Nmfd *fd;
	Nmmsg *g;
	Nmux *m;

	m = s->m;
	if(n != P9_IOUNITOFF + 4 || r->fid == NULL || (fd = calloc(1, sizeof *fd)) == NULL){
		nm_rerror(s, r->ctag, ENOMEM_);
		return;
	}
	fd->m = m;
	fd->chan = r->chan;
	fd->fid = r->fid;
	fd->fid->ref++;
	fd->mode = r->omode & 3;
	fd->iounit = s->msize - P9_IOHDRSZ;
	if(p9get32(f + P9_IOUNITOFF) != 0 && p9get32(f + P9_IOUNITOFF) < fd->iounit)
		fd->iounit = p9get32(f + P9_IOUNITOFF);
	/* its reads and writes are 9mux's own, never split: the iounit keeps them fair */
	if(m->conf.iounit && fd->iounit > m->conf.iounit)
		fd->iounit = m->conf.iounit;
	/* 9pserve steals the fid: the client's number is free, the upstream fid is the descriptor's */
	nm_fidunlink(fd->fid);
	fd->next = m->fds;
	m->fds = fd;
	memcpy(b, f, n);
	p9put32(b, (uint32_t)n + 4);
	b[4] = Ropenfd;
	p9put16(b + P9_TAGOFF, r->ctag);
	p9put32(b + n, 0xFFFFFFFF);
	if((g = nm_sessputmsg(s, b, n + 4)) == NULL){
		nmfdclose(fd);
		return;
	}
	g->fd = fd;
}

int
nmfdmode(Nmfd *fd)
{
	return fd->mode;
}

uint32_t
nmfdiounit(Nmfd *fd)
{
	return fd->iounit;
}

void
nmfdsetaux(Nmfd *fd, void *aux)
{
	fd->aux = aux;
}

/* A request of fd on its fid: the frame of size n begins at b, with the fid and offset in place. */
static Nmreq *
fdreq(Nmfd *fd, uint8_t type, uint8_t *b, size_t n, uint64_t off)
{
	Nmreq *r;

	if(fd->dead || fd->closing || fd->chan == NULL || fd->chan->state != NM_CREADY)
		return NULL;
	p9put32(b, (uint32_t)n);
	b[4] = type;
	p9put16(b + P9_TAGOFF, P9_NOTAG);
	p9put32(b + 7, fd->fid->ufid);
	p9put64(b + 11, off);
	if((r = nm_reqnew(NULL, fd->chan, type, P9_NOTAG)) == NULL)
		return NULL;
	r->orphan = 1;
	r->fdio = fd;
	if((r->msg = nm_msgnew(fd->m, b, n)) == NULL){
		nm_reqfree(r);
		return NULL;
	}
	nm_chansend(fd->chan, r);
	return r;
}

int
nmfdread(Nmfd *fd, uint32_t count)
{
	uint8_t b[P9_RWCOUNTOFF + 4];

	if(fd->rreq || fd->mode == P9_OWRITE)
		return -1;
	p9put32(b + P9_RWCOUNTOFF, count < fd->iounit ? count : fd->iounit);
	fd->rreq = fdreq(fd, Tread, b, sizeof b, fd->roff);
	return fd->rreq ? 0 : -1;
}

int
nmfdwrite(Nmfd *fd, const uint8_t *p, size_t n)
{
	uint8_t *b;

	if(fd->wreq || fd->mode == P9_OREAD || n > fd->iounit)
		return -1;
	if((b = malloc(P9_RWCOUNTOFF + 4 + n)) == NULL)
		return -1;
	p9put32(b + P9_RWCOUNTOFF, (uint32_t)n);
	memcpy(b + P9_RWCOUNTOFF + 4, p, n);
	fd->wreq = fdreq(fd, Twrite, b, P9_RWCOUNTOFF + 4 + n, fd->woff);
	free(b);
	return fd->wreq ? 0 : -1;
}

/* fd's last request is done and the daemon let go: clunk the fid, free fd. */
static void
fdend(Nmfd *fd)
{
	Nmfd **pp;

	if(!fd->closing || fd->rreq || fd->wreq)
		return;
	for(pp = &fd->m->fds; *pp != NULL; pp = &(*pp)->next)
		if(*pp == fd){
			*pp = fd->next;
			break;
		}
	if(fd->dead)
		nm_fidput(fd->fid);
	else
		nm_clunkfid(fd->chan, fd->fid);
	free(fd);
}

void
nmfdclose(Nmfd *fd)
{
	fd->closing = 1;
	if(!fd->telling)
		fdend(fd);
}

/* Tell the daemon; it may close fd meanwhile, which then ends here, after. */
static void
tell(Nmfd *fd, int what, const uint8_t *p, size_t n)
{
	if(fd->aux && !fd->closing && fd->m->conf.fdevent){
		fd->telling = 1;
		fd->m->conf.fdevent(fd->aux, what, p, n);
		fd->telling = 0;
	}
	fdend(fd);
}

void
nm_fdreply(Nmreq *r, const uint8_t *f, size_t n)
{
	Nmfd *fd;
	uint32_t cnt;

	fd = r->fdio;
	r->fdio = NULL;
	if(r == fd->rreq)
		fd->rreq = NULL;
	if(r == fd->wreq)
		fd->wreq = NULL;
	if(f[4] == Rread && n >= 11 && (cnt = p9get32(f + 7)) <= n - 11){
		fd->roff += cnt;
		tell(fd, NM_FDDATA, f + 11, cnt);
	}else if(f[4] == Rwrite && n == 11){
		fd->woff += p9get32(f + 7);
		tell(fd, NM_FDWROTE, NULL, p9get32(f + 7));
	}else
		tell(fd, NM_FDERROR, NULL, 0);
}

void
nm_fdchandown(Nmchan *c)
{
	Nmfd *fd, *next;

	for(fd = c->m->fds; fd != NULL; fd = next){
		next = fd->next;
		if(fd->chan != c)
			continue;
		/* its requests go with the channel */
		fd->rreq = fd->wreq = NULL;
		fd->dead = 1;
		fd->chan = NULL;
		tell(fd, NM_FDERROR, NULL, 0);
	}
}
