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

int
main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int			listener;
	int			one = 1;

	if (argc != 2)
	{
		fprintf(stderr, "usage: blackhole PORT\n");
		return 2;
	}
	listener = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
		listen(listener, 128) < 0)
	{
		perror("blackhole");
		return 1;
	}
	for (;;)
	{
		/* accept and keep: the connections stay open and silent */
		if (accept(listener, NULL, NULL) < 0)
			sleep(1);
	}
}
