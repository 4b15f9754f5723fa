/*
 * blackhole: a TCP listener on 127.0.0.1 that accepts connections and
 * never answers, the way a hung directory server behaves.
 *
 *   blackhole PORT
 *
 * Runs until killed.
 */
#include <arpa/inet.h>
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
	int			listener;

	if (argc != 2)
	{
		fprintf(stderr, "usage: blackhole PORT\n");
		return 2;
	}
	listener = listen_on_loopback(argv[1], 128, "blackhole");
	for (;;)
	{
		/* accept and keep: the connections stay open and silent */
		if (accept(listener, NULL, NULL) < 0)
			sleep(1);
	}
}
