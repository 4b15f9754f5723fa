/*
 * ldapshuffle: a TCP relay on 127.0.0.1 between an LDAP client and an LDAP
 * server that reorders the server's replies across operations, for the
 * tests of a client that runs several searches at once on one connection
 * (pssync's "scan" strategy): it makes the answers of concurrent searches
 * arrive interleaved, as a busy server may send them, and in reads of
 * arbitrary size.
 *
 *   ldapshuffle [-w WINDOW_US] [-n MAX_HELD] [-p PAUSE_US] [-s SEED] [-v]
 *               LISTEN_PORT TARGET_PORT
 *
 * Listens on 127.0.0.1:LISTEN_PORT; each accepted connection gets its own
 * connection to 127.0.0.1:TARGET_PORT.
 *
 * Client to server, bytes pass through unchanged, as soon as they are read.
 *
 * Server to client, the byte stream is cut into LDAPMessages (BER: a
 * SEQUENCE, tag 0x30, of definite length in short or long form, whose first
 * element is the INTEGER messageID).  Whole messages are held, queued by
 * messageID, from the first one held until WINDOW_US microseconds later
 * (default 2000), or until MAX_HELD messages (default 512) or 2 MiB are
 * held, and then released all at once in a shuffled order: a seeded random
 * merge of the queues that keeps the order of the messages of each
 * messageID (a search's entries and references stay before its
 * SearchResultDone, as LDAP requires) and switches to another messageID
 * after every message while another one has messages left.  The released
 * bytes are written in writes of random size, from one byte to tens of
 * kilobytes, that split messages and join several in one write, with a
 * pause of up to PAUSE_US microseconds (default 200, 0 for none) after one
 * write in four, so that the client reads what has come so far and its
 * reads end anywhere.  -w 0 releases after every read of the server,
 * shuffling only what one read brought.
 *
 * Bytes that are not LDAP (a first byte other than 0x30, a length that is
 * indefinite or over 16 MiB, no INTEGER messageID: a TLS handshake after
 * StartTLS, an ldaps:// server, a SASL security layer) switch the
 * connection to passing the server's bytes through unchanged, after the
 * messages already held; nothing is parsed on it after that.
 *
 * Half-close is relayed both ways: EOF from the client becomes a
 * shutdown(SHUT_WR) of the server once the client's bytes are written, and
 * EOF from the server releases everything held (a partial message at the
 * end as it is) and becomes a shutdown(SHUT_WR) of the client once that is
 * written.  A connection ends when both directions have delivered their
 * EOF, or at the first error on either side, which closes both.  Memory is
 * bounded: the client is not read while 4 MiB wait to be written to the
 * server, the server is not read while 4 MiB are held or wait to be
 * written to the client (plus one partial message of at most 16 MiB).
 *
 * One process, one thread, epoll, non-blocking sockets, a timerfd for the
 * windows and the pauses.  The SEED (default: from the clock and the
 * process id) drives every random choice, though the order still depends
 * on timing.  Runs until killed.  -v logs the seed, connections and, when
 * a connection ends, its counts: messages, messages released after one
 * that arrived later (overtaken), releases and those that mixed
 * messageIDs.
 *
 * What libldap makes of it: on a plain TCP connection it reads one message
 * at a time (no read-ahead), so ldap_result() returns one message a call
 * there, whatever the order on the wire.  The chains it returns for
 * LDAP_RES_ANY with LDAP_MSG_RECEIVED mix messageIDs (libldap 2.6.10 and
 * later, ITS#10229) only when one read brings in several messages, as a
 * TLS record that holds several does.  A TLS front that coalesces the
 * relay's writes makes such records, e.g.
 *   socat OPENSSL-LISTEN:3898,bind=127.0.0.1,reuseaddr,fork,verify=0,cert=CERT_AND_KEY.pem \
 *       TCP:127.0.0.1:3899
 * with the client on ldaps://localhost:3898.
 *
 * Built as the other tools: gcc -O2 -Wall -Wextra -o ldapshuffle ldapshuffle.c
 *   ldapshuffle -v 3899 3890 &    # slapd on 3890
 *   ldapsearch -x -H ldap://127.0.0.1:3899 ...
 * test/tools/ldap/interleaved_searches.c runs concurrent searches through it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"

#define READ_SIZE 65536
#define MAX_EVENTS 256
#define READS_PER_EVENT 16
#define HIGH_WATER ((size_t) 4 << 20)	/* a direction stops reading */
#define RELEASE_BYTES ((size_t) 2 << 20)	/* held: released at once */
#define MAX_MESSAGE ((size_t) 16 << 20) /* larger: not parsed */
#define KEEP_BUFFER ((size_t) 256 << 10)	/* empty buffers above: freed */

