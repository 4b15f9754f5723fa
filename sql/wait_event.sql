--
-- wait_event: a backend waiting for the directory says so in
-- pg_stat_activity: from PostgreSQL 17 on its wait_event is pssync's own,
-- PssyncDirectory (registered with WaitEventExtensionNew); before 17, the
-- generic Extension.  A second session (dblink) syncs against a server
-- that accepts the connection and never answers; this one watches it.
--
\getenv hung_port PSSYNC_HUNG_PORT
\set hung_uri 'ldap://127.0.0.1:' :hung_port
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SERVER hung_ldap FOREIGN DATA WRAPPER pssync
  OPTIONS (uri :'hung_uri', base_dn 'dc=district,dc=org', timeout '2');
SELECT dblink_connect('waiter',
         format('dbname=%s user=%s port=%s host=%s', current_database(), current_user,
                current_setting('port'),
                coalesce(nullif(trim(split_part(current_setting('unix_socket_directories'), ',', 1)), ''),
                         '127.0.0.1'))) AS connected;
SELECT dblink_exec('waiter', 'SET pssync.server = ''hung_ldap''') AS set;
SELECT set_config('regress.waiter_pid', pid::text, false) IS NOT NULL AS watching
  FROM dblink('waiter', 'SELECT pg_backend_pid()') AS t(pid int);
SELECT dblink_send_query('waiter',
  'SELECT count(*) FROM pssync.ldap_sync_district(''students'', dry_run => true)') AS sent;

-- What it waits on, once it waits (within 1.5 s).
DO $$
DECLARE
  event text;
BEGIN
  FOR i IN 1..30 LOOP
    SELECT wait_event INTO event FROM pg_stat_activity
     WHERE pid = current_setting('regress.waiter_pid')::int AND wait_event_type = 'Extension';
    EXIT WHEN event IS NOT NULL;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RAISE NOTICE 'the waiting backend shows %',
    CASE WHEN event IS NULL THEN 'no wait for the directory'
         WHEN event = CASE WHEN current_setting('server_version_num')::int >= 170000
                           THEN 'PssyncDirectory' ELSE 'Extension' END
           THEN 'the wait event of its PostgreSQL version'
         ELSE 'an unexpected wait event: ' || event END;
END $$;

-- It gives up at its timeout (its error, with the port, not shown here);
-- then the session is free.
SET client_min_messages = warning;
SELECT count(*) AS rows FROM dblink_get_result('waiter', false) AS t(n bigint);
RESET client_min_messages;
SELECT dblink_disconnect('waiter') AS disconnected;
DROP SERVER hung_ldap;
