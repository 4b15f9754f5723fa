/*
 * listener.h: the listening socket of the test servers in test/tools.
 */
#ifndef TEST_TOOLS_LISTENER_H
#define TEST_TOOLS_LISTENER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * A TCP socket listening on 127.0.0.1:port with the given backlog; on
 * failure, says why (as name) and exits with status 1.
 */
static int
listen_on_loopback(const char *port, int backlog, const char *name)
{
	struct sockaddr_in addr;
	int			listener;
	int			one = 1;

	listener = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) atoi(port));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener < 0 ||
		bind(listener, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
		listen(listener, backlog) < 0)
	{
		perror(name);
		exit(1);
	}
	return listener;
}

#endif