/* Bytes start..end of data. */
struct buf
{
	char	   *data;
	size_t		start;
	size_t		end;
	size_t		cap;
};

/* A whole LDAPMessage from the server, held. */
struct msg
{
	struct msg *next;
	uint64_t	seq;			/* arrival order on its connection */
	size_t		len;
	char		data[];
};

/* The held messages of one messageID, in arrival order. */
struct queue
{
	uint64_t	msgid;
	size_t		count;
	struct msg *head;
	struct msg *tail;
};

/* One socket of a connection. */
struct endpoint
{
	int			fd;
	struct conn *conn;
	int			side;			/* 0 client, 1 server */
	uint32_t	events;			/* registered with epoll */
	bool		registered;
};

struct conn
{
	struct endpoint ep[2];
	unsigned long id;
	bool		connecting;		/* connect to the server in progress */
	bool		dead;
	struct conn *dead_next;

	/* client to server */
	struct buf	up;
	bool		up_eof;			/* EOF read from the client */
	bool		up_shut;		/* ... and delivered to the server */
	bool		up_paused;
	bool		up_blocked;		/* the server's socket would block */

	/* server to client */
	struct buf	in;				/* read, not yet a whole message */
	struct buf	out;			/* released, to be written */
	struct queue *queues;
	int			nqueues;
	int			queues_cap;
	size_t		held_count;
	size_t		held_bytes;
	bool		passthrough;	/* not LDAP: bytes pass unchanged */
	bool		down_eof;
	bool		down_shut;
	bool		down_paused;
	bool		down_blocked;

	/* the window: connections with messages held, by deadline */
	bool		timed;
	uint64_t	deadline_ns;
	struct conn *tprev;
	struct conn *tnext;

	/* a pause between two writes to the client, by end */
	bool		write_paused;
	uint64_t	resume_ns;
	struct conn *pprev;
	struct conn *pnext;

	/* counts, for -v */
	uint64_t	next_seq;
	unsigned long messages;
	unsigned long overtaken;
	unsigned long releases;
	unsigned long mixed_releases;
	unsigned long long bytes_down;
	unsigned long long bytes_up;
	unsigned long long passthrough_at;
	const char *passthrough_why;
};

static int	epfd;
static int	timerfd;
static int	listen_fd;
static uint64_t window_ns = 2000000;
static size_t max_held = 512;
static uint64_t max_pause_ns = 200000;
static int	target_port;
static bool verbose;
static unsigned long next_id;
static uint64_t rng_state;

static struct conn *timer_head;	/* oldest deadline first */
static struct conn *timer_tail;
static struct conn *pause_head;	/* soonest end first */
static struct conn *pause_tail;
static uint64_t armed_ns;		/* what the timerfd is set to, 0 none */
static struct conn *dead_list;

/* tags in epoll data for the two non-connection fds */
static char listen_tag;
static char timer_tag;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "ldapshuffle: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
	{
		fprintf(stderr, "ldapshuffle: out of memory\n");
		exit(1);
	}
	return p;
}

/* xorshift64*: small, fast, good enough to shuffle with */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t
rnd_below(uint64_t n)
{
	return rnd() % n;
}

static void
seed_rng(uint64_t seed)
{
	/* splitmix64 of the seed, so that small seeds spread; never zero */
	uint64_t	z = seed + UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	rng_state = z ? z : 1;
}

