/*-------------------------------------------------------------------------
 *
 * worker.c
 *		  The background worker (to come).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "pssync.h"

PG_FUNCTION_INFO_V1(pssync_worker_info);

void
worker_register(void)
{
}

void
pssync_worker_main(Datum arg pg_attribute_unused())
{
}

Datum
pssync_worker_info(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	return (Datum) 0;
}
