/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  What differs between the PostgreSQL versions pssync builds on
 *		  (15 and later), in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PSSYNC_COMPAT_H
#define PSSYNC_COMPAT_H

#include "utils/acl.h"

/* 16 folded the per-catalog ACL checks into object_aclcheck() */
#if PG_VERSION_NUM >= 160000
#define pssync_foreign_server_aclcheck(server, role, mode) \
	object_aclcheck(ForeignServerRelationId, (server), (role), (mode))
#else
#define pssync_foreign_server_aclcheck(server, role, mode) \
	pg_foreign_server_aclcheck((server), (role), (mode))
#endif

#endif							/* PSSYNC_COMPAT_H */