/* The size of the next write to a client: often small, sometimes large. */
static size_t
piece_size(void)
{
	switch (rnd() & 3)
	{
		case 0:
			return 1 + (size_t) rnd_below(8);
		case 1:
			return 1 + (size_t) rnd_below(100);
		case 2:
			return 1 + (size_t) rnd_below(2000);
		default:
			return 1 + (size_t) rnd_below(40000);
	}
}

static size_t
buf_len(const struct buf *b)
{
	return b->end - b->start;
}

/* Room for n more bytes at the end. */
static void
buf_reserve(struct buf *b, size_t n)
{
	size_t		cap;

	if (b->cap - b->end >= n)
		return;
	if (b->start > 0)
	{
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
		if (b->cap - b->end >= n)
			return;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->end < n)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

static void
buf_append(struct buf *b, const char *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->end, p, n);
	b->end += n;
}

static void
buf_consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
	{
		b->start = b->end = 0;
		if (b->cap > KEEP_BUFFER)
		{
			free(b->data);
			b->data = NULL;
			b->cap = 0;
		}
	}
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void
set_nodelay(int fd)
{
	int			one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * What an endpoint waits for: readable while its direction reads, writable
 * while the other direction could not write to it (or while the connect to
 * the server is in progress).  An fd that waits for nothing is removed from
 * epoll, so that a hang-up it cannot act on yet does not wake the loop over
 * and over.
 */
static void
update_events(struct endpoint *ep)
{
	struct conn *c = ep->conn;
	uint32_t	events = 0;
	struct epoll_event ev;

	if (c->dead)
		return;
	if (ep->side == 1 && c->connecting)
		events = EPOLLOUT;
	else if (ep->side == 0)
	{
		if (!c->up_eof && !c->up_paused)
			events |= EPOLLIN;
		if (c->down_blocked)
			events |= EPOLLOUT;
	}
	else
	{
		if (!c->down_eof && !c->down_paused)
			events |= EPOLLIN;
		if (c->up_blocked)
			events |= EPOLLOUT;
	}
	if (events == ep->events && ep->registered == (events != 0))
		return;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = ep;
	if (events == 0)
	{
		if (ep->registered && epoll_ctl(epfd, EPOLL_CTL_DEL, ep->fd, &ev) < 0)
			die("epoll_ctl del");
		ep->registered = false;
	}
	else if (ep->registered)
	{
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, ep->fd, &ev) < 0)
			die("epoll_ctl mod");
	}
	else
	{
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, ep->fd, &ev) < 0)
			die("epoll_ctl add");
		ep->registered = true;
	}
	ep->events = events;
}

static void
timer_unlink(struct conn *c)
{
	if (!c->timed)
		return;
	if (c->tprev)
		c->tprev->tnext = c->tnext;
	else
		timer_head = c->tnext;
	if (c->tnext)
		c->tnext->tprev = c->tprev;
	else
		timer_tail = c->tprev;
	c->tprev = c->tnext = NULL;
	c->timed = false;
}

/* The window is the same for everyone: appending keeps deadline order. */
static void
timer_append(struct conn *c, uint64_t deadline)
{
	c->deadline_ns = deadline;
	c->tprev = timer_tail;
	c->tnext = NULL;
	if (timer_tail)
		timer_tail->tnext = c;
	else
		timer_head = c;
	timer_tail = c;
	c->timed = true;
}

static void
pause_unlink(struct conn *c)
{
	if (!c->write_paused)
		return;
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		pause_head = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	else
		pause_tail = c->pprev;
	c->pprev = c->pnext = NULL;
	c->write_paused = false;
}

/* Pauses differ in length: inserted in order, from the end. */
static void
pause_writes(struct conn *c, uint64_t until)
{
	struct conn *after = pause_tail;

	while (after && after->resume_ns > until)
		after = after->pprev;
	c->resume_ns = until;
	c->pprev = after;
	c->pnext = after ? after->pnext : pause_head;
	if (c->pnext)
		c->pnext->pprev = c;
	else
		pause_tail = c;
	if (after)
		after->pnext = c;
	else
		pause_head = c;
	c->write_paused = true;
}

static void
drop_held(struct conn *c)
{
	int			i;

	for (i = 0; i < c->nqueues; i++)
	{
		struct msg *m = c->queues[i].head;

		while (m)
		{
			struct msg *next = m->next;

			free(m);
			m = next;
		}
	}
	c->nqueues = 0;
	c->held_count = 0;
	c->held_bytes = 0;
}

