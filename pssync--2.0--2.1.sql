/* pssync--2.0--2.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pssync UPDATE TO '2.1'" to load this file. \quit

-- ---------------------------------------------------------------------
-- 2.1 (pssync--2.1.sql ends with the same sections, in the same order)
-- ---------------------------------------------------------------------
