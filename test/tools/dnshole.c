/*
 * dnshole: a UDP listener that receives DNS queries and never answers, the
 * way an unreachable or overloaded name server behaves: each lookup waits
 * for the resolver's timeout.
 *
 *   dnshole ADDRESS [PORT]      (PORT defaults to 53)
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
	int			sock;
	char		buf[4096];

	if (argc < 2 || argc > 3)
	{
		fprintf(stderr, "usage: dnshole ADDRESS [PORT]\n");
		return 2;
	}
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) (argc == 3 ? atoi(argv[2]) : 53));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
		bind(sock, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		perror("dnshole");
		return 1;
	}
	for (;;)
	{
		/* read and drop */
		if (recv(sock, buf, sizeof(buf), 0) < 0)
			sleep(1);
	}
}