/*
 * End a connection at once: both sockets closed, everything in flight
 * dropped.  The memory goes at the end of the loop iteration, since events
 * of this round may still point at it.
 */
static void
kill_conn(struct conn *c, const char *why)
{
	int			i;

	if (c->dead)
		return;
	if (verbose)
	{
		fprintf(stderr, "ldapshuffle: connection %lu closed (%s): %llu bytes up, "
				"%llu down, %lu messages, %lu overtaken, %lu releases, "
				"%lu with several messageIDs",
				c->id, why, c->bytes_up, c->bytes_down, c->messages,
				c->overtaken, c->releases, c->mixed_releases);
		if (c->passthrough)
			fprintf(stderr, "; passed through from byte %llu on (%s)",
					c->passthrough_at, c->passthrough_why);
		fprintf(stderr, "\n");
	}
	c->dead = true;
	timer_unlink(c);
	pause_unlink(c);
	drop_held(c);
	free(c->queues);
	c->queues = NULL;
	buf_free(&c->up);
	buf_free(&c->in);
	buf_free(&c->out);
	for (i = 0; i < 2; i++)
	{
		if (c->ep[i].fd >= 0)
			close(c->ep[i].fd);	/* also removes it from epoll */
		c->ep[i].fd = -1;
	}
	c->dead_next = dead_list;
	dead_list = c;
}

static void
maybe_finish(struct conn *c)
{
	if (!c->dead && c->up_shut && c->down_shut)
		kill_conn(c, "both sides done");
}

/*
 * Release everything held: a random merge of the queues, each pick weighted
 * by what its queue has left, never the queue of the message before while
 * another one has messages.
 */
static void
release(struct conn *c)
{
	size_t		remaining = c->held_count;
	uint64_t	latest = 0;
	bool		any = false;
	int			last = -1;

	timer_unlink(c);
	if (remaining == 0)
		return;
	c->releases++;
	if (c->nqueues > 1)
		c->mixed_releases++;
	while (remaining > 0)
	{
		size_t		weight = remaining;
		uint64_t	r;
		struct queue *q = NULL;
		struct msg *m;
		int			i;
		bool		skip_last;

		skip_last = last >= 0 && c->queues[last].count < remaining;
		if (skip_last)
			weight -= c->queues[last].count;
		r = rnd_below(weight);
		for (i = 0; i < c->nqueues; i++)
		{
			if (skip_last && i == last)
				continue;
			if (r < c->queues[i].count)
			{
				q = &c->queues[i];
				break;
			}
			r -= c->queues[i].count;
		}
		m = q->head;
		q->head = m->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->count--;
		remaining--;
		last = i;

		if (any && m->seq < latest)
			c->overtaken++;
		if (!any || m->seq > latest)
			latest = m->seq;
		any = true;
		buf_append(&c->out, m->data, m->len);
		free(m);
	}
	c->nqueues = 0;
	c->held_count = 0;
	c->held_bytes = 0;
}

/* Hold a whole message, in the queue of its messageID. */
static void
hold(struct conn *c, const char *data, size_t len, uint64_t msgid, uint64_t now)
{
	struct queue *q = NULL;
	struct msg *m;
	int			i;

	for (i = 0; i < c->nqueues; i++)
	{
		if (c->queues[i].msgid == msgid)
		{
			q = &c->queues[i];
			break;
		}
	}
	if (q == NULL)
	{
		if (c->nqueues == c->queues_cap)
		{
			c->queues_cap = c->queues_cap ? c->queues_cap * 2 : 16;
			c->queues = xrealloc(c->queues, sizeof(struct queue) * (size_t) c->queues_cap);
		}
		q = &c->queues[c->nqueues++];
		memset(q, 0, sizeof(*q));
		q->msgid = msgid;
	}
	m = xrealloc(NULL, sizeof(struct msg) + len);
	m->next = NULL;
	m->seq = c->next_seq++;
	m->len = len;
	memcpy(m->data, data, len);
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->count++;
	c->held_count++;
	c->held_bytes += len;
	c->messages++;
	if (!c->timed && window_ns > 0)
		timer_append(c, now + window_ns);
}

