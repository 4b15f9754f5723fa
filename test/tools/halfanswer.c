/*
 * halfanswer: an LDAP server on 127.0.0.1 that answers a bind with
 * success, answers a search with one entry, and then falls silent, never
 * sending the search's result: a directory that stops in the middle of an
 * answer (crashed, stopped, or a network that drops the rest).
 *
 *   halfanswer PORT [UID]
 *
 * The entry is uid=UID,ou=Students,dc=district,dc=org with uid UID
 * (default "jsmith").  Each connection is served by a process of its own,
 * which ends when the client closes the connection or the listener is
 * killed; the listener runs until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listener.h"

static unsigned char out[4096];
static size_t outlen;

static void
put(const void *p, size_t n)
{
	memcpy(out + outlen, p, n);
	outlen += n;
}

static void
put_byte(unsigned char c)
{
	put(&c, 1);
}

/* a BER length; the values here are short */
static void
put_length(size_t n)
{
	if (n < 128)
		put_byte((unsigned char) n);
	else
	{
		put_byte(0x82);
		put_byte((unsigned char) (n >> 8));
		put_byte((unsigned char) n);
	}
}

/* TAG LENGTH, with the content already at out[start..outlen): moved up */
static void
wrap(size_t start, unsigned char tag)
{
	size_t		n = outlen - start;
	unsigned char header[4];
	size_t		h = 0;

	header[h++] = tag;
	if (n < 128)
		header[h++] = (unsigned char) n;
	else
	{
		header[h++] = 0x82;
		header[h++] = (unsigned char) (n >> 8);
		header[h++] = (unsigned char) n;
	}
	memmove(out + start + h, out + start, n);
	memcpy(out + start, header, h);
	outlen += h;
}

static void
put_string(unsigned char tag, const char *s)
{
	put_byte(tag);
	put_length(strlen(s));
	put(s, strlen(s));
}

static void
put_message_id(long id)
{
	unsigned char bytes[4];
	int			n = 0;

	do
	{
		bytes[n++] = (unsigned char) (id & 0xff);
		id >>= 8;
	} while (id > 0 || (bytes[n - 1] & 0x80));
	put_byte(0x02);
	put_byte((unsigned char) n);
	while (n > 0)
		put_byte(bytes[--n]);
}

/* Read one LDAPMessage; returns its message id and protocol op tag. */
static int
read_message(int fd, long *id, int *op)
{
	unsigned char buf[65536];
	size_t		have = 0;
	size_t		need = 2;
	size_t		len,
				pos;

	while (have < need)
	{
		ssize_t		n = read(fd, buf + have, sizeof(buf) - have);

		if (n <= 0)
			return -1;
		have += n;
		if (have >= 2 && need == 2)
		{
			if (buf[1] & 0x80)
			{
				int			k = buf[1] & 0x7f;

				if (have < (size_t) 2 + k)
				{
					need = 2 + k;
					continue;
				}
				len = 0;
				for (int i = 0; i < k; i++)
					len = (len << 8) | buf[2 + i];
				need = 2 + k + len;
			}
			else
				need = 2 + buf[1];
		}
	}
	pos = (buf[1] & 0x80) ? 2 + (buf[1] & 0x7f) : 2;
	/* messageID INTEGER */
	if (buf[pos] != 0x02)
		return -1;
	len = buf[pos + 1];
	*id = 0;
	for (size_t i = 0; i < len; i++)
		*id = (*id << 8) | buf[pos + 2 + i];
	*op = buf[pos + 2 + len];
	return 0;
}

static void
serve(int fd, const char *uid)
{
	long		id;
	int			op;
	char		dn[256];

	snprintf(dn, sizeof(dn), "uid=%s,ou=Students,dc=district,dc=org", uid);
	while (read_message(fd, &id, &op) == 0)
	{
		size_t		start,
					attrs,
					attr,
					values;

		outlen = 0;
		if (op == 0x60)			/* BindRequest: success */
		{
			put_message_id(id);
			start = outlen;
			put("\x0a\x01\x00\x04\x00\x04\x00", 7);
			wrap(start, 0x61);
			wrap(0, 0x30);
			if (write(fd, out, outlen) < 0)
				return;
		}
		else if (op == 0x63)	/* SearchRequest: one entry, then nothing */
		{
			put_message_id(id);
			start = outlen;
			put_string(0x04, dn);
			attrs = outlen;
			attr = outlen;
			put_string(0x04, "uid");
			values = outlen;
			put_string(0x04, uid);
			wrap(values, 0x31);
			wrap(attr, 0x30);
			wrap(attrs, 0x30);
			wrap(start, 0x64);
			wrap(0, 0x30);
			if (write(fd, out, outlen) < 0)
				return;
			/* silent from here on, until the client goes */
			while (read(fd, out, sizeof(out)) > 0)
				;
			return;
		}
		else if (op == 0x42)	/* UnbindRequest */
			return;
	}
}

int
main(int argc, char **argv)
{
	int			listener;
	const char *uid = argc > 2 ? argv[2] : "jsmith";

	if (argc < 2 || argc > 3)
	{
		fprintf(stderr, "usage: halfanswer PORT [UID]\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	listener = listen_on_loopback(argv[1], 16, "halfanswer");
	for (;;)
	{
		int			fd = accept(listener, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0)
		{
			prctl(PR_SET_PDEATHSIG, SIGKILL);	/* gone with the listener */
			close(listener);
			serve(fd, uid);
			_exit(0);
		}
		close(fd);
	}
}
