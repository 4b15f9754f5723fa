/*
 * synqueue: a TCP listener on 127.0.0.1 whose accept queue is full, so
 * that a connection to it never completes: the kernel drops each SYN, and
 * the client waits in SYN_SENT, the way a host behind a firewall that
 * drops packets behaves.
 *
 *   synqueue PORT
 *
 * It listens with a backlog of 0, never accepts, and fills the queue with
 * connections of its own.  Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

int
main(int argc, char **argv)
{
	struct sockaddr_in addr;
	socklen_t	addrlen = sizeof(addr);
	int			listener;
	int			i;

	if (argc != 2)
	{
		fprintf(stderr, "usage: synqueue PORT\n");
		return 2;
	}
	listener = listen_on_loopback(argv[1], 0, "synqueue");
	getsockname(listener, (struct sockaddr *) &addr, &addrlen);

	/*
	 * Fill the accept queue: Linux takes one connection more than the
	 * backlog; a few more attempts make sure.  They stay open.
	 */
	for (i = 0; i < 4; i++)
	{
		int			s = socket(AF_INET, SOCK_STREAM, 0);

		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
		if (connect(s, (struct sockaddr *) &addr, sizeof(addr)) < 0 &&
			errno != EINPROGRESS)
			perror("synqueue: connect");
		usleep(50000);
	}
	for (;;)
		pause();
}