/*
 * A BER definite length at p: 1 with its value and the number of octets it
 * takes, 0 if more bytes are needed, -1 if it is not one LDAP could use
 * (indefinite, or more than 4 octets of length).
 */
static int
ber_length(const unsigned char *p, size_t avail, size_t *octets, size_t *value)
{
	size_t		n;
	size_t		v = 0;
	size_t		i;

	if (avail < 1)
		return 0;
	if (p[0] < 0x80)
	{
		*octets = 1;
		*value = p[0];
		return 1;
	}
	n = p[0] & 0x7f;
	if (n == 0 || n > 4)
		return -1;
	if (avail < 1 + n)
		return 0;
	for (i = 1; i <= n; i++)
		v = (v << 8) | p[i];
	*octets = 1 + n;
	*value = v;
	return 1;
}

/*
 * The LDAPMessage at the start of p: 1 with its total length and its
 * messageID when it is all there, 0 if more bytes are needed, -1 if the
 * bytes are not an LDAPMessage.
 */
static int
frame_message(const unsigned char *p, size_t avail, size_t *total,
			  uint64_t *msgid, const char **why)
{
	size_t		octets;
	size_t		len;
	size_t		id_octets;
	size_t		id_len;
	size_t		hdr;
	size_t		i;
	uint64_t	id = 0;
	int			r;

	if (avail < 1)
		return 0;
	if (p[0] != 0x30)
	{
		*why = "not a SEQUENCE";
		return -1;
	}
	r = ber_length(p + 1, avail - 1, &octets, &len);
	if (r < 0)
		*why = "a length LDAP does not use";
	if (r <= 0)
		return r;
	if (len > MAX_MESSAGE)
	{
		*why = "a message over 16 MiB";
		return -1;
	}
	hdr = 1 + octets;
	if (avail < hdr + len)
		return 0;

	/* messageID INTEGER, then at least the tag of the protocolOp */
	p += hdr;
	if (len < 4 || p[0] != 0x02 ||
		ber_length(p + 1, len - 1, &id_octets, &id_len) != 1 ||
		id_len < 1 || id_len > 8 || 1 + id_octets + id_len >= len)
	{
		*why = "no messageID";
		return -1;
	}
	for (i = 0; i < id_len; i++)
		id = (id << 8) | p[1 + id_octets + i];
	*total = hdr + len;
	*msgid = id;
	return 1;
}

/* Not LDAP: release what is held, pass everything after it unchanged. */
static void
start_passthrough(struct conn *c, const char *why)
{
	release(c);
	c->passthrough = true;
	c->passthrough_why = why;
	c->passthrough_at = c->bytes_down - buf_len(&c->in);
	if (verbose)
		fprintf(stderr, "ldapshuffle: connection %lu: %s from the server at byte "
				"%llu, passing its bytes through from there\n",
				c->id, why, c->passthrough_at);
}

/* Cut what the server sent into messages and hold them. */
static void
parse_replies(struct conn *c, uint64_t now)
{
	while (!c->passthrough && buf_len(&c->in) > 0)
	{
		const char *p = c->in.data + c->in.start;
		const char *why = NULL;
		size_t		total = 0;
		uint64_t	msgid = 0;
		int			r;

		r = frame_message((const unsigned char *) p, buf_len(&c->in), &total,
						  &msgid, &why);
		if (r == 0)
			break;
		if (r < 0)
		{
			start_passthrough(c, why);
			break;
		}
		hold(c, p, total, msgid, now);
		buf_consume(&c->in, total);
		if (c->held_count >= max_held || c->held_bytes >= RELEASE_BYTES)
			release(c);
	}
	if (c->passthrough && buf_len(&c->in) > 0)
	{
		buf_append(&c->out, c->in.data + c->in.start, buf_len(&c->in));
		buf_consume(&c->in, buf_len(&c->in));
	}
}

