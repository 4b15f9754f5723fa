/*
 * extended_query: run a statement through the extended query protocol, as
 * drivers do (Parse, then Bind and Execute), with another statement run
 * between the two (test/scripts/password_log.sh sets a setting there).
 * Connects with libpq's environment (PGHOST, PGPORT, PGDATABASE, ...).
 *
 *   extended_query STATEMENT BETWEEN
 *
 * Prints the error of a step that fails, and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

static void
must(PGconn *conn, PGresult *result, const char *step)
{
	ExecStatusType status = PQresultStatus(result);

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s: %s", step, PQerrorMessage(conn));
		PQclear(result);
		PQfinish(conn);
		exit(1);
	}
	PQclear(result);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;

	if (argc != 3)
	{
		fprintf(stderr, "usage: extended_query STATEMENT BETWEEN\n");
		return 2;
	}
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	must(conn, PQprepare(conn, "prepared", argv[1], 0, NULL), "parse");
	must(conn, PQexec(conn, argv[2]), "between");
	must(conn, PQexecPrepared(conn, "prepared", 0, NULL, NULL, NULL, 0), "execute");
	PQfinish(conn);
	return 0;
}
