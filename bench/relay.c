/*
 * relay: a TCP relay on 127.0.0.1 that delays every chunk of bytes, in
 * each direction, by a fixed time: a stand-in for network latency where
 * tc netem is not available.
 *
 *   relay [-d DELAY_US] [-b BUFFER_BYTES] [-v] LISTEN_PORT TARGET_PORT
 *
 * Listens on 127.0.0.1:LISTEN_PORT; each accepted connection gets its own
 * connection to 127.0.0.1:TARGET_PORT.  Bytes read from one side at time t
 * are written to the other at t + DELAY_US (default 500 microseconds), in
 * order.  The delay is a pipe, not a queue: a chunk read while earlier
 * chunks are still in flight is not held back by them beyond its own
 * release time, so a request/response round trip costs 2 x DELAY_US more
 * than direct, whatever the traffic.
 *
 * One process, one thread, epoll, non-blocking sockets.  The release times
 * are kept by a timerfd (microsecond resolution, timer slack lowered).
 * Because every chunk waits the same time, chunks are released in the
 * order they were read: one global FIFO of waiting chunks is enough.
 *
 * Half-close is relayed: EOF from one side becomes a shutdown(SHUT_WR) of
 * the other after the same delay, once the bytes before it are written.  A
 * connection ends when both directions have delivered their EOF, or at the
 * first error (reset) on either side.  Memory is bounded by what is in
 * flight: a direction stops reading once BUFFER_BYTES (default 1 MiB) are
 * waiting to be written, and reads again below half of that.
 *
 * Runs until killed.  -v logs connections on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

#define READ_SIZE 65536
#define MAX_EVENTS 256
#define READS_PER_EVENT 16

struct conn;
struct direction;

/* A chunk of bytes read at one time, or (len 0, eof) the EOF that followed. */
struct chunk
{
	struct chunk *next;			/* in its direction's queue */
	struct chunk *wprev;		/* in the global list of waiting chunks */
	struct chunk *wnext;
	struct direction *dir;
	uint64_t	release_ns;
	size_t		len;
	size_t		off;			/* bytes already written */
	bool		eof;
	bool		due;			/* released: may be written */
	char		data[];
};

/* One socket of a connection. */
struct endpoint
{
	int			fd;
	struct conn *conn;
	int			side;			/* 0 client, 1 upstream */
	uint32_t	events;			/* registered with epoll */
	bool		registered;
};

/* Bytes flowing from one endpoint to the other. */
struct direction
{
	struct conn *conn;
	int			from;			/* endpoint index */
	int			to;
	struct chunk *head;
	struct chunk *tail;
	size_t		queued;			/* bytes read, not yet written */
	bool		paused;			/* too much queued: not reading */
	bool		read_eof;		/* EOF (or error) read from the source */
	bool		shut;			/* EOF delivered to the destination */
	bool		blocked;		/* destination would block */
	bool		in_flush_list;
	struct direction *flush_next;
};

struct conn
{
	struct endpoint ep[2];
	struct direction dir[2];	/* 0: client to upstream, 1: back */
	bool		connecting;		/* upstream connect in progress */
	bool		dead;
	struct conn *dead_next;
	unsigned long id;
};

static int	epfd;
static int	timerfd;
static int	listen_fd;
static uint64_t delay_ns = 500000;
static size_t high_water = 1 << 20;
static int	target_port;
static bool verbose;
static unsigned long next_id;
static long open_conns;

static struct chunk *wait_head;	/* waiting chunks, oldest first */
static struct chunk *wait_tail;
static uint64_t armed_ns;		/* what the timerfd is set to, 0 none */
static struct direction *flush_list;
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
	fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