/* Write what waits for the server. */
static void
flush_up(struct conn *c)
{
	int			fd;

	if (c->dead || c->connecting)
		return;
	fd = c->ep[1].fd;
	c->up_blocked = false;
	while (buf_len(&c->up) > 0)
	{
		ssize_t		n = send(fd, c->up.data + c->up.start, buf_len(&c->up),
							 MSG_NOSIGNAL);

		if (n > 0)
			buf_consume(&c->up, (size_t) n);
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			c->up_blocked = true;
			break;
		}
		else
		{
			kill_conn(c, n < 0 ? strerror(errno) : "short write to the server");
			return;
		}
	}
	if (buf_len(&c->up) == 0 && c->up_eof && !c->up_shut)
	{
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
		{
			kill_conn(c, strerror(errno));
			return;
		}
		c->up_shut = true;
	}
	if (c->up_paused && buf_len(&c->up) < HIGH_WATER / 2)
		c->up_paused = false;
	update_events(&c->ep[0]);
	update_events(&c->ep[1]);
	maybe_finish(c);
}

/*
 * Write what is released for the client, in pieces of random size, with a
 * pause of up to max_pause_ns after one piece in four, so that the client
 * reads what has come so far and its reads end anywhere.
 */
static void
flush_down(struct conn *c)
{
	int			fd;

	if (c->dead || c->write_paused)
		return;
	fd = c->ep[0].fd;
	c->down_blocked = false;
	while (buf_len(&c->out) > 0)
	{
		size_t		piece = piece_size();
		ssize_t		n;

		if (piece > buf_len(&c->out))
			piece = buf_len(&c->out);
		n = send(fd, c->out.data + c->out.start, piece, MSG_NOSIGNAL);
		if (n > 0)
		{
			buf_consume(&c->out, (size_t) n);
			if (max_pause_ns > 0 && buf_len(&c->out) > 0 && (rnd() & 3) == 0)
			{
				pause_writes(c, now_ns() + 1 + rnd_below(max_pause_ns));
				break;
			}
		}
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			c->down_blocked = true;
			break;
		}
		else
		{
			kill_conn(c, n < 0 ? strerror(errno) : "short write to the client");
			return;
		}
	}
	/* at EOF from the server, everything was released */
	if (buf_len(&c->out) == 0 && c->down_eof && !c->down_shut)
	{
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
		{
			kill_conn(c, strerror(errno));
			return;
		}
		c->down_shut = true;
	}
	if (c->down_paused && c->held_bytes + buf_len(&c->out) < HIGH_WATER / 2)
		c->down_paused = false;
	update_events(&c->ep[0]);
	update_events(&c->ep[1]);
	maybe_finish(c);
}

static void
read_client(struct conn *c)
{
	int			fd = c->ep[0].fd;
	int			i;

	for (i = 0; i < READS_PER_EVENT && !c->up_paused && !c->up_eof; i++)
	{
		ssize_t		n;

		buf_reserve(&c->up, READ_SIZE);
		n = recv(fd, c->up.data + c->up.end, READ_SIZE, 0);
		if (n > 0)
		{
			c->up.end += (size_t) n;
			c->bytes_up += (unsigned long long) n;
			if (buf_len(&c->up) >= HIGH_WATER)
				c->up_paused = true;
			if (n < READ_SIZE)
				break;			/* most likely drained */
		}
		else if (n == 0)
			c->up_eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		else if (errno == EINTR)
			continue;
		else
		{
			kill_conn(c, strerror(errno));
			return;
		}
	}
	flush_up(c);
	update_events(&c->ep[0]);
}

static void
read_server(struct conn *c)
{
	int			fd = c->ep[1].fd;
	int			i;

	for (i = 0; i < READS_PER_EVENT && !c->down_paused && !c->down_eof; i++)
	{
		ssize_t		n;

		buf_reserve(&c->in, READ_SIZE);
		n = recv(fd, c->in.data + c->in.end, READ_SIZE, 0);
		if (n > 0)
		{
			c->in.end += (size_t) n;
			c->bytes_down += (unsigned long long) n;
			parse_replies(c, now_ns());
			if (window_ns == 0)
				release(c);
			if (c->held_bytes + buf_len(&c->out) >= HIGH_WATER)
				c->down_paused = true;
			if (n < READ_SIZE)
				break;
		}
		else if (n == 0)
		{
			/* everything goes now, a partial message at the end as it is */
			c->down_eof = true;
			release(c);
			buf_append(&c->out, c->in.data + c->in.start, buf_len(&c->in));
			buf_consume(&c->in, buf_len(&c->in));
		}
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		else if (errno == EINTR)
			continue;
		else
		{
			kill_conn(c, strerror(errno));
			return;
		}
	}
	flush_down(c);
}

/* Release the connections whose window has ended, resume paused writes. */
static void
release_due(uint64_t now)
{
	while (timer_head && timer_head->deadline_ns <= now)
	{
		struct conn *c = timer_head;

		release(c);				/* takes it off the list */
		flush_down(c);
	}
	while (pause_head && pause_head->resume_ns <= now)
	{
		struct conn *c = pause_head;

		pause_unlink(c);
		flush_down(c);
	}
}

static void
arm_timer(void)
{
	struct itimerspec its;
	uint64_t	when = timer_head ? timer_head->deadline_ns : 0;

	if (pause_head && (when == 0 || pause_head->resume_ns < when))
		when = pause_head->resume_ns;

	if (when == armed_ns)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t) (when / 1000000000u);
	its.it_value.tv_nsec = (long) (when % 1000000000u);
	if (timerfd_settime(timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime");
	armed_ns = when;
}

static void
server_connected(struct conn *c)
{
	int			err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->ep[1].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
	{
		fprintf(stderr, "ldapshuffle: connection %lu: connect to 127.0.0.1:%d: %s\n",
				c->id, target_port, strerror(err));
		kill_conn(c, "connect to the server failed");
		return;
	}
	c->connecting = false;
	update_events(&c->ep[0]);
	update_events(&c->ep[1]);
	flush_up(c);
}

static void
accept_clients(void)
{
	for (;;)
	{
		struct sockaddr_in addr;
		struct conn *c;
		int			fd;
		int			up;
		int			i;

		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EMFILE and the like: leave the rest in the backlog for now */
			fprintf(stderr, "ldapshuffle: accept: %s\n", strerror(errno));
			return;
		}
		set_nodelay(fd);

		up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (up < 0)
		{
			fprintf(stderr, "ldapshuffle: socket: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		set_nodelay(up);

		c = calloc(1, sizeof(struct conn));
		if (c == NULL)
		{
			fprintf(stderr, "ldapshuffle: out of memory\n");
			exit(1);
		}
		c->id = ++next_id;
		for (i = 0; i < 2; i++)
		{
			c->ep[i].conn = c;
			c->ep[i].side = i;
		}
		c->ep[0].fd = fd;
		c->ep[1].fd = up;
		if (verbose)
			fprintf(stderr, "ldapshuffle: connection %lu opened\n", c->id);

		memset(&addr, 0, sizeof(addr));
		addr.sin_family = AF_INET;
		addr.sin_port = htons((uint16_t) target_port);
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(up, (struct sockaddr *) &addr, sizeof(addr)) < 0)
		{
			if (errno != EINPROGRESS)
			{
				fprintf(stderr, "ldapshuffle: connect to 127.0.0.1:%d: %s\n",
						target_port, strerror(errno));
				kill_conn(c, "connect to the server failed");
				continue;
			}
			c->connecting = true;
		}
		update_events(&c->ep[0]);
		update_events(&c->ep[1]);
	}
}

static void
handle_event(struct epoll_event *ev)
{
	struct endpoint *ep;
	struct conn *c;
	bool		reading;
	bool		blocked;

	if (ev->data.ptr == &listen_tag)
	{
		accept_clients();
		return;
	}
	if (ev->data.ptr == &timer_tag)
	{
		uint64_t	expirations;

		if (read(timerfd, &expirations, sizeof(expirations)) < 0 &&
			errno != EAGAIN)
			die("read timerfd");
		armed_ns = 0;			/* fired: re-armed as needed */
		return;
	}

	ep = (struct endpoint *) ev->data.ptr;
	c = ep->conn;
	if (c->dead)
		return;

	if (ep->side == 1 && c->connecting)
	{
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			server_connected(c);
		return;
	}
	if (ev->events & EPOLLERR)
	{
		int			err = 0;
		socklen_t	len = sizeof(err);

		(void) getsockopt(ep->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		kill_conn(c, err ? strerror(err) : "socket error");
		return;
	}
	if (ep->side == 0)
		reading = !c->up_eof && !c->up_paused;
	else
		reading = !c->down_eof && !c->down_paused;
	if ((ev->events & (EPOLLIN | EPOLLHUP)) && reading)
	{
		if (ep->side == 0)
			read_client(c);
		else
			read_server(c);
	}
	if (c->dead)
		return;
	/* what waits to be written to this endpoint */
	blocked = ep->side == 0 ? c->down_blocked : c->up_blocked;
	if ((ev->events & (EPOLLOUT | EPOLLHUP)) && blocked)
	{
		if (ep->side == 0)
			flush_down(c);
		else
			flush_up(c);
	}
}

static void
free_dead(void)
{
	while (dead_list)
	{
		struct conn *c = dead_list;

		dead_list = c->dead_next;
		free(c);
	}
}

static long long
parse_number(const char *s, const char *what, long long min, long long max)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "ldapshuffle: invalid %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: ldapshuffle [-w WINDOW_US] [-n MAX_HELD] [-p PAUSE_US] [-s SEED] [-v]\n"
			"                   LISTEN_PORT TARGET_PORT\n"
			"  relays 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, holding the\n"
			"  server's LDAP messages for WINDOW_US microseconds (default 2000) or\n"
			"  until MAX_HELD (default 512) are held, and releasing them with the\n"
			"  messageIDs interleaved, each messageID's messages in their order,\n"
			"  in writes of random size with pauses of up to PAUSE_US (default 200)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event ev;
	struct epoll_event events[MAX_EVENTS];
	struct rlimit rl;
	uint64_t	seed = 0;
	bool		seeded = false;
	int			opt;

	while ((opt = getopt(argc, argv, "w:n:p:s:v")) != -1)
	{
		switch (opt)
		{
			case 'w':
				window_ns = (uint64_t) parse_number(optarg, "window", 0, 60000000) * 1000u;
				break;
			case 'n':
				max_held = (size_t) parse_number(optarg, "message count", 1, 1000000);
				break;
			case 'p':
				max_pause_ns = (uint64_t) parse_number(optarg, "pause", 0, 1000000) * 1000u;
				break;
			case 's':
				seed = (uint64_t) parse_number(optarg, "seed", 0, INT64_MAX);
				seeded = true;
				break;
			case 'v':
				verbose = true;
				break;
			default:
				usage();
		}
	}
	if (argc - optind != 2)
		usage();
	(void) parse_number(argv[optind], "listen port", 1, 65535);
	target_port = (int) parse_number(argv[optind + 1], "target port", 1, 65535);
	if (!seeded)
		seed = (now_ns() ^ ((uint64_t) getpid() << 32)) % INT64_MAX;
	seed_rng(seed);

	signal(SIGPIPE, SIG_IGN);
	/* wake up on time: the default timer slack is 50 microseconds */
	(void) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}

	listen_fd = listen_on_loopback(argv[optind], 1024, "ldapshuffle: listen");
	if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0 ||
		fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0)
		die("fcntl");

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timerfd < 0)
		die("timerfd_create");

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		die("epoll_ctl listen");
	ev.data.ptr = &timer_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, timerfd, &ev) < 0)
		die("epoll_ctl timer");

	if (verbose)
		fprintf(stderr, "ldapshuffle: 127.0.0.1:%s -> 127.0.0.1:%d, window %lu us, "
				"at most %zu messages held, pauses up to %lu us, seed %llu\n",
				argv[optind], target_port, (unsigned long) (window_ns / 1000),
				max_held, (unsigned long) (max_pause_ns / 1000),
				(unsigned long long) seed);

	for (;;)
	{
		int			n;
		int			i;

		release_due(now_ns());
		free_dead();
		arm_timer();

		n = epoll_wait(epfd, events, MAX_EVENTS, -1);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++)
			handle_event(&events[i]);
		free_dead();
	}
}