set_nodelay(int fd)
{
	int			one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * What an endpoint waits for: readable while its outgoing direction reads,
 * writable while its incoming direction has released bytes it could not
 * write (or while the upstream connect is in progress).  An fd that waits
 * for nothing is removed from epoll, so that a hang-up it cannot act on yet
 * does not wake the loop over and over.
 */
static void
update_events(struct endpoint *ep)
{
	struct conn *c = ep->conn;
	struct direction *out = &c->dir[ep->side];
	struct direction *in = &c->dir[1 - ep->side];
	uint32_t	events = 0;
	struct epoll_event ev;

	if (c->dead)
		return;
	if (ep->side == 1 && c->connecting)
		events = EPOLLOUT;
	else
	{
		if (!out->read_eof && !out->paused)
			events |= EPOLLIN;
		if (in->blocked)
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
wait_unlink(struct chunk *ch)
{
	if (ch->wprev)
		ch->wprev->wnext = ch->wnext;
	else
		wait_head = ch->wnext;
	if (ch->wnext)
		ch->wnext->wprev = ch->wprev;
	else
		wait_tail = ch->wprev;
	ch->wprev = ch->wnext = NULL;
}

static void
schedule_flush(struct direction *d)
{
	if (!d->in_flush_list)
	{
		d->in_flush_list = true;
		d->flush_next = flush_list;
		flush_list = d;
	}
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
		fprintf(stderr, "relay: connection %lu closed: %s\n", c->id, why);
	c->dead = true;
	for (i = 0; i < 2; i++)
	{
		struct chunk *ch = c->dir[i].head;

		while (ch)
		{
			struct chunk *next = ch->next;

			if (!ch->due)
				wait_unlink(ch);
			free(ch);
			ch = next;
		}
		c->dir[i].head = c->dir[i].tail = NULL;
		c->dir[i].queued = 0;
	}
	for (i = 0; i < 2; i++)
	{
		if (c->ep[i].fd >= 0)
			close(c->ep[i].fd);	/* also removes it from epoll */
		c->ep[i].fd = -1;
	}
	c->dead_next = dead_list;
	dead_list = c;
	open_conns--;
}

static void
enqueue(struct direction *d, const char *data, size_t len, bool eof,
		uint64_t now)
{
	struct chunk *ch = malloc(sizeof(struct chunk) + len);

	if (ch == NULL)
	{
		fprintf(stderr, "relay: out of memory\n");
		exit(1);
	}
	memset(ch, 0, sizeof(struct chunk));
	if (len)
		memcpy(ch->data, data, len);
	ch->len = len;
	ch->eof = eof;
	ch->dir = d;
	ch->release_ns = now + delay_ns;

	if (d->tail)
		d->tail->next = ch;
	else
		d->head = ch;
	d->tail = ch;
	d->queued += len;

	if (delay_ns == 0)
	{
		ch->due = true;
		schedule_flush(d);
		return;
	}
	/* same delay for every chunk: appending keeps the list in release order */
	ch->wprev = wait_tail;
	if (wait_tail)
		wait_tail->wnext = ch;
	else
		wait_head = ch;
	wait_tail = ch;
}

/* Read what the source of a direction has, up to a bound per event. */
static void
read_source(struct direction *d)
{
	static char buf[READ_SIZE];
	struct conn *c = d->conn;
	int			fd = c->ep[d->from].fd;
	int			i;

	for (i = 0; i < READS_PER_EVENT && !d->paused && !d->read_eof; i++)
	{
		ssize_t		n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0)
		{
			enqueue(d, buf, (size_t) n, false, now_ns());
			if (d->queued >= high_water)
				d->paused = true;
			if ((size_t) n < sizeof(buf))
				break;			/* most likely drained */
		}
		else if (n == 0)
		{
			d->read_eof = true;
			enqueue(d, NULL, 0, true, now_ns());
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
	update_events(&c->ep[d->from]);
}

static void
maybe_finish(struct conn *c)
{
	if (!c->dead && c->dir[0].shut && c->dir[1].shut)
		kill_conn(c, "both sides done");
}

/* Write the released chunks at the head of a direction's queue. */
static void
flush_direction(struct direction *d)
{
	struct conn *c = d->conn;
	int			fd;

	if (c->dead || (d->to == 1 && c->connecting))
		return;
	fd = c->ep[d->to].fd;
	d->blocked = false;
	while (d->head && d->head->due)
	{
		struct chunk *ch = d->head;

		if (ch->eof)
		{
			if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
			{
				kill_conn(c, strerror(errno));
				return;
			}
			d->shut = true;
		}
		else
		{
			while (ch->off < ch->len)
			{
				ssize_t		n = send(fd, ch->data + ch->off, ch->len - ch->off,
									 MSG_NOSIGNAL);

				if (n > 0)
				{
					ch->off += (size_t) n;
					d->queued -= (size_t) n;
				}
				else if (n < 0 && errno == EINTR)
					continue;
				else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				{
					d->blocked = true;
					goto out;
				}
				else
				{
					kill_conn(c, n < 0 ? strerror(errno) : "short write");
					return;
				}
			}
		}
		d->head = ch->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(ch);
	}
out:
	if (d->paused && d->queued < high_water / 2)
	{
		d->paused = false;
		update_events(&c->ep[d->from]);
	}
	update_events(&c->ep[d->to]);
	maybe_finish(c);
}

static void
run_flushes(void)
{
	while (flush_list)
	{
		struct direction *d = flush_list;

		flush_list = d->flush_next;
		d->in_flush_list = false;
		flush_direction(d);
	}
}

/* Release the chunks whose time has come. */
static void
release_due(uint64_t now)
{
	while (wait_head && wait_head->release_ns <= now)
	{
		struct chunk *ch = wait_head;

		wait_unlink(ch);
		ch->due = true;
		schedule_flush(ch->dir);
	}
}

static void
arm_timer(void)
{
	struct itimerspec its;
	uint64_t	when = wait_head ? wait_head->release_ns : 0;

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
upstream_connected(struct conn *c)
{
	int			err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->ep[1].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
	{
		fprintf(stderr, "relay: connection %lu: connect to 127.0.0.1:%d: %s\n",
				c->id, target_port, strerror(err));
		kill_conn(c, "upstream connect failed");
		return;
	}
	c->connecting = false;
	update_events(&c->ep[0]);
	update_events(&c->ep[1]);
	schedule_flush(&c->dir[0]);
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
			fprintf(stderr, "relay: accept: %s\n", strerror(errno));
			return;
		}
		set_nodelay(fd);

		up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (up < 0)
		{
			fprintf(stderr, "relay: socket: %s\n", strerror(errno));
			close(fd);
			continue;
		}
		set_nodelay(up);

		c = calloc(1, sizeof(struct conn));
		if (c == NULL)
		{
			fprintf(stderr, "relay: out of memory\n");
			exit(1);
		}
		c->id = ++next_id;
		open_conns++;
		for (i = 0; i < 2; i++)
		{
			c->ep[i].conn = c;
			c->ep[i].side = i;
			c->dir[i].conn = c;
			c->dir[i].from = i;
			c->dir[i].to = 1 - i;
		}
		c->ep[0].fd = fd;
		c->ep[1].fd = up;

		memset(&addr, 0, sizeof(addr));
		addr.sin_family = AF_INET;
		addr.sin_port = htons((uint16_t) target_port);
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(up, (struct sockaddr *) &addr, sizeof(addr)) < 0)
		{
			if (errno != EINPROGRESS)
			{
				fprintf(stderr, "relay: connect to 127.0.0.1:%d: %s\n",
						target_port, strerror(errno));
				kill_conn(c, "upstream connect failed");
				continue;
			}
			c->connecting = true;
		}
		if (verbose)
			fprintf(stderr, "relay: connection %lu opened\n", c->id);
		update_events(&c->ep[0]);
		update_events(&c->ep[1]);
	}
}

static void
handle_event(struct epoll_event *ev)
{
	struct endpoint *ep;
	struct conn *c;

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
		armed_ns = 0;			/* fired: re-armed below as needed */
		return;
	}

	ep = (struct endpoint *) ev->data.ptr;
	c = ep->conn;
	if (c->dead)
		return;

	if (ep->side == 1 && c->connecting)
	{
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			upstream_connected(c);
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
	if (ev->events & (EPOLLIN | EPOLLHUP))
	{
		if (!c->dir[ep->side].read_eof && !c->dir[ep->side].paused)
			read_source(&c->dir[ep->side]);
		else if ((ev->events & EPOLLHUP) && !(ep->events & EPOLLOUT))
			update_events(ep);	/* nothing to do with it now */
	}
	if (!c->dead && (ev->events & (EPOLLOUT | EPOLLHUP)) &&
		c->dir[1 - ep->side].blocked)
		schedule_flush(&c->dir[1 - ep->side]);
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

static int
parse_number(const char *s, const char *what, long min, long max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "relay: invalid %s \"%s\"\n", what, s);
		exit(2);
	}
	return (int) v;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: relay [-d DELAY_US] [-b BUFFER_BYTES] [-v] LISTEN_PORT TARGET_PORT\n"
			"  relays 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, delaying\n"
			"  each direction by DELAY_US microseconds (default 500)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in addr;
	struct epoll_event ev;
	struct epoll_event events[MAX_EVENTS];
	struct rlimit rl;
	int			listen_port;
	int			one = 1;
	int			opt;

	while ((opt = getopt(argc, argv, "d:b:v")) != -1)
	{
		switch (opt)
		{
			case 'd':
				delay_ns = (uint64_t) parse_number(optarg, "delay", 0, 60000000) * 1000u;
				break;
			case 'b':
				high_water = (size_t) parse_number(optarg, "buffer size", 4096, 1 << 30);
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
	listen_port = parse_number(argv[optind], "listen port", 1, 65535);
	target_port = parse_number(argv[optind + 1], "target port", 1, 65535);

	signal(SIGPIPE, SIG_IGN);
	/* wake up on time: the default timer slack is 50 microseconds */
	(void) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		die("socket");
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) listen_port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
		die("bind");
	if (listen(listen_fd, 1024) < 0)
		die("listen");

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
		fprintf(stderr, "relay: 127.0.0.1:%d -> 127.0.0.1:%d, delay %lu us each way\n",
				listen_port, target_port, (unsigned long) (delay_ns / 1000));

	for (;;)
	{
		int			n;
		int			i;

		/* release and write what is due; the writes may take a while */
		for (;;)
		{
			release_due(now_ns());
			if (flush_list == NULL)
				break;
			run_flushes();
		}
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
		run_flushes();
		free_dead();
	}
}
